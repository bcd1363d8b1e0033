package service

import (
	"context"

	"github.com/yubinmail/yubin/mailstore"
)

// Sessions are an account's signed-in dashboard and API sessions and its
// API tokens.
type Sessions struct {
	Sessions []mailstore.APISession `json:"sessions"`
	Tokens   []mailstore.APIToken   `json:"tokens"`
}

// ownSessionOwner names the actor's own account as a session owner.
func (a Actor) ownSessionOwner() (mailstore.SessionOwner, error) {
	if a.TokenPrefix != "" {
		return mailstore.SessionOwner{}, forbidden("API tokens cannot manage sessions; sign in with a password")
	}
	switch {
	case a.AdminID != 0:
		return mailstore.SessionOwner{Kind: mailstore.OwnerAdmin, ID: a.AdminID}, nil
	case a.UserID != 0:
		return mailstore.SessionOwner{Kind: mailstore.OwnerUser, ID: a.UserID}, nil
	}
	return mailstore.SessionOwner{}, forbidden("only signed-in admins and users have sessions")
}

// sessionsOf lists owner's sessions (marking the actor's own) and tokens.
func (s *Service) sessionsOf(ctx context.Context, a Actor, o mailstore.SessionOwner) (*Sessions, error) {
	ses, err := s.store.ListSessions(ctx, o, a.SessionID)
	if err != nil {
		return nil, err
	}
	f := mailstore.APITokenFilter{}
	id := o.ID
	if o.Kind == mailstore.OwnerAdmin {
		f.AdminID = &id
	} else {
		f.UserID = &id
	}
	ts, err := s.store.ListAPITokens(ctx, f)
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
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.EndSessionByID(ctx, o, id)
}

// userSessionOwner names the mail account at address as a session owner
// for an actor who may manage its credentials: its own user, or an admin
// of its domain who outranks them.
func (s *Service) userSessionOwner(ctx context.Context, a Actor, address string) (mailstore.SessionOwner, error) {
	if err := a.mayManageAccountSecurity(address, "sessions"); err != nil {
		return mailstore.SessionOwner{}, err
	}
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		return mailstore.SessionOwner{}, err
	}
	if err := s.checkNotOutranked(ctx, a, u); err != nil {
		return mailstore.SessionOwner{}, err
	}
	return mailstore.SessionOwner{Kind: mailstore.OwnerUser, ID: u.ID}, nil
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
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.EndSessionByID(ctx, o, id)
}
