package service

import (
	"context"
	"fmt"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/tokens"
)

// owner returns the token owner fields for the actor.
func (s *Service) owner(ctx context.Context, a Actor) (adminID, userID *int64, err error) {
	if a.TokenPrefix != "" {
		return nil, nil, forbidden("API tokens cannot manage tokens; sign in with a password")
	}
	switch {
	case a.Role == RoleAdmin:
		ad, err := s.store.GetAdmin(ctx, a.Email)
		if err != nil {
			return nil, nil, err
		}
		return &ad.ID, nil, nil
	case a.UserID != 0:
		return nil, &a.UserID, nil
	}
	return nil, nil, forbidden("API tokens belong to an admin or a user account")
}

// CreateToken issues an API token owned by the actor and returns it with
// its secret, which is shown only this once. ttl 0 means no expiry.
func (s *Service) CreateToken(ctx context.Context, a Actor, name, scope string, ttl time.Duration) (*tokens.APIToken, string, error) {
	var fields []core.FieldError
	if name == "" || len(name) > 100 {
		fields = append(fields, core.FieldError{Field: "name", Message: "must be 1 to 100 characters"})
	}
	if !tokens.ValidScope(scope) {
		fields = append(fields, core.FieldError{Field: "scope", Message: `must be "read" or "write"`})
	}
	if ttl < 0 {
		fields = append(fields, core.FieldError{Field: "expires_in_days", Message: "must not be negative"})
	}
	if len(fields) > 0 {
		return nil, "", &core.ValidationError{Fields: fields}
	}
	adminID, userID, err := s.owner(ctx, a)
	if err != nil {
		return nil, "", err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, "", err
	}
	nt := tokens.NewAPIToken{Name: name, Scope: scope, AdminID: adminID, UserID: userID}
	if ttl > 0 {
		exp := time.Now().Add(ttl).UTC()
		nt.ExpiresAt = &exp
	}
	return s.tokens.CreateAPIToken(ctx, nt)
}

// ListTokens lists the actor's own tokens.
func (s *Service) ListTokens(ctx context.Context, a Actor) ([]tokens.APIToken, error) {
	adminID, userID, err := s.owner(ctx, a)
	if err != nil {
		return nil, err
	}
	ts, err := s.tokens.ListAPITokens(ctx, tokens.APITokenFilter{AdminID: adminID, UserID: userID})
	if ts == nil && err == nil {
		ts = []tokens.APIToken{}
	}
	return ts, err
}

// DeleteToken revokes one of the actor's tokens; server admins may revoke
// anyone's.
func (s *Service) DeleteToken(ctx context.Context, a Actor, id int64) error {
	if a.TokenPrefix != "" {
		return forbidden("API tokens cannot manage tokens; sign in with a password")
	}
	t, err := s.tokens.GetAPIToken(ctx, id)
	if err != nil {
		return err
	}
	if !a.IsAdmin() {
		_, userID, err := s.owner(ctx, a)
		if err != nil {
			return err
		}
		if t.UserID == nil || userID == nil || *t.UserID != *userID {
			return fmt.Errorf("token %d: %w", id, core.ErrNotFound)
		}
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.tokens.DeleteAPIToken(ctx, id)
}
