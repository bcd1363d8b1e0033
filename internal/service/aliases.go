package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// aliasDomain returns the domain of an alias address ("@domain" is a
// catch-all).
func aliasDomain(address string) string {
	return domainOf(strings.TrimSpace(address))
}

// CreateAlias adds an alias in a domain the actor manages.
func (s *Service) CreateAlias(ctx context.Context, a Actor, address string, targets []string) (*mailstore.Alias, error) {
	if !strings.Contains(address, "@") {
		return nil, core.Invalid("address", "must be local@domain, or @domain for a catch-all")
	}
	if len(targets) == 0 {
		return nil, core.Invalid("targets", "at least one target address is required")
	}
	if !a.ManagesDomain(aliasDomain(address)) {
		return nil, forbidden("creating aliases in " + aliasDomain(address))
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.CreateAlias(ctx, address, targets)
}

// AliasFilter selects aliases.
type AliasFilter struct {
	Domain string
	Search string
	Page
}

// ListAliases lists the aliases of the domains the actor manages.
func (s *Service) ListAliases(ctx context.Context, a Actor, f AliasFilter) (*List[mailstore.Alias], error) {
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	if f.Domain, err = a.listDomain(f.Domain, "aliases"); err != nil {
		return nil, err
	}
	mf := mailstore.AliasFilter{Domain: f.Domain, Search: f.Search, Limit: p.Limit, Offset: p.Offset}
	items, err := s.store.ListAliases(ctx, mf)
	if err != nil {
		return nil, err
	}
	mf.Limit, mf.Offset = 0, 0
	total, err := s.store.CountAliases(ctx, mf)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []mailstore.Alias{}
	}
	return &List[mailstore.Alias]{Items: items, Total: total}, nil
}

// GetAlias returns an alias of a domain the actor manages.
func (s *Service) GetAlias(ctx context.Context, a Actor, address string) (*mailstore.Alias, error) {
	if !a.ManagesDomain(aliasDomain(address)) {
		return nil, forbidden("alias " + address)
	}
	al, err := s.store.GetAlias(ctx, address)
	if errors.Is(err, core.ErrInvalid) {
		return nil, fmt.Errorf("alias %q: %w", address, core.ErrNotFound)
	}
	return al, err
}

// UpdateAlias replaces an alias's targets.
func (s *Service) UpdateAlias(ctx context.Context, a Actor, address string, targets []string) (*mailstore.Alias, error) {
	if _, err := s.GetAlias(ctx, a, address); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, core.Invalid("targets", "at least one target address is required")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateAlias(ctx, address, targets)
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(ctx context.Context, a Actor, address string) error {
	if _, err := s.GetAlias(ctx, a, address); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteAlias(ctx, address)
}
