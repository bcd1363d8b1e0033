package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/mailstore"
)

// StartTOTP makes a new authenticator secret for the actor's own mail
// account, to be confirmed with ConfirmTOTP; issuer names the server in
// the authenticator app.
func (s *Service) StartTOTP(ctx context.Context, a Actor, issuer string) (*mailstore.TOTPEnrolment, error) {
	if err := a.signedInSelf(a.Email, "second factors"); err != nil || a.UserID == 0 {
		return nil, forbidden("second factors belong to mail accounts signed in with a password")
	}
	if a.ReadOnly {
		return nil, forbidden("this token is read-only")
	}
	return s.store.StartTOTP(ctx, a.Email, issuer)
}

// ConfirmTOTP turns the actor's new authenticator on with a code from it
// and returns the recovery codes, shown once. The account's sessions end.
// A wrong code is a validation error on "code" wrapping
// core.ErrAuthFailed (it counts as a failed login).
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) ([]string, error) {
	if err := a.signedInSelf(a.Email, "second factors"); err != nil || a.UserID == 0 {
		return nil, forbidden("second factors belong to mail accounts signed in with a password")
	}
	if code == "" {
		return nil, core.Invalid("code", "is required")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := s.store.ConfirmTOTP(ctx, a.Email, code)
	if errors.Is(err, core.ErrAuthFailed) {
		return nil, fmt.Errorf("%w: %w", &core.ValidationError{Fields: []core.FieldError{{Field: "code", Message: "is wrong or used; type the authenticator's current code"}}}, core.ErrAuthFailed)
	}
	return codes, err
}

// DisableSecondFactor turns the actor's own second factor off, with their
// password (a stolen session must not be enough). A wrong password is a
// validation error wrapping ErrWrongPassword.
func (s *Service) DisableSecondFactor(ctx context.Context, a Actor, password string) error {
	if err := a.signedInSelf(a.Email, "second factors"); err != nil || a.UserID == 0 {
		return forbidden("second factors belong to mail accounts signed in with a password")
	}
	if password == "" {
		return core.Invalid("password", "is required")
	}
	if _, err := s.store.Authenticate(ctx, a.Email, password); errors.Is(err, core.ErrAuthFailed) {
		return fmt.Errorf("%w: %w", &core.ValidationError{Fields: []core.FieldError{{Field: "password", Message: "is wrong"}}}, ErrWrongPassword)
	} else if err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.RemoveSecondFactor(ctx, a.Email)
}

// ResetSecondFactor turns off the second factor of the user at address for
// someone who lost their authenticator and recovery codes: server admins
// and the admins of the user's domain who outrank them (audited). The
// user's sessions end; they sign in with their password and enrol again.
func (s *Service) ResetSecondFactor(ctx context.Context, a Actor, address string) error {
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot reset second factors; sign in with a password")
	}
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		return err
	}
	if !a.ManagesDomain(domainOf(u.Address)) {
		return forbidden("second factor of " + u.Address)
	}
	if err := s.checkNotOutranked(ctx, a, u); err != nil {
		return err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.RemoveSecondFactor(ctx, u.Address)
}

// SecondFactorStatus returns the second factor status of the actor's own
// mail account, or nil for an actor without one.
func (s *Service) SecondFactorStatus(ctx context.Context, a Actor) (*mailstore.SecondFactorStatus, error) {
	if a.UserID == 0 {
		return nil, nil
	}
	u, err := s.store.GetUserByID(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	return s.store.GetSecondFactorStatus(ctx, u)
}

// VerifySecondFactor checks the second factor (mailstore.FactorTOTP or
// FactorRecoveryCode) of a sign-in of the user actor a, whose password was
// checked before; it returns the recovery codes left. A wrong or used code
// is core.ErrAuthFailed.
func (s *Service) VerifySecondFactor(ctx context.Context, a Actor, kind, code string) (int, error) {
	if a.UserID == 0 {
		return 0, fmt.Errorf("no second factor for %s: %w", a.Email, core.ErrAuthFailed)
	}
	return s.store.VerifySecondFactor(audit.With(ctx, audit.Info{Actor: a.Email, Source: "api", RemoteIP: a.RemoteIP}), a.UserID, kind, code)
}

// GetSecurityPolicy returns the server's account security settings
// (server admins).
func (s *Service) GetSecurityPolicy(ctx context.Context, a Actor) (*mailstore.SecurityPolicy, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins see the server's security settings")
	}
	return s.store.GetSecurityPolicy(ctx)
}

// UpdateSecurityPolicy changes the server's account security settings
// (server admins).
func (s *Service) UpdateSecurityPolicy(ctx context.Context, a Actor, up mailstore.SecurityPolicyUpdate) (*mailstore.SecurityPolicy, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins change the server's security settings")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateSecurityPolicy(ctx, up)
}

// RegenerateRecoveryCodes gives the actor's own account new recovery
// codes, shown once; the old ones stop working (audited). It takes the
// password, like turning two-factor sign-in off: a stolen session must
// not be enough to mint a way past the second factor. A wrong password is
// a validation error wrapping ErrWrongPassword.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a Actor, password string) ([]string, error) {
	if err := a.signedInSelf(a.Email, "recovery codes"); err != nil || a.UserID == 0 {
		return nil, forbidden("recovery codes belong to mail accounts signed in with a password")
	}
	if password == "" {
		return nil, core.Invalid("password", "is required")
	}
	if _, err := s.store.Authenticate(ctx, a.Email, password); errors.Is(err, core.ErrAuthFailed) {
		return nil, fmt.Errorf("%w: %w", &core.ValidationError{Fields: []core.FieldError{{Field: "password", Message: "is wrong"}}}, ErrWrongPassword)
	} else if err != nil {
		return nil, err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.RegenerateRecoveryCodes(ctx, a.UserID)
}
