package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// DomainSettings are a domain's adjustable settings; nil (or unset)
// fields are left as they are (or at their defaults when creating). The
// filter settings may be set back to null: the server's setting.
type DomainSettings struct {
	Enabled           *bool
	DefaultQuotaBytes *int64
	MaxQuotaBytes     *int64
	QuotaBytes        *int64
	MaxUsers          *int64
	RequireTwoFactor  *bool

	SpamJunkScore   mailstore.Nullable[float64]
	SpamRejectScore mailstore.Nullable[float64]
	SpamFilter      mailstore.Nullable[bool]
	VirusScan       mailstore.Nullable[bool]
	DMARCEnforce    mailstore.Nullable[bool]

	// QuotaWarningPercents are the usage levels that warn users (see
	// mailstore.DomainUpdate); Language that of the server's messages.
	QuotaWarningPercents *mailstore.Percents
	Language             *string

	// EncryptionMode is "server", "user" or "" (the server's): how the
	// domain's mail is encrypted at rest from then on.
	EncryptionMode *string
}

func (d DomainSettings) empty() bool {
	return d.Enabled == nil && d.DefaultQuotaBytes == nil && d.MaxQuotaBytes == nil && d.QuotaBytes == nil && d.MaxUsers == nil && d.RequireTwoFactor == nil &&
		!d.SpamJunkScore.Set && !d.SpamRejectScore.Set && !d.SpamFilter.Set && !d.VirusScan.Set && !d.DMARCEnforce.Set &&
		d.QuotaWarningPercents == nil && d.Language == nil && d.EncryptionMode == nil
}

// CreateDomain adds a domain (server admins only).
func (s *Service) CreateDomain(ctx context.Context, a Actor, name string, settings DomainSettings) (*mailstore.Domain, error) {
	if !a.IsAdmin() {
		return nil, forbidden("only server admins create domains")
	}
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, core.Invalid("name", "not a valid domain name")
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.store.CreateDomain(ctx, n)
	if err != nil {
		return nil, err
	}
	s.ensureDKIM(ctx, d.Name)
	if settings.empty() {
		return d, nil
	}
	return s.store.UpdateDomain(ctx, n, mailstore.DomainUpdate(settings))
}

// ListDomains lists the domains the actor may see, filtered by a substring
// of the name.
func (s *Service) ListDomains(ctx context.Context, a Actor, search string, p Page) (*List[mailstore.Domain], error) {
	if !a.IsAdmin() && a.Role != RoleDomainAdmin {
		return nil, forbidden("listing domains")
	}
	p, err := p.normalize()
	if err != nil {
		return nil, err
	}
	all, err := s.store.ListDomains(ctx)
	if err != nil {
		return nil, err
	}
	search = strings.ToLower(search)
	var keep []mailstore.Domain
	for _, d := range all {
		if a.ManagesDomain(d.Name) && strings.Contains(d.Name, search) {
			keep = append(keep, d)
		}
	}
	out := &List[mailstore.Domain]{Total: int64(len(keep)), Items: []mailstore.Domain{}}
	if p.Offset < len(keep) {
		out.Items = keep[p.Offset:min(len(keep), p.Offset+p.Limit)]
	}
	return out, nil
}

// GetDomain returns a domain the actor manages.
func (s *Service) GetDomain(ctx context.Context, a Actor, name string) (*mailstore.Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", name, core.ErrNotFound)
	}
	if !a.ManagesDomain(n) {
		return nil, forbidden("domain " + n)
	}
	return s.store.GetDomain(ctx, n)
}

// UpdateDomain changes a domain's settings (server admins only: they are
// the limits domain admins work within).
func (s *Service) UpdateDomain(ctx context.Context, a Actor, name string, settings DomainSettings) (*mailstore.Domain, error) {
	if !a.IsAdmin() {
		if a.ManagesDomain(name) {
			return nil, forbidden("only server admins change a domain's settings")
		}
		return nil, forbidden("domain " + name)
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateDomain(ctx, name, mailstore.DomainUpdate(settings))
}

// DeleteDomain removes a domain; one with users or aliases only with
// cascade, which deletes them and their mail.
func (s *Service) DeleteDomain(ctx context.Context, a Actor, name string, cascade bool) error {
	if !a.IsAdmin() {
		return forbidden("only server admins delete domains")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteDomain(ctx, name, cascade)
}
