package service

import (
	"context"
	"time"

	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/mailstore"
)

// AuditFilter selects audit log entries. Empty fields match all.
type AuditFilter struct {
	Actor  string
	Action string // exact, or a prefix ending in "." ("domain." matches "domain.create")
	Target string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Page
}

// ListAudit returns audit log entries, newest first (server admins only).
func (s *Service) ListAudit(ctx context.Context, a Actor, f AuditFilter) (*List[audit.Entry], error) {
	if !a.IsAdmin() {
		return nil, forbidden("the audit log is for server admins")
	}
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	mf := audit.Filter{Actor: f.Actor, Action: f.Action, Target: f.Target, Since: f.Since, Until: f.Until,
		Limit: p.Limit, Offset: p.Offset}
	items, err := s.audit.List(ctx, mf)
	if err != nil {
		return nil, err
	}
	mf.Limit, mf.Offset = 0, 0
	total, err := s.audit.Count(ctx, mf)
	if err != nil {
		return nil, err
	}
	return &List[audit.Entry]{Items: items, Total: total}, nil
}

// AddDomainAdmin lets a user manage a domain (server admins only).
func (s *Service) AddDomainAdmin(ctx context.Context, a Actor, domain, user string) error {
	if !a.IsAdmin() {
		return forbidden("only server admins appoint domain admins")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.AddDomainAdmin(ctx, user, domain)
}

// RemoveDomainAdmin withdraws a user's management of a domain.
func (s *Service) RemoveDomainAdmin(ctx context.Context, a Actor, domain, user string) error {
	if !a.IsAdmin() {
		return forbidden("only server admins appoint domain admins")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.RemoveDomainAdmin(ctx, user, domain)
}

// ListDomainAdmins lists who manages a domain.
func (s *Service) ListDomainAdmins(ctx context.Context, a Actor, domain string) ([]string, error) {
	if !a.ManagesDomain(domain) {
		return nil, forbidden("domain " + domain)
	}
	l, err := s.store.ListDomainAdmins(ctx, domain)
	if l == nil && err == nil {
		l = []string{}
	}
	return l, err
}

// DomainUsage returns a domain's user count and storage use.
func (s *Service) DomainUsage(ctx context.Context, a Actor, domain string) (*mailstore.DomainUsage, error) {
	if !a.ManagesDomain(domain) {
		return nil, forbidden("domain " + domain)
	}
	return s.store.DomainUsage(ctx, domain)
}
