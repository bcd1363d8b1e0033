package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// ListSendAs returns the addresses the user at address may send as beyond
// their own and their aliases (mailstore.SendAsGrant): for those who
// manage the user's domain, and for the user themselves.
func (s *Service) ListSendAs(ctx context.Context, a Actor, address string) ([]mailstore.SendAsGrant, error) {
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return nil, err
	}
	return s.store.ListSendAs(ctx, u.Address)
}

// GrantSendAs lets the user at address send as sendAs, an account or alias
// of a local domain. The actor must manage both the user's domain and the
// domain of sendAs (a domain admin gives the addresses of their domain to
// its users; a server admin any address to anyone).
func (s *Service) GrantSendAs(ctx context.Context, a Actor, address, sendAs string) (*mailstore.SendAsGrant, error) {
	x, err := core.ParseAddress(sendAs)
	if err != nil {
		return nil, core.Invalid("address", "not a valid email address")
	}
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return nil, err
	}
	if !a.ManagesDomain(domainOf(u.Address)) {
		return nil, forbidden("granting yourself the right to send as " + x.String())
	}
	if !a.ManagesDomain(x.Domain) {
		return nil, forbidden("granting the right to send as an address of " + x.Domain)
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.GrantSendAs(ctx, u.Address, x.String())
}

// RevokeSendAs takes back the right of the user at address to send as
// sendAs. Those who manage either the user's domain or the domain of
// sendAs may take it back.
func (s *Service) RevokeSendAs(ctx context.Context, a Actor, address, sendAs string) error {
	x, err := core.ParseAddress(sendAs)
	if err != nil {
		return fmt.Errorf("send-as right %q: %w", sendAs, core.ErrNotFound)
	}
	u, err := s.store.GetUser(ctx, address)
	if errors.Is(err, core.ErrInvalid) {
		return fmt.Errorf("user %q: %w", address, core.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !a.ManagesDomain(domainOf(u.Address)) && !a.ManagesDomain(x.Domain) {
		return forbidden("taking back the right to send as " + x.String())
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.RevokeSendAs(ctx, u.Address, x.String())
}
