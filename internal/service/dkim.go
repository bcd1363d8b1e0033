package service

import (
	"context"
	"fmt"

	"github.com/yubinmail/yubin/core"
)

// DKIMKeys are the domains' DKIM signing keys (dkimkeys.Keys).
type DKIMKeys interface {
	// Ensure makes domain's keys if it has none and returns the selectors.
	Ensure(ctx context.Context, domain string) ([]string, error)
	// Rotate makes new keys active; the old ones stay published a while.
	Rotate(ctx context.Context, domain string) ([]string, error)
	// Records returns the DNS TXT records of domain's keys by selector.
	Records(ctx context.Context, domain string) (map[string]string, error)
}

// WithDKIM makes the service create a domain's DKIM keys with the domain
// and offer RotateDKIM. It returns s.
func (s *Service) WithDKIM(keys DKIMKeys) *Service {
	s.dkim = keys
	return s
}

// ensureDKIM makes a new domain's keys; a failure is logged, not returned:
// the keys are made again when the domain first sends.
func (s *Service) ensureDKIM(ctx context.Context, domain string) {
	if s.dkim == nil {
		return
	}
	if _, err := s.dkim.Ensure(ctx, domain); err != nil {
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
	if _, err := s.dkim.Rotate(ctx, d.Name); err != nil {
		return nil, fmt.Errorf("rotate DKIM keys of %s: %w", d.Name, err)
	}
	s.log.Info("DKIM keys rotated", "domain", d.Name, "by", a.Email)
	return s.dkim.Records(ctx, d.Name)
}

// DKIMRecords returns the DNS TXT records of the DKIM keys of a domain the
// actor manages, by selector, making its keys first if it has none (a
// domain created while making them failed); nil where DKIM keys are not
// managed here.
func (s *Service) DKIMRecords(ctx context.Context, a Actor, domain string) (map[string]string, error) {
	d, err := s.GetDomain(ctx, a, domain)
	if err != nil {
		return nil, err
	}
	if s.dkim == nil {
		return nil, nil
	}
	if _, err := s.dkim.Ensure(ctx, d.Name); err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", d.Name, err)
	}
	recs, err := s.dkim.Records(ctx, d.Name)
	if err != nil {
		return nil, fmt.Errorf("DKIM records of %s: %w", d.Name, err)
	}
	return recs, nil
}
