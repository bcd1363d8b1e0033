package service

import (
	"context"
	"errors"

	"github.com/yubinmail/yubin/core"
)

// HostsDomain reports whether this server handles mail for domain. It is
// public knowledge (the MX records say as much): mail clients' automatic
// configuration asks it without signing in.
func (s *Service) HostsDomain(ctx context.Context, domain string) (bool, error) {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return false, nil
	}
	_, err = s.store.GetDomain(ctx, n)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, core.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}
