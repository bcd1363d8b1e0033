package service

import (
	"context"
	"fmt"

	"github.com/yubinmail/yubin/core"
)

// DKIMKeys are the domains' DKIM signing keys (mailstore.DKIMKeys).
type DKIMKeys interface {
	// Ensure makes domain's keys if it has none and returns the selectors.
	Ensure(domain string) ([]string, error)
	// Rotate makes new keys active; the old ones stay published a while.
	Rotate(domain string) ([]string, error)
	// Records returns the DNS TXT records of domain's keys by selector.
	Records(domain string) (map[string]string, error)
}

// WithDKIM makes the service create a domain's DKIM keys with the domain
// and offer RotateDKIM. It returns s.
func (s *Service) WithDKIM(keys DKIMKeys) *Service {
	s.dkim = keys
	return s
}

// ensureDKIM makes a new domain's keys; a failure is logged, not returned:
// the keys are made again when the domain first sends.
func (s *Service) ensureDKIM(domain string) {
	if s.dkim == nil {
		return
	}
	if _, err := s.dkim.Ensure(domain); err != nil {
		s.log.Warn("could not make the DKIM keys of a new domain; they are made when it first sends", "domain", domain, "err", err)
	}
}

// RotateDKIM gives a domain new DKIM keys (server admins only) and returns
// the records to publish: the new keys' and, for a while, the old ones'.
func (s *Service) RotateDKIM(ctx context.Context, a Actor, domain string) (map[string]string, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins rotate DKIM keys")
	}
	if _, err := a.write(ctx); err != nil {
		return nil, err
	}
	if s.dkim == nil {
		return nil, fmt.Errorf("DKIM keys are not available here: %w", core.ErrConflict)
	}
	d, err := s.store.GetDomain(ctx, domain)
	if err != nil {
		return nil, err
	}
	if _, err := s.dkim.Rotate(d.Name); err != nil {
		return nil, fmt.Errorf("rotate DKIM keys of %s: %w", d.Name, err)
	}
	s.log.Info("DKIM keys rotated", "domain", d.Name, "by", a.Email)
	return s.dkim.Records(d.Name)
}
