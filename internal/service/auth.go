package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// Principal kinds: who a credential belongs to.
const (
	KindAdmin = "admin" // a server admin account
	KindUser  = "user"  // a mail account (user or domain admin)
)

// Login checks an email and password, first against the server admins,
// then against the mail accounts, and returns the actor and its kind.
// Wrong credentials give an error wrapping core.ErrAuthFailed.
func (s *Service) Login(ctx context.Context, email, password string) (Actor, string, error) {
	if ad, err := s.store.AuthenticateAdmin(ctx, email, password); err == nil {
		return Actor{Role: RoleAdmin, Email: ad.Email, Source: "api"}, KindAdmin, nil
	} else if !errors.Is(err, core.ErrAuthFailed) && !errors.Is(err, core.ErrInvalid) {
		return Actor{}, "", err
	}
	u, err := s.store.Authenticate(ctx, email, password)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return Actor{}, "", fmt.Errorf("login: %w", core.ErrAuthFailed)
		}
		return Actor{}, "", err
	}
	a, err := s.userActor(ctx, u)
	return a, KindUser, err
}

// Resolve returns the current actor for a principal named in a session
// token, so that a disabled account or a withdrawn role takes effect at
// once. A principal that no longer exists gives core.ErrAuthFailed.
func (s *Service) Resolve(ctx context.Context, kind, email string) (Actor, error) {
	switch kind {
	case KindAdmin:
		ad, err := s.store.GetAdmin(ctx, email)
		if err != nil {
			return Actor{}, authFailed(err)
		}
		return Actor{Role: RoleAdmin, Email: ad.Email, Source: "api"}, nil
	case KindUser:
		u, err := s.store.GetUser(ctx, email)
		if err != nil {
			return Actor{}, authFailed(err)
		}
		if !u.Enabled {
			return Actor{}, fmt.Errorf("account %s is disabled: %w", u.Address, core.ErrAuthFailed)
		}
		if d, err := s.store.GetDomain(ctx, domainOf(u.Address)); err != nil || !d.Enabled {
			return Actor{}, fmt.Errorf("domain of %s is disabled: %w", u.Address, core.ErrAuthFailed)
		}
		return s.userActor(ctx, u)
	}
	return Actor{}, fmt.Errorf("unknown principal kind %q: %w", kind, core.ErrAuthFailed)
}

// ResolveToken returns the actor of an API token secret.
func (s *Service) ResolveToken(ctx context.Context, secret string) (Actor, *mailstore.APIToken, error) {
	t, err := s.store.LookupAPIToken(ctx, secret)
	if err != nil {
		return Actor{}, nil, authFailed(err)
	}
	var a Actor
	switch {
	case t.AdminID != nil:
		ad, err := s.store.GetAdminByID(ctx, *t.AdminID)
		if err != nil {
			return Actor{}, nil, authFailed(err)
		}
		a = Actor{Role: RoleAdmin, Email: ad.Email, Source: "api"}
	case t.UserID != nil:
		u, err := s.store.GetUserByID(ctx, *t.UserID)
		if err != nil {
			return Actor{}, nil, authFailed(err)
		}
		if a, err = s.userActor(ctx, u); err != nil {
			return Actor{}, nil, err
		}
	default:
		return Actor{}, nil, fmt.Errorf("token without owner: %w", core.ErrAuthFailed)
	}
	a.ReadOnly = t.Scope != mailstore.ScopeWrite
	a.TokenPrefix = t.Prefix
	return a, t, nil
}

func (s *Service) userActor(ctx context.Context, u *mailstore.User) (Actor, error) {
	domains, err := s.store.AdminDomains(ctx, u.ID)
	if err != nil {
		return Actor{}, err
	}
	a := Actor{Role: RoleUser, Email: u.Address, UserID: u.ID, Source: "api"}
	if len(domains) > 0 {
		a.Role, a.Domains = RoleDomainAdmin, domains
	}
	return a, nil
}

// authFailed turns "not found" into an authentication failure and keeps
// other errors.
func authFailed(err error) error {
	if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid) || errors.Is(err, core.ErrAuthFailed) {
		return fmt.Errorf("%v: %w", err, core.ErrAuthFailed)
	}
	return err
}

// EnsureAdmin creates the first server admin if there is none.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	return s.store.EnsureAdmin(mailstore.WithAudit(ctx, mailstore.AuditInfo{Actor: "bootstrap", Source: "cli"}), email, password)
}
