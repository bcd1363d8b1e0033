package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// signedInSelf refuses an actor who is not the mail account at address
// signed in with a password (an API token cannot make credentials) or the
// local operator (the CLI).
func (a Actor) signedInSelf(address, what string) error {
	if a.Role == RoleSystem {
		return nil
	}
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot manage " + what + "; sign in with a password")
	}
	if a.UserID == 0 || !strings.EqualFold(a.Email, address) {
		return forbidden(what + " of another account")
	}
	return nil
}

// mayManageAccountSecurity checks that the actor may see and revoke the
// credentials of the account at address: its own user signed in with a
// password, or an admin of its domain.
func (a Actor) mayManageAccountSecurity(address, what string) error {
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot manage " + what + "; sign in with a password")
	}
	if a.UserID != 0 && strings.EqualFold(a.Email, address) {
		return nil
	}
	if a.ManagesDomain(domainOf(address)) {
		return nil
	}
	return forbidden(what + " of " + address)
}

// CreateAppPassword makes a new app password for the actor's own mail
// account and returns it with the password, shown only this once.
func (s *Service) CreateAppPassword(ctx context.Context, a Actor, address string, na mailstore.NewAppPassword) (*mailstore.AppPassword, string, error) {
	if err := a.signedInSelf(address, "app passwords"); err != nil {
		return nil, "", err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, "", err
	}
	ap, secret, err := s.store.CreateAppPassword(ctx, address, na)
	switch {
	case errors.Is(err, mailstore.ErrKeyNeedsPassword):
		return nil, "", &core.ValidationError{Fields: []core.FieldError{{Field: "current_password", Message: "is required: your mail is encrypted with your password, and the app password needs a copy of the key to read it"}}}
	case errors.Is(err, core.ErrAuthFailed):
		return nil, "", &core.ValidationError{Fields: []core.FieldError{{Field: "current_password", Message: "is wrong"}}}
	}
	return ap, secret, err
}

// ListAppPasswords lists the app passwords of the account at address (its
// own user's, or a user of a domain the actor manages).
func (s *Service) ListAppPasswords(ctx context.Context, a Actor, address string) ([]mailstore.AppPassword, error) {
	if err := a.mayManageAccountSecurity(address, "app passwords"); err != nil {
		return nil, err
	}
	return s.store.ListAppPasswords(ctx, address)
}

// DeleteAppPassword revokes app password id of the account at address.
func (s *Service) DeleteAppPassword(ctx context.Context, a Actor, address string, id int64) error {
	if err := a.mayManageAccountSecurity(address, "app passwords"); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteAppPassword(ctx, address, id)
}

// ParseProtocols splits a comma-separated list of mail protocols (as the
// CLI takes them); "all" names every one.
func ParseProtocols(list string) ([]string, error) {
	if strings.TrimSpace(list) == "all" {
		return append([]string(nil), mailstore.MailProtocols...), nil
	}
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if !mailstore.ValidProtocol(p) {
			return nil, core.Invalid("protocols", fmt.Sprintf("unknown protocol %q (want %s or all)", p, strings.Join(mailstore.MailProtocols, ", ")))
		}
		out = append(out, p)
	}
	return out, nil
}

// ExpiryIn returns the time d from now, or nil for d 0 (no expiry).
func ExpiryIn(d time.Duration) *time.Time {
	if d == 0 {
		return nil
	}
	t := time.Now().Add(d).UTC()
	return &t
}
