package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// aliasModels returns the tables of aliases and domain settings.
func aliasModels() []any { return []any{&Alias{}} }

// MaxAliasTargets is how many addresses one alias may forward to.
const MaxAliasTargets = 100

// maxAliasDepth is how many aliases deep ResolveRecipients follows a chain
// of aliases.
const maxAliasDepth = 5

// Alias forwards the mail for an address of a local domain to other
// addresses: local accounts, other aliases, or addresses elsewhere. The
// address "@domain" is the domain's catch-all: it receives the mail for the
// addresses of the domain that are neither an account nor an alias.
type Alias struct {
	ID        int64    `gorm:"primaryKey"`
	DomainID  int64    `gorm:"not null;index"`
	Address   string   `gorm:"size:320;not null;uniqueIndex"` // "local@domain" or "@domain"
	Targets   []string `gorm:"serializer:json;type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IsCatchAll reports whether the alias is its domain's catch-all.
func (a *Alias) IsCatchAll() bool { return strings.HasPrefix(a.Address, "@") }

// parseAliasAddress normalises an alias address, "local@domain" or
// "@domain", and returns it with its domain.
func parseAliasAddress(s string) (addr, domain string, err error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		d, err := core.NormalizeDomain(rest)
		if err != nil {
			return "", "", fmt.Errorf("catch-all %q: %w", s, err)
		}
		return "@" + d, d, nil
	}
	a, err := core.ParseAddress(s)
	if err != nil {
		return "", "", err
	}
	return a.String(), a.Domain, nil
}

// normalizeTargets validates, normalises and deduplicates the targets of
// the alias addr, keeping their order.
func normalizeTargets(addr string, targets []string) ([]string, error) {
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		a, err := core.NormalizeAddress(strings.TrimSpace(t))
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		if a == addr {
			return nil, fmt.Errorf("an alias may not forward to itself: %w", core.ErrInvalid)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("an alias needs at least one target: %w", core.ErrInvalid)
	}
	if len(out) > MaxAliasTargets {
		return nil, fmt.Errorf("an alias may have at most %d targets, not %d: %w", MaxAliasTargets, len(out), core.ErrInvalid)
	}
	return out, nil
}

// CreateAlias makes address (or, given as "@domain", the domain's
// catch-all) forward to targets: 1 to MaxAliasTargets addresses, local or
// not, which are normalised and deduplicated. The domain must exist
// (ErrNotFound); the address must be neither an account nor an alias
// (ErrExists).
func (s *Store) CreateAlias(ctx context.Context, address string, targets []string) (*Alias, error) {
	addr, dom, err := parseAliasAddress(address)
	if err != nil {
		return nil, fmt.Errorf("create alias: %w", err)
	}
	ts, err := normalizeTargets(addr, targets)
	if err != nil {
		return nil, fmt.Errorf("create alias %s: %w", addr, err)
	}
	a := &Alias{Address: addr, Targets: ts}
	err = s.write(ctx, func(tx *writeTx) error {
		var d Domain // locked, as in CreateUser
		if err := lockRow(tx.DB).Where("name = ?", dom).Take(&d).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("domain %s is not set up (add it first): %w", dom, core.ErrNotFound)
			}
			return err
		}
		var count int64
		if err := tx.Model(&User{}).Where("address = ?", addr).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return fmt.Errorf("%s is an account: %w", addr, core.ErrExists)
		}
		if err := tx.Model(&Alias{}).Where("address = ?", addr).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return fmt.Errorf("alias %s: %w", addr, core.ErrExists)
		}
		a.ID, a.DomainID = 0, d.ID
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		return tx.audit("alias.create", addr, map[string]any{"targets": ts})
	})
	if err != nil {
		return nil, fmt.Errorf("create alias %s: %w", addr, uniqueToExists(err))
	}
	return a, nil
}

// GetAlias returns an alias by address ("@domain" for a catch-all).
func (s *Store) GetAlias(ctx context.Context, address string) (*Alias, error) {
	addr, _, err := parseAliasAddress(address)
	if err != nil {
		return nil, fmt.Errorf("get alias: %w", err)
	}
	var a Alias
	if err := s.db.WithContext(ctx).Where("address = ?", addr).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("get alias %s: %w", addr, notFound(err))
	}
	return &a, nil
}

// AliasFilter narrows ListAliases and CountAliases.
type AliasFilter struct {
	Domain string // only this domain's aliases
	Search string // substring of the address
	Limit  int    // 0 = no limit
	Offset int
}

func filterAliases(q *gorm.DB, f AliasFilter) (*gorm.DB, error) {
	if f.Domain != "" {
		d, err := core.NormalizeDomain(f.Domain)
		if err != nil {
			return nil, err
		}
		q = q.Where("domain_id IN (SELECT id FROM domains WHERE name = ?)", d)
	}
	if f.Search != "" {
		q = q.Where("address LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Search))+"%")
	}
	return q, nil
}

// ListAliases returns aliases ordered by address (catch-alls, "@domain",
// sort first).
func (s *Store) ListAliases(ctx context.Context, f AliasFilter) ([]Alias, error) {
	q, err := filterAliases(s.db.WithContext(ctx).Model(&Alias{}).Order("address"), f)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	var as []Alias
	if err := q.Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	return as, nil
}

// CountAliases returns how many aliases ListAliases would return without
// Limit and Offset.
func (s *Store) CountAliases(ctx context.Context, f AliasFilter) (int64, error) {
	q, err := filterAliases(s.db.WithContext(ctx).Model(&Alias{}), f)
	if err != nil {
		return 0, fmt.Errorf("count aliases: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count aliases: %w", err)
	}
	return n, nil
}

// UpdateAlias replaces the targets of an alias and returns it as it is now.
func (s *Store) UpdateAlias(ctx context.Context, address string, targets []string) (*Alias, error) {
	addr, _, err := parseAliasAddress(address)
	if err != nil {
		return nil, fmt.Errorf("update alias: %w", err)
	}
	ts, err := normalizeTargets(addr, targets)
	if err != nil {
		return nil, fmt.Errorf("update alias %s: %w", addr, err)
	}
	var a Alias
	err = s.write(ctx, func(tx *writeTx) error {
		a = Alias{}
		if err := tx.Where("address = ?", addr).Take(&a).Error; err != nil {
			return notFound(err)
		}
		a.Targets = ts
		if err := tx.Save(&a).Error; err != nil {
			return err
		}
		return tx.audit("alias.update", addr, map[string]any{"targets": ts})
	})
	if err != nil {
		return nil, fmt.Errorf("update alias %s: %w", addr, err)
	}
	return &a, nil
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	addr, _, err := parseAliasAddress(address)
	if err != nil {
		return fmt.Errorf("delete alias: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		res := tx.Where("address = ?", addr).Delete(&Alias{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.ErrNotFound
		}
		if err := deleteSendAsTx(tx, "address = ?", addr); err != nil {
			return err
		}
		return tx.audit("alias.delete", addr, nil)
	})
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", addr, err)
	}
	return nil
}

// deleteDomainAliasesTx deletes the aliases of a domain being deleted; with
// aliases and without cascade it refuses with ErrConflict.
func deleteDomainAliasesTx(tx *writeTx, domainID int64, cascade bool) error {
	if err := deleteSendAsTx(tx, "domain_id = ?", domainID); err != nil {
		return err
	}
	var count int64
	if err := tx.Model(&Alias{}).Where("domain_id = ?", domainID).Count(&count).Error; err != nil {
		return err
	}
	if count == 0 {
		return nil
	}
	if !cascade {
		return fmt.Errorf("domain still has %d aliases (delete them first or cascade): %w", count, core.ErrConflict)
	}
	return tx.Where("domain_id = ?", domainID).Delete(&Alias{}).Error
}

// Recipient is one destination of mail sent to an address: a local
// account, or an address in a domain Yubin does not serve.
type Recipient struct {
	User     *User  // a local account, or nil
	External string // a normalised address elsewhere, or ""
	// Subaddress is the detail (RFC 5233) of the address the mail reached
	// User by: "newsletter" for ann+newsletter@, or for team+newsletter@
	// when the alias team includes ann (an alias passes its detail on to
	// its local targets that have none of their own). Zero for none.
	Subaddress core.Subaddress
}

// DeliveredTo is the address of the mailbox the mail reached, with its
// subaddress detail (ann+newsletter@example.com), as the Delivered-To
// field and Sieve's envelope tests see it; "" for an external recipient.
func (r Recipient) DeliveredTo() string {
	if r.User == nil {
		return ""
	}
	return r.Subaddress.Apply(r.User.Address)
}

// ResolveOptions says how Resolve reads addresses.
type ResolveOptions struct {
	// SubaddressDelimiters are the characters that separate a user from a
	// detail (RFC 5233), any of them: "+" makes ann+news@ reach ann, "+-"
	// also ann-news@; "" turns subaddressing off. See
	// core.CheckSubaddressDelimiters.
	SubaddressDelimiters string
}

// ResolveRecipients is Resolve without subaddressing: the address must be
// an account or alias as it is (or fall to the catch-all).
func (s *Store) ResolveRecipients(ctx context.Context, address string) ([]Recipient, error) {
	return s.Resolve(ctx, address, ResolveOptions{})
}

// Resolve maps an envelope recipient to where its mail goes:
//
//   - an enabled account (in an enabled domain): that account;
//   - an alias: its targets, each resolved in turn (aliases of aliases up
//     to 5 deep, loops ignored; targets in local domains that lead nowhere,
//     such as deleted or disabled accounts, are skipped and logged; targets
//     in other domains are External);
//   - otherwise, with subaddressing (opts.SubaddressDelimiters), the
//     account or alias named by the part before a delimiter, as above,
//     the detail after it kept in Recipient.Subaddress (ann+news@ reaches
//     ann; with several delimiters in the address, the longest part that
//     is an account or alias wins: ann-smith+news@ reaches ann-smith if
//     that exists, else ann). So an account or alias whose name contains
//     a delimiter is still reached by its exact address;
//   - otherwise the domain's catch-all alias ("@domain"), if it has one;
//   - otherwise, for postmaster@domain (or postmaster+detail@), the
//     domain's administrators, or the mailboxes of the server's
//     administrators (see postmasters).
//
// Alias targets are read the same way (an alias may forward to
// ann+info@). Local accounts and external addresses appear once each. An
// address that leads nowhere, a disabled account, or a disabled or unknown
// domain is ErrNotFound. A disabled account does not fall through to the
// catch-all.
func (s *Store) Resolve(ctx context.Context, address string, opts ResolveOptions) ([]Recipient, error) {
	a, err := core.ParseAddress(address)
	if err != nil {
		return nil, fmt.Errorf("resolve recipient: %w", err)
	}
	r := &resolver{s: s, ctx: ctx, delims: opts.SubaddressDelimiters, domains: map[string]*Domain{}, seen: map[string]int{}}
	d, err := r.domain(a.Domain)
	if err != nil {
		return nil, fmt.Errorf("resolve recipient %s: %w", a, err)
	}
	if d == nil || !d.Enabled {
		return nil, fmt.Errorf("resolve recipient %s: domain not served: %w", a, core.ErrNotFound)
	}
	if err := r.resolve(a.String(), "", 0, core.Subaddress{}); err != nil {
		return nil, fmt.Errorf("resolve recipient %s: %w", a, err)
	}
	if len(r.out) == 0 && r.isPostmaster(a.Local) {
		if r.out, err = s.postmasters(ctx, d.ID); err != nil {
			return nil, fmt.Errorf("resolve recipient %s: %w", a, err)
		}
	}
	if len(r.out) == 0 {
		return nil, fmt.Errorf("resolve recipient %s: %w", a, core.ErrNotFound)
	}
	return r.out, nil
}

// isPostmaster reports whether the local part is postmaster, with or
// without a subaddress detail.
func (r *resolver) isPostmaster(local string) bool {
	if strings.EqualFold(local, "postmaster") {
		return true
	}
	for _, sp := range core.SplitSubaddress(local, r.delims) {
		if strings.EqualFold(sp.User, "postmaster") {
			return true
		}
	}
	return false
}

// postmasters returns who gets the mail of postmaster@ a domain that has
// no account, alias or catch-all for it (RFC 5321 section 4.5.1 requires
// every domain to accept it): the domain's administrators, or else the
// accounts of the server's administrators (an admin whose email is a
// mailbox here), or else, on a fresh install where neither exists, the
// domain's first account (its owner, as a rule); enabled ones only,
// oldest first. None (a domain without accounts) means the mail is
// refused like any unknown recipient.
func (s *Store) postmasters(ctx context.Context, domainID int64) ([]Recipient, error) {
	db := s.db.WithContext(ctx)
	var us []User
	if err := db.Where("enabled AND id IN (?)", db.Model(&DomainAdmin{}).Select("user_id").Where("domain_id = ?", domainID)).
		Order("id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("look up the domain's administrators: %w", err)
	}
	if len(us) == 0 {
		if err := db.Where("enabled AND address IN (?)", db.Model(&Admin{}).Select("email")).Order("id").Find(&us).Error; err != nil {
			return nil, fmt.Errorf("look up the server administrators' mailboxes: %w", err)
		}
	}
	if len(us) == 0 {
		if err := db.Where("enabled AND domain_id = ?", domainID).Order("id").Limit(1).Find(&us).Error; err != nil {
			return nil, fmt.Errorf("look up the domain's first account: %w", err)
		}
	}
	out := make([]Recipient, len(us))
	for i := range us {
		out[i] = Recipient{User: &us[i]}
	}
	return out, nil
}

// resolver is the state of one Resolve.
type resolver struct {
	s       *Store
	ctx     context.Context
	delims  string             // subaddress delimiters; "" = off
	domains map[string]*Domain // by name; nil: not a local domain
	seen    map[string]int     // addresses resolved, at their smallest depth
	out     []Recipient
}

func (r *resolver) domain(name string) (*Domain, error) {
	if d, ok := r.domains[name]; ok {
		return d, nil
	}
	// Only the ID and whether it is enabled matter here.
	d := &Domain{Name: name}
	err := r.s.readRow(r.ctx, "SELECT id, enabled FROM domains WHERE name = ? LIMIT 1", name).Scan(&d.ID, &d.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		d = nil
	} else if err != nil {
		return nil, fmt.Errorf("look up domain %s: %w", name, err)
	}
	r.domains[name] = d
	return d, nil
}

// resolve adds the destinations of addr, reached through the alias via
// (none at the top) at the given depth, with the subaddress sub passed on
// by that alias (zero at the top).
func (r *resolver) resolve(addr, via string, depth int, sub core.Subaddress) error {
	if d, ok := r.seen[addr]; ok && d <= depth {
		return nil // a loop, or reached before
	}
	r.seen[addr] = depth
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	d, err := r.domain(domain)
	if err != nil {
		return err
	}
	if d == nil {
		if !slices.ContainsFunc(r.out, func(x Recipient) bool { return x.External == addr }) {
			r.out = append(r.out, Recipient{External: addr})
		}
		return nil
	}
	if !d.Enabled {
		r.skip(addr, via, "domain disabled")
		return nil
	}
	// The exact address first: an account or alias whose name contains a
	// delimiter wins over subaddressing.
	if found, err := r.named(addr, via, depth, sub); found || err != nil {
		return err
	}
	for _, sp := range core.SplitSubaddress(local, r.delims) {
		user := sp.User + "@" + domain
		if _, err := core.ParseAddress(user); err != nil {
			continue // not a valid address before the delimiter
		}
		if found, err := r.named(user, via, depth, sp.Subaddress); found || err != nil {
			return err
		}
	}
	var as []Alias
	if err := r.s.db.WithContext(r.ctx).Where("address = ?", "@"+domain).Limit(1).Find(&as).Error; err != nil {
		return fmt.Errorf("look up catch-all of %s: %w", domain, err)
	}
	if len(as) == 0 {
		r.skip(addr, via, "no such account or alias")
		return nil
	}
	al := &as[0]
	if d, ok := r.seen[al.Address]; ok && d <= depth {
		return nil
	}
	r.seen[al.Address] = depth
	return r.expand(al, via, depth, core.Subaddress{})
}

// named adds the destinations of the account or alias (not catch-all)
// whose address is exactly addr, reached with the subaddress sub. found is
// false if there is neither; a disabled account is found (and skipped), so
// that it does not fall through to a subaddress or the catch-all.
func (r *resolver) named(addr, via string, depth int, sub core.Subaddress) (found bool, err error) {
	db := r.s.db.WithContext(r.ctx)
	u, err := r.s.userByAddress(r.ctx, addr)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("look up %s: %w", addr, err)
	}
	if err == nil {
		if !u.Enabled {
			r.skip(addr, via, "account disabled")
			return true, nil
		}
		if !slices.ContainsFunc(r.out, func(x Recipient) bool { return x.User != nil && x.User.ID == u.ID }) {
			r.out = append(r.out, Recipient{User: u, Subaddress: sub})
		}
		return true, nil
	}
	var as []Alias
	if err := db.Where("address = ?", addr).Limit(1).Find(&as).Error; err != nil {
		return false, fmt.Errorf("look up alias %s: %w", addr, err)
	}
	if len(as) == 0 {
		return false, nil
	}
	return true, r.expand(&as[0], via, depth, sub)
}

// expand resolves the targets of the alias al at depth+1, passing on the
// subaddress sub to those that have no detail of their own.
func (r *resolver) expand(al *Alias, via string, depth int, sub core.Subaddress) error {
	if depth >= maxAliasDepth {
		r.s.log.Warn("alias chain too deep; not followed", "alias", al.Address, "via", via, "max_depth", maxAliasDepth)
		return nil
	}
	for _, t := range al.Targets {
		if err := r.resolve(t, al.Address, depth+1, sub); err != nil {
			return err
		}
	}
	return nil
}

// skip logs an alias target that leads nowhere. At the top (no alias) the
// caller gets ErrNotFound instead.
func (r *resolver) skip(addr, via, why string) {
	if via == "" {
		return
	}
	r.s.log.Warn("alias target leads nowhere; skipped", "alias", via, "target", addr, "reason", why)
}
