package service

import (
	"context"

	"github.com/yubinmail/yubin/mailstore"
)

// AuditFilter selects audit log entries.
type AuditFilter struct {
	mailstore.AuditFilter
	Page
}

// ListAudit returns audit log entries, newest first (server admins only).
func (s *Service) ListAudit(ctx context.Context, a Actor, f AuditFilter) (*List[mailstore.AuditEntry], error) {
	if !a.IsAdmin() {
		return nil, forbidden("the audit log is for server admins")
	}
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	mf := f.AuditFilter
	mf.Limit, mf.Offset = p.Limit, p.Offset
	items, err := s.store.ListAudit(ctx, mf)
	if err != nil {
		return nil, err
	}
	mf.Limit, mf.Offset = 0, 0
	total, err := s.store.CountAudit(ctx, mf)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []mailstore.AuditEntry{}
	}
	return &List[mailstore.AuditEntry]{Items: items, Total: total}, nil
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
