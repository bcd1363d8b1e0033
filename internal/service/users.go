package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// NewUser describes an account to create. A nil QuotaBytes takes the
// domain's default quota.
type NewUser struct {
	Address       string
	Password      string
	DisplayName   string
	QuotaBytes    *int64
	QuotaMessages int64
}

// UserPatch lists the account fields to change; nil fields stay.
type UserPatch struct {
	Password      *string
	DisplayName   *string
	QuotaBytes    *int64
	QuotaMessages *int64
	Enabled       *bool
	Language      *string // of the server's messages to the user
	// RecoveryKey (the domain's recovery private key) keeps the mail of a
	// user-key account readable across a password reset; without it,
	// DiscardEncryptedMail must be set to reset the password of such an
	// account, whose old mail then becomes unreadable.
	RecoveryKey          *string
	DiscardEncryptedMail bool
}

// CreateUser adds an account in a domain the actor manages.
func (s *Service) CreateUser(ctx context.Context, a Actor, nu NewUser) (*mailstore.User, error) {
	addr, err := core.ParseAddress(nu.Address)
	if err != nil {
		return nil, core.Invalid("address", "not a valid email address")
	}
	if !a.ManagesDomain(addr.Domain) {
		return nil, forbidden("creating users in " + addr.Domain)
	}
	var fields []core.FieldError
	if len([]rune(nu.Password)) < mailstore.MinPasswordLength {
		fields = append(fields, core.FieldError{Field: "password", Message: fmt.Sprintf("must have at least %d characters", mailstore.MinPasswordLength)})
	}
	if nu.QuotaBytes != nil && *nu.QuotaBytes < 0 {
		fields = append(fields, core.FieldError{Field: "quota_bytes", Message: "must not be negative"})
	}
	if nu.QuotaMessages < 0 {
		fields = append(fields, core.FieldError{Field: "quota_messages", Message: "must not be negative"})
	}
	if len(fields) > 0 {
		return nil, &core.ValidationError{Fields: fields}
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	quota := int64(0)
	if nu.QuotaBytes != nil {
		quota = *nu.QuotaBytes
	} else if d, err := s.store.GetDomain(ctx, addr.Domain); err == nil {
		quota = d.DefaultQuotaBytes
	}
	return s.store.CreateUser(ctx, mailstore.NewUser{
		Address:       addr.String(),
		Password:      nu.Password,
		DisplayName:   nu.DisplayName,
		QuotaBytes:    quota,
		QuotaMessages: nu.QuotaMessages,
	})
}

// UserFilter selects users.
type UserFilter struct {
	Domain string // only this domain
	Search string // substring of the address
	Page
}

// ListUsers lists the users the actor manages. A domain admin of several
// domains names one with the filter.
func (s *Service) ListUsers(ctx context.Context, a Actor, f UserFilter) (*List[mailstore.User], error) {
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	if f.Domain, err = a.listDomain(f.Domain, "users"); err != nil {
		return nil, err
	}
	mf := mailstore.UserFilter{Domain: f.Domain, Search: f.Search, Limit: p.Limit, Offset: p.Offset}
	users, err := s.store.ListUsers(ctx, mf)
	if err != nil {
		return nil, err
	}
	mf.Limit, mf.Offset = 0, 0
	total, err := s.store.CountUsers(ctx, mf)
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = []mailstore.User{}
	}
	return &List[mailstore.User]{Items: users, Total: total}, nil
}

// GetUser returns an account: any the actor manages, or their own.
func (s *Service) GetUser(ctx context.Context, a Actor, address string) (*mailstore.User, error) {
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return nil, fmt.Errorf("user %q: %w", address, core.ErrNotFound)
		}
		return nil, err
	}
	if !a.ManagesDomain(domainOf(u.Address)) && a.UserID != u.ID {
		return nil, forbidden("user " + u.Address)
	}
	return u, nil
}

// UpdateUser changes an account. Users may change their own display name
// and language (their own password only with ChangeOwnPassword); passwords, quotas and
// enabling are for those who manage the domain.
func (s *Service) UpdateUser(ctx context.Context, a Actor, address string, p UserPatch) (*mailstore.User, error) {
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return nil, err
	}
	if !a.ManagesDomain(domainOf(u.Address)) && (p.QuotaBytes != nil || p.QuotaMessages != nil || p.Enabled != nil) {
		return nil, forbidden("changing your own quota or status")
	}
	if p.Password != nil && a.UserID == u.ID && !a.IsAdmin() {
		// With the current password only: a stolen session must not be
		// enough to lock the owner out.
		return nil, forbidden("change your own password with POST /api/v1/me/password, which asks for the current one")
	}
	if p.Password != nil || p.Enabled != nil {
		if err := s.checkNotOutranked(ctx, a, u); err != nil {
			return nil, err
		}
	}
	if p.Password != nil {
		if shared, err := s.store.IsSharedAccount(ctx, u.ID); err != nil {
			return nil, err
		} else if shared {
			return nil, core.Invalid("password", "a shared account has no login; its members open it with their own")
		}
	}
	if p.Language != nil && mailstore.CheckLanguage(*p.Language) != nil {
		return nil, core.Invalid("language", "must be en, ja or empty (the domain's)")
	}
	if p.Password != nil && len([]rune(*p.Password)) < mailstore.MinPasswordLength {
		return nil, core.Invalid("password", fmt.Sprintf("must have at least %d characters", mailstore.MinPasswordLength))
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	if p.Password != nil {
		how := mailstore.KeyHandling{DiscardKey: p.DiscardEncryptedMail}
		if p.RecoveryKey != nil {
			how.RecoveryKey = *p.RecoveryKey
		}
		if err := s.store.ChangePassword(ctx, u.Address, *p.Password, how); err != nil {
			return nil, err
		}
		s.log.Info("password reset", "actor", a.Email, "user", u.Address, "recovery_key", how.RecoveryKey != "", "discard_encrypted_mail", how.DiscardKey)
	}
	return s.store.UpdateUser(ctx, u.Address, mailstore.UserUpdate{
		DisplayName:   p.DisplayName,
		QuotaBytes:    p.QuotaBytes,
		QuotaMessages: p.QuotaMessages,
		Enabled:       p.Enabled,
		Language:      p.Language,
	})
}

// DeleteUser removes an account with its mail, freeing its quota.
func (s *Service) DeleteUser(ctx context.Context, a Actor, address string) error {
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return err
	}
	if !a.ManagesDomain(domainOf(u.Address)) {
		return forbidden("deleting your own account")
	}
	if err := s.checkNotOutranked(ctx, a, u); err != nil {
		return err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteUser(ctx, u.Address)
}

// checkNotOutranked refuses (core.ErrForbidden) an actor who would change
// the credentials or the existence of an account holding rights the actor
// lacks: a domain admin may not reset the password of, disable or delete a
// user of their domain who also administers a domain they do not, or who
// shares the address of a server admin; logging in as that user would
// give them those rights. Server admins and the system outrank everyone;
// everyone may change their own account.
func (s *Service) checkNotOutranked(ctx context.Context, a Actor, u *mailstore.User) error {
	if a.IsAdmin() || a.UserID == u.ID {
		return nil
	}
	domains, err := s.store.AdminDomains(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, d := range domains {
		if !a.ManagesDomain(d) {
			return forbidden(fmt.Sprintf("%s also administers %s, which you do not manage; only a server admin may change their credentials", u.Address, d))
		}
	}
	if _, err := s.store.GetAdmin(ctx, u.Address); err == nil {
		return forbidden(u.Address + " is also a server admin; only a server admin may change their credentials")
	} else if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return nil
}
