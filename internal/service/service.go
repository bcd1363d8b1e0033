// Package service is the one implementation of every administrative
// operation: creating domains, users and aliases, changing quotas and
// passwords, issuing API tokens. The admin CLI, the REST API and so the web
// dashboard all call it, so validation, authorization and the audit log are
// the same whichever way a change arrives.
//
// Every method takes the Actor on whose behalf it runs. The CLI acts as
// System; the API passes the authenticated principal. A method refuses what
// the actor's role does not allow with an error wrapping core.ErrForbidden.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
)

// Role is what an actor may do.
type Role string

// The roles.
const (
	// RoleSystem is the local operator using the CLI: everything.
	RoleSystem Role = "system"
	// RoleAdmin is a server admin: everything.
	RoleAdmin Role = "admin"
	// RoleDomainAdmin manages the users and aliases of some domains.
	RoleDomainAdmin Role = "domain_admin"
	// RoleUser is a mail user: their own password and usage only.
	RoleUser Role = "user"
)

// Actor is who asks for an operation.
type Actor struct {
	Role Role
	// Email identifies the actor in the audit log.
	Email string
	// UserID is the mail account of a domain admin or user.
	UserID int64
	// AdminID is the server admin account of a server admin.
	AdminID int64
	// CredentialVersion is the version of the credentials the actor
	// proved (see mailstore.User.CredentialVersion); API sessions carry it.
	CredentialVersion int64
	// Domains are the domains a domain admin manages.
	Domains []string
	// ReadOnly is set for read-only API tokens: every change is refused.
	ReadOnly bool
	// TokenPrefix names the API token the actor authenticated with, if any.
	TokenPrefix string
	// Source is where the request came from: "cli" or "api".
	Source string
	// RemoteIP is the client's address for API requests.
	RemoteIP string
	// SecondFactor is set for a user who signs in with a second factor.
	SecondFactor bool
	// SessionID names the dashboard or API session the actor's access
	// token belongs to (tokens.APISession's family), if any.
	SessionID string
	// MustEnrol is set for a user whose domain or server requires a
	// second factor they have not set up yet: until they do, the API
	// lets them do little else.
	MustEnrol bool
}

// System returns the actor of the local CLI.
func System() Actor { return Actor{Role: RoleSystem, Email: "cli", Source: "cli"} }

// IsAdmin reports whether the actor may do everything.
func (a Actor) IsAdmin() bool { return a.Role == RoleSystem || a.Role == RoleAdmin }

// ManagesDomain reports whether the actor may manage domain's users and
// aliases.
func (a Actor) ManagesDomain(domain string) bool {
	return a.IsAdmin() || a.Role == RoleDomainAdmin && slices.Contains(a.Domains, strings.ToLower(domain))
}

// Service runs administrative operations on a mailstore.
type Service struct {
	store  Store
	tokens *tokens.Store
	audit  *audit.Log
	stats  *stats.Store
	log    *slog.Logger
	dkim   DKIMKeys // nil: DKIM keys are not managed here

	// queue is the outbound queue (WithQueue); nil: none here.
	queue Queue
	// spam is the classifier TrainSpam trains (WithSpamClassifier); nil:
	// no training here.
	spam SpamClassifier

	// passkeys is the WebAuthn relying party; nil: no passkeys
	// (WithPasskeys).
	passkeys atomic.Pointer[passkeys]
	// imports runs import jobs (see WithImports); nil: none.
	imports *importer.Jobs
	// releaser delivers released quarantined messages through the
	// recipients' Sieve scripts (WithReleaser); nil: to their INBOX.
	releaser QuarantineReleaser
}

// New returns a service over store (the mailstore's *mailstore.Store).
func New(store Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "service")
	tok := tokens.New(store, store, log)
	// A change of credentials in the mailstore ends the API sessions and
	// tokens they granted, in the same transaction.
	store.SetCredentialRevoker("api-tokens", func(tx *gorm.DB, o mailstore.SessionOwner, apiTokens bool) error {
		return tokens.RevokeTx(tx, o.Kind, o.ID, apiTokens)
	})
	return &Service{store: store, tokens: tok, audit: audit.NewLog(store), stats: stats.New(store), log: log}
}

// Ping checks that the database answers; the readiness probe uses it.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("service ping: %w", err)
	}
	return nil
}

// Page selects a window of a list.
type Page struct {
	Limit  int // 1..MaxPageSize; 0 means DefaultPageSize
	Offset int
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

func (p Page) normalize() (Page, error) {
	if p.Limit == 0 {
		p.Limit = DefaultPageSize
	}
	if p.Limit < 0 || p.Limit > MaxPageSize {
		return p, core.Invalid("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	if p.Offset < 0 {
		return p, core.Invalid("offset", "must not be negative")
	}
	return p, nil
}

// List is one page of a collection and the size of the whole.
type List[T any] struct {
	Items []T
	Total int64
}

// write checks that the actor may change anything and returns the context
// that makes the mailstore record the change in the audit log.
func (a Actor) write(ctx context.Context) (context.Context, error) {
	if a.ReadOnly {
		return nil, fmt.Errorf("this token is read-only: %w", core.ErrForbidden)
	}
	who := a.Email
	if a.TokenPrefix != "" {
		who += " (token " + a.TokenPrefix + ")"
	}
	return audit.With(ctx, audit.Info{Actor: who, Source: a.Source, RemoteIP: a.RemoteIP}), nil
}

// forbidden is the error for an operation outside the actor's role.
func forbidden(what string) error {
	return fmt.Errorf("%s: %w", what, core.ErrForbidden)
}

// domainOf returns the domain part of an address, lower-cased.
func domainOf(address string) string {
	_, d, _ := strings.Cut(address, "@")
	return strings.ToLower(d)
}

// listDomain returns the domain a list is restricted to for the actor: the
// one asked for (which they must manage), none for server admins who ask
// for none, and a domain admin's only domain if they ask for none.
func (a Actor) listDomain(domain, what string) (string, error) {
	switch {
	case a.IsAdmin():
		return domain, nil
	case a.Role == RoleDomainAdmin && domain == "" && len(a.Domains) == 1:
		return a.Domains[0], nil
	case a.Role == RoleDomainAdmin && domain == "":
		return "", core.Invalid("domain", "name the domain to list (you manage several)")
	case !a.ManagesDomain(domain):
		return "", forbidden("listing " + what)
	}
	return domain, nil
}
