package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// The server admin lifecycle: server admins (and the CLI) list, add and
// remove server admins and reset their passwords; everyone changes their
// own password with the current one.

// ListAdmins lists the server admins (server admins only).
func (s *Service) ListAdmins(ctx context.Context, a Actor) ([]mailstore.Admin, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins see the server admins")
	}
	as, err := s.store.ListAdmins(ctx)
	if as == nil && err == nil {
		as = []mailstore.Admin{}
	}
	return as, err
}

// GetAdmin returns a server admin (server admins only).
func (s *Service) GetAdmin(ctx context.Context, a Actor, email string) (*mailstore.Admin, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins see the server admins")
	}
	ad, err := s.store.GetAdmin(ctx, email)
	if errors.Is(err, core.ErrInvalid) {
		return nil, fmt.Errorf("admin %q: %w", email, core.ErrNotFound)
	}
	return ad, err
}

// CreateAdmin adds a server admin (server admins only).
func (s *Service) CreateAdmin(ctx context.Context, a Actor, email, password string) (*mailstore.Admin, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins add server admins")
	}
	var fields []core.FieldError
	if _, err := core.NormalizeAddress(email); err != nil {
		fields = append(fields, core.FieldError{Field: "email", Message: "not a valid email address"})
	}
	if msg := passwordProblem(password); msg != "" {
		fields = append(fields, core.FieldError{Field: "password", Message: msg})
	}
	if len(fields) > 0 {
		return nil, &core.ValidationError{Fields: fields}
	}
	if a.TokenPrefix != "" {
		return nil, forbidden("API tokens cannot add server admins; sign in with a password")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.CreateAdmin(ctx, email, password)
}

// SetAdminPassword resets a server admin's password (server admins only),
// which ends that admin's sessions and API tokens.
func (s *Service) SetAdminPassword(ctx context.Context, a Actor, email, password string) (*mailstore.Admin, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins reset server admins' passwords")
	}
	if msg := passwordProblem(password); msg != "" {
		return nil, core.Invalid("password", msg)
	}
	if a.TokenPrefix != "" {
		return nil, forbidden("API tokens cannot change passwords; sign in with a password")
	}
	if _, err := s.GetAdmin(ctx, a, email); err != nil {
		return nil, err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetAdminPassword(ctx, email, password); err != nil {
		return nil, err
	}
	return s.store.GetAdmin(ctx, email)
}

// DeleteAdmin removes a server admin (server admins only); the last one is
// kept (core.ErrConflict).
func (s *Service) DeleteAdmin(ctx context.Context, a Actor, email string) error {
	if !a.IsAdmin() {
		return forbidden("only server admins remove server admins")
	}
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot remove server admins; sign in with a password")
	}
	if _, err := s.GetAdmin(ctx, a, email); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteAdmin(ctx, email)
}

// ErrWrongPassword is returned (wrapped in a validation error on
// current_password) by ChangeOwnPassword when the current password is
// wrong.
var ErrWrongPassword = errors.New("the current password is wrong")

// ChangeOwnPassword sets the actor's own password, for every role, after
// checking the current one: a stolen session alone cannot lock its owner
// out. It ends the actor's sessions and API tokens (the caller signs in
// again with the new password). A wrong current password gives a
// validation error on current_password that wraps ErrWrongPassword.
func (s *Service) ChangeOwnPassword(ctx context.Context, a Actor, current, newPassword string) error {
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot change passwords; sign in with a password")
	}
	var fields []core.FieldError
	if current == "" {
		fields = append(fields, core.FieldError{Field: "current_password", Message: "is required"})
	}
	if msg := passwordProblem(newPassword); msg != "" {
		fields = append(fields, core.FieldError{Field: "new_password", Message: msg})
	}
	if len(fields) > 0 {
		return &core.ValidationError{Fields: fields}
	}
	var err error
	switch {
	case a.Role == RoleAdmin:
		_, err = s.store.AuthenticateAdmin(ctx, a.Email, current)
	case a.UserID != 0:
		_, err = s.store.Authenticate(ctx, a.Email, current)
	default:
		return forbidden("only signed-in admins and users have a password to change")
	}
	if errors.Is(err, core.ErrAuthFailed) {
		return fmt.Errorf("%w: %w", &core.ValidationError{Fields: []core.FieldError{{Field: "current_password", Message: "is wrong"}}}, ErrWrongPassword)
	} else if err != nil {
		return err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	if a.Role == RoleAdmin {
		return s.store.SetAdminPassword(ctx, a.Email, newPassword)
	}
	return s.store.ChangePassword(ctx, a.Email, newPassword, mailstore.KeyHandling{CurrentPassword: current})
}

// passwordProblem says what is wrong with a new password, or "".
func passwordProblem(pw string) string {
	if len([]rune(pw)) < mailstore.MinPasswordLength {
		return fmt.Sprintf("must have at least %d characters", mailstore.MinPasswordLength)
	}
	return ""
}
