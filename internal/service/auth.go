package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/tokens"
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
		return adminActor(ad), KindAdmin, nil
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
		return adminActor(ad), nil
	case KindUser:
		u, err := s.store.GetUser(ctx, email)
		if err != nil {
			return Actor{}, authFailed(err)
		}
		return s.activeUserActor(ctx, u)
	}
	return Actor{}, fmt.Errorf("unknown principal kind %q: %w", kind, core.ErrAuthFailed)
}

// activeUserActor returns the actor of a user who may sign in: enabled, in
// an enabled domain.
func (s *Service) activeUserActor(ctx context.Context, u *mailstore.User) (Actor, error) {
	if !u.Enabled {
		return Actor{}, fmt.Errorf("account %s is disabled: %w", u.Address, core.ErrAuthFailed)
	}
	if d, err := s.store.GetDomain(ctx, domainOf(u.Address)); err != nil || !d.Enabled {
		return Actor{}, fmt.Errorf("domain of %s is disabled: %w", u.Address, core.ErrAuthFailed)
	}
	return s.userActor(ctx, u)
}

// adminActor returns the actor of a server admin.
func adminActor(ad *mailstore.Admin) Actor {
	return Actor{Role: RoleAdmin, Email: ad.Email, AdminID: ad.ID, CredentialVersion: ad.CredentialVersion, Source: "api"}
}

// ResolveSession is Resolve for an API session token, which also names
// the principal's account ID and credential version: a token issued to an
// account that was since deleted (even if its address was given to someone
// new), or before its password changed or it was disabled, gives
// core.ErrAuthFailed.
//
// sessionID names the session the token belongs to (empty for tokens that
// name none): an ended session's tokens give core.ErrAuthFailed at once.
func (s *Service) ResolveSession(ctx context.Context, kind, email string, id, credentialVersion int64, sessionID string) (Actor, error) {
	a, err := s.Resolve(ctx, kind, email)
	if err != nil {
		return Actor{}, err
	}
	if a.principalID() != id || a.CredentialVersion != credentialVersion {
		return Actor{}, fmt.Errorf("session of %s was revoked (new credentials or a new account): %w", email, core.ErrAuthFailed)
	}
	if sessionID != "" {
		live, err := s.tokens.SessionLive(ctx, sessionID)
		if err != nil {
			return Actor{}, err
		}
		if !live {
			return Actor{}, fmt.Errorf("session of %s was ended: %w", email, core.ErrAuthFailed)
		}
		a.SessionID = sessionID
	}
	return a, nil
}

// principalID is the ID of the actor's admin or user account.
func (a Actor) principalID() int64 {
	if a.AdminID != 0 {
		return a.AdminID
	}
	return a.UserID
}

// PrincipalID is the ID of the actor's account: their server admin
// account or their mail account.
func (a Actor) PrincipalID() int64 { return a.principalID() }

// sessionOwner names the actor's account as a session owner.
func (a Actor) sessionOwner(kind string) (tokens.Owner, error) {
	o := tokens.Owner{ID: a.principalID(), CredentialVersion: a.CredentialVersion}
	switch {
	case kind == KindAdmin && a.AdminID != 0:
		o.Kind = tokens.OwnerAdmin
	case kind == KindUser && a.UserID != 0:
		o.Kind = tokens.OwnerUser
	default:
		return o, fmt.Errorf("no session for a %s actor: %w", kind, core.ErrForbidden)
	}
	return o, nil
}

// ClientInfo is where a sign-in comes from.
type ClientInfo struct {
	RemoteIP  string
	UserAgent string
}

// StartSession records a new API session of a signed-in actor coming
// from ci, its first refresh token valid until expires, and returns that
// token's ID (which also names the session). A user signing in from a new
// place is told by mail when the server's security settings ask for it.
func (s *Service) StartSession(ctx context.Context, a Actor, kind string, expires time.Time, ci ClientInfo) (string, error) {
	o, err := a.sessionOwner(kind)
	if err != nil {
		return "", err
	}
	jti, err := s.tokens.StartSessionFrom(ctx, o, expires, tokens.ClientInfo(ci))
	if err == nil && o.Kind == tokens.OwnerUser {
		s.noticeNewPlace(ctx, o.ID, ci)
	}
	return jti, err
}

// EndSession ends the session whose refresh token is jti (signing out).
func (s *Service) EndSession(ctx context.Context, jti string) error {
	return s.tokens.EndSession(ctx, jti)
}

// RefreshSession exchanges the refresh token jti of a session for the
// next one (valid until expires) and returns the session's actor, kind and
// the new token's ID. A refresh token works once; presenting it again
// revokes the session. A session whose account was deleted, disabled or
// given new credentials gives core.ErrAuthFailed.
func (s *Service) RefreshSession(ctx context.Context, jti string, expires time.Time) (Actor, string, string, error) {
	next, o, err := s.tokens.RotateSession(ctx, jti, expires)
	if err != nil {
		if errors.Is(err, tokens.ErrRefreshReused) {
			s.log.Warn("a used refresh token was presented again; its session is revoked")
		}
		return Actor{}, "", "", err
	}
	var a Actor
	kind := KindUser
	switch o.Kind {
	case tokens.OwnerAdmin:
		kind = KindAdmin
		ad, err := s.store.GetAdminByID(ctx, o.ID)
		if err != nil {
			return Actor{}, "", "", authFailed(err)
		}
		a = adminActor(ad)
	default:
		u, err := s.store.GetUserByID(ctx, o.ID)
		if err != nil {
			return Actor{}, "", "", authFailed(err)
		}
		if a, err = s.activeUserActor(ctx, u); err != nil {
			return Actor{}, "", "", err
		}
	}
	if a.CredentialVersion != o.CredentialVersion {
		return Actor{}, "", "", fmt.Errorf("session of %s was revoked (new credentials): %w", a.Email, core.ErrAuthFailed)
	}
	a.SessionID = o.Family
	return a, kind, next, nil
}

// ResolveToken returns the actor of an API token secret.
func (s *Service) ResolveToken(ctx context.Context, secret string) (Actor, *tokens.APIToken, error) {
	t, err := s.tokens.LookupAPIToken(ctx, secret)
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
		a = adminActor(ad)
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
	a.ReadOnly = t.Scope != tokens.ScopeWrite
	a.TokenPrefix = t.Prefix
	return a, t, nil
}

func (s *Service) userActor(ctx context.Context, u *mailstore.User) (Actor, error) {
	domains, err := s.store.AdminDomains(ctx, u.ID)
	if err != nil {
		return Actor{}, err
	}
	a := Actor{Role: RoleUser, Email: u.Address, UserID: u.ID, CredentialVersion: u.CredentialVersion, Source: "api", SecondFactor: u.SecondFactor}
	if !u.SecondFactor {
		if a.MustEnrol, err = s.store.SecondFactorRequired(ctx, u); err != nil {
			return Actor{}, err
		}
	}
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
	return s.store.EnsureAdmin(audit.With(ctx, audit.Info{Actor: "bootstrap", Source: "cli"}), email, password)
}
