package service

import (
	"context"

	"github.com/yubinmail/yubin/internal/tokens"
)

// Sessions are an account's signed-in dashboard and API sessions and its
// API tokens.
type Sessions struct {
	Sessions []tokens.APISession
	Tokens   []tokens.APIToken
}

// ownSessionOwner names the actor's own account as a session owner.
func (a Actor) ownSessionOwner() (tokens.Owner, error) {
	if a.TokenPrefix != "" {
		return tokens.Owner{}, forbidden("API tokens cannot manage sessions; sign in with a password")
	}
	switch {
	case a.AdminID != 0:
		return tokens.Owner{Kind: tokens.OwnerAdmin, ID: a.AdminID}, nil
	case a.UserID != 0:
		return tokens.Owner{Kind: tokens.OwnerUser, ID: a.UserID}, nil
	}
	return tokens.Owner{}, forbidden("only signed-in admins and users have sessions")
}

// sessionsOf lists owner's sessions (marking the actor's own) and tokens.
func (s *Service) sessionsOf(ctx context.Context, a Actor, o tokens.Owner) (*Sessions, error) {
	ses, err := s.tokens.ListSessions(ctx, o, a.SessionID)
	if err != nil {
		return nil, err
	}
	f := tokens.APITokenFilter{}
	id := o.ID
	if o.Kind == tokens.OwnerAdmin {
		f.AdminID = &id
	} else {
		f.UserID = &id
	}
	ts, err := s.tokens.ListAPITokens(ctx, f)
	if err != nil {
		return nil, err
	}
	return &Sessions{Sessions: ses, Tokens: ts}, nil
}

// ListOwnSessions lists the actor's own sessions and API tokens.
func (s *Service) ListOwnSessions(ctx context.Context, a Actor) (*Sessions, error) {
	o, err := a.ownSessionOwner()
	if err != nil {
		return nil, err
	}
	return s.sessionsOf(ctx, a, o)
}

// EndOwnSession ends one of the actor's own sessions (another device, or
// this one).
func (s *Service) EndOwnSession(ctx context.Context, a Actor, id int64) error {
	o, err := a.ownSessionOwner()
	if err != nil {
		return err
	}
	return s.endSession(ctx, a, o, id)
}

// userSessionOwner names the mail account at address as a session owner
// for an actor who may manage its credentials: its own user, or an admin
// of its domain who outranks them.
func (s *Service) userSessionOwner(ctx context.Context, a Actor, address string) (tokens.Owner, error) {
	if err := a.mayManageAccountSecurity(address, "sessions"); err != nil {
		return tokens.Owner{}, err
	}
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		return tokens.Owner{}, err
	}
	if err := s.checkNotOutranked(ctx, a, u); err != nil {
		return tokens.Owner{}, err
	}
	return tokens.Owner{Kind: tokens.OwnerUser, ID: u.ID}, nil
}

// ListUserSessions lists the sessions and API tokens of the mail account
// at address.
func (s *Service) ListUserSessions(ctx context.Context, a Actor, address string) (*Sessions, error) {
	o, err := s.userSessionOwner(ctx, a, address)
	if err != nil {
		return nil, err
	}
	return s.sessionsOf(ctx, a, o)
}

// EndUserSession ends session id of the mail account at address.
func (s *Service) EndUserSession(ctx context.Context, a Actor, address string, id int64) error {
	o, err := s.userSessionOwner(ctx, a, address)
	if err != nil {
		return err
	}
	return s.endSession(ctx, a, o, id)
}

// endSession ends session id of o, as a (whose write it is).
func (s *Service) endSession(ctx context.Context, a Actor, o tokens.Owner, id int64) error {
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.tokens.EndSessionByID(ctx, o, id)
}
