package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/sieve"
	"github.com/yubinmail/yubin/sieve/rules"
)

// Bounds of the Sieve scripts a user may keep (ManageSieve announces them;
// PutSieveScript and HaveSieveSpace enforce them).
const (
	// MaxSieveScriptBytes is the largest script, user's or domain's.
	MaxSieveScriptBytes = 128 << 10
	// MaxSieveScripts is how many scripts one user may keep.
	MaxSieveScripts = 32
	// MaxSieveNameRunes is the longest script name.
	MaxSieveNameRunes = 128
	// MaxSieveRedirects is how many redirects one delivery's scripts may
	// make (the per-user redirect cap).
	MaxSieveRedirects = 5
)

// SieveLimits are the limits scripts are checked and run with.
func SieveLimits() sieve.Limits {
	return sieve.Limits{MaxScriptBytes: MaxSieveScriptBytes, MaxRedirects: MaxSieveRedirects}
}

// SieveScriptInfo describes one of a user's scripts.
type SieveScriptInfo struct {
	Name      string    `json:"name"`
	Active    bool      `json:"active"`
	Size      int64     `json:"size"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SieveScriptError is a script refused because it does not compile: the
// position (1-based line, and column counted in bytes)
// and what is wrong. It wraps core.ErrInvalid, so callers that only know
// the core errors still answer "invalid input".
type SieveScriptError struct {
	Line    int
	Column  int
	Message string
}

// Error formats the error as "line L, column C: message".
func (e *SieveScriptError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// Unwrap makes errors.Is(err, core.ErrInvalid) true.
func (e *SieveScriptError) Unwrap() error { return core.ErrInvalid }

// CheckSieveScript compiles content with the extensions and limits of
// delivery. A script that does not compile gives a *SieveScriptError.
func (s *Service) CheckSieveScript(ctx context.Context, content string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := sieve.Compile(content, SieveLimits())
	var se *sieve.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &SieveScriptError{Line: se.Pos.Line, Column: se.Pos.Column, Message: se.Msg}
	default:
		return &SieveScriptError{Line: 1, Column: 1, Message: err.Error()}
	}
}

// checkSieveContent refuses a script to store: over MaxSieveScriptBytes
// (core.ErrOverQuota) or not compiling (*SieveScriptError).
func (s *Service) checkSieveContent(ctx context.Context, content string) error {
	if len(content) > MaxSieveScriptBytes {
		return fmt.Errorf("script of %d bytes, more than the limit of %d: %w", len(content), MaxSieveScriptBytes, core.ErrOverQuota)
	}
	return s.CheckSieveScript(ctx, content)
}

// CheckSieveScriptName refuses a name that is empty, longer than
// MaxSieveNameRunes, not UTF-8, or holds control characters (RFC 5804
// section 1.6).
func CheckSieveScriptName(name string) error {
	if name == "" {
		return core.Invalid("name", "a script needs a name")
	}
	if !utf8.ValidString(name) {
		return core.Invalid("name", "must be UTF-8")
	}
	if utf8.RuneCountInString(name) > MaxSieveNameRunes {
		return core.Invalid("name", fmt.Sprintf("must be at most %d characters", MaxSieveNameRunes))
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return core.Invalid("name", "must not contain control characters or line breaks")
		}
	}
	return nil
}

// sieveOwner returns the account whose scripts the actor asks for: their
// own, or one in a domain they manage. For a change (write) an account
// that outranks the actor is refused, as for its password: a redirect
// script would give its mail away.
func (s *Service) sieveOwner(ctx context.Context, a Actor, address string, write bool) (*mailstore.User, context.Context, error) {
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return nil, nil, err
	}
	if !write {
		return u, ctx, nil
	}
	if err := s.checkNotOutranked(ctx, a, u); err != nil {
		return nil, nil, err
	}
	wctx, err := a.write(ctx)
	if err != nil {
		return nil, nil, err
	}
	return u, wctx, nil
}

// ListSieveScripts lists the scripts of a user (themselves, or one of a
// domain the actor manages), ordered by name.
func (s *Service) ListSieveScripts(ctx context.Context, a Actor, address string) ([]SieveScriptInfo, error) {
	u, _, err := s.sieveOwner(ctx, a, address, false)
	if err != nil {
		return nil, err
	}
	scripts, err := s.store.ListSieveScripts(ctx, u.Address)
	if err != nil {
		return nil, err
	}
	out := make([]SieveScriptInfo, len(scripts))
	for i, sc := range scripts {
		out[i] = SieveScriptInfo{Name: sc.Name, Active: sc.Active, Size: sc.Size, UpdatedAt: sc.UpdatedAt}
	}
	return out, nil
}

// GetSieveScript returns the text of one of a user's scripts
// (core.ErrNotFound if there is none of that name).
func (s *Service) GetSieveScript(ctx context.Context, a Actor, address, name string) (string, error) {
	u, _, err := s.sieveOwner(ctx, a, address, false)
	if err != nil {
		return "", err
	}
	sc, err := s.store.GetSieveScript(ctx, u.Address, name)
	if err != nil {
		return "", err
	}
	return sc.Content, nil
}

// PutSieveScript creates or replaces a user's script after checking it: a
// script that does not compile gives a *SieveScriptError, one larger than
// MaxSieveScriptBytes or beyond MaxSieveScripts an error wrapping
// core.ErrOverQuota. Replacing the active script changes what runs at the
// next delivery.
func (s *Service) PutSieveScript(ctx context.Context, a Actor, address, name, content string) error {
	if err := CheckSieveScriptName(name); err != nil {
		return err
	}
	u, wctx, err := s.sieveOwner(ctx, a, address, true)
	if err != nil {
		return err
	}
	if err := s.checkSieveContent(ctx, content); err != nil {
		return err
	}
	return s.store.PutSieveScript(wctx, u.Address, name, content, MaxSieveScripts)
}

// HaveSieveSpace reports (nil) whether PutSieveScript of a script of size
// bytes under name would fit the user's limits, for ManageSieve's
// HAVESPACE; otherwise the error wraps core.ErrOverQuota.
func (s *Service) HaveSieveSpace(ctx context.Context, a Actor, address, name string, size int64) error {
	if err := CheckSieveScriptName(name); err != nil {
		return err
	}
	u, _, err := s.sieveOwner(ctx, a, address, false)
	if err != nil {
		return err
	}
	if size > MaxSieveScriptBytes {
		return fmt.Errorf("script of %d bytes, more than the limit of %d: %w", size, MaxSieveScriptBytes, core.ErrOverQuota)
	}
	scripts, err := s.store.ListSieveScripts(ctx, u.Address)
	if err != nil {
		return err
	}
	for _, sc := range scripts {
		if sc.Name == name {
			return nil // a replacement
		}
	}
	if len(scripts) >= MaxSieveScripts {
		return fmt.Errorf("%d scripts, the most allowed: %w", len(scripts), core.ErrOverQuota)
	}
	return nil
}

// DeleteSieveScript removes one of a user's scripts; the active one is
// refused with core.ErrConflict (RFC 5804 section 2.10).
func (s *Service) DeleteSieveScript(ctx context.Context, a Actor, address, name string) error {
	u, wctx, err := s.sieveOwner(ctx, a, address, true)
	if err != nil {
		return err
	}
	return s.store.DeleteSieveScript(wctx, u.Address, name)
}

// RenameSieveScript renames one of a user's scripts (core.ErrExists if
// the new name is taken); an active script stays active.
func (s *Service) RenameSieveScript(ctx context.Context, a Actor, address, oldName, newName string) error {
	if err := CheckSieveScriptName(newName); err != nil {
		return err
	}
	u, wctx, err := s.sieveOwner(ctx, a, address, true)
	if err != nil {
		return err
	}
	return s.store.RenameSieveScript(wctx, u.Address, oldName, newName)
}

// ActivateSieveScript makes name the user's active script, the one run at
// delivery; "" deactivates whichever is active.
func (s *Service) ActivateSieveScript(ctx context.Context, a Actor, address, name string) error {
	u, wctx, err := s.sieveOwner(ctx, a, address, true)
	if err != nil {
		return err
	}
	return s.store.ActivateSieveScript(wctx, u.Address, name)
}

// sieveDomain checks that the actor manages domain and returns its
// normalised name.
func sieveDomain(a Actor, domain string) (string, error) {
	n, err := core.NormalizeDomain(strings.TrimSpace(domain))
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", domain, core.ErrNotFound)
	}
	if !a.ManagesDomain(n) {
		return "", forbidden("the sieve script of " + n)
	}
	return n, nil
}

// GetDomainSieveScript returns the script run for every user of a domain
// before their own; core.ErrNotFound if the domain has none. For its
// admins and server admins.
func (s *Service) GetDomainSieveScript(ctx context.Context, a Actor, domain string) (string, error) {
	n, err := sieveDomain(a, domain)
	if err != nil {
		return "", err
	}
	sc, err := s.store.DomainSieveScript(ctx, n)
	if err != nil {
		return "", err
	}
	if sc == nil {
		return "", fmt.Errorf("sieve script of domain %s: %w", n, core.ErrNotFound)
	}
	return sc.Content, nil
}

// PutDomainSieveScript sets a domain's script after checking it, as
// PutSieveScript does.
func (s *Service) PutDomainSieveScript(ctx context.Context, a Actor, domain, content string) error {
	n, err := sieveDomain(a, domain)
	if err != nil {
		return err
	}
	wctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	if err := s.checkSieveContent(ctx, content); err != nil {
		return err
	}
	return s.store.PutDomainSieveScript(wctx, n, content)
}

// DeleteDomainSieveScript removes a domain's script (core.ErrNotFound if
// it has none).
func (s *Service) DeleteDomainSieveScript(ctx context.Context, a Actor, domain string) error {
	n, err := sieveDomain(a, domain)
	if err != nil {
		return err
	}
	wctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteDomainSieveScript(wctx, n)
}

// SieveRulesScriptName is the script the dashboard's rule editor writes.
const SieveRulesScriptName = "yubin-rules"

// GetSieveRules returns one of a user's scripts and, if the dashboard's
// rule editor wrote it (and it was not edited since), its rules; rs is nil
// for a script written by hand, which the editor shows as text.
func (s *Service) GetSieveRules(ctx context.Context, a Actor, address, name string) (script string, rs *rules.RuleSet, err error) {
	script, err = s.GetSieveScript(ctx, a, address, name)
	if err != nil {
		return "", nil, err
	}
	if set, ok := rules.Parse(script); ok {
		return script, &set, nil
	}
	return script, nil, nil
}

// PutSieveRules writes the script of a rule set (sieve/rules) under name,
// as PutSieveScript does, and returns it.
func (s *Service) PutSieveRules(ctx context.Context, a Actor, address, name string, rs rules.RuleSet) (string, error) {
	script, err := rules.Generate(rs)
	if err != nil {
		return "", core.Invalid("rules", strings.TrimPrefix(err.Error(), "rules: "))
	}
	if err := s.PutSieveScript(ctx, a, address, name, script); err != nil {
		return "", err
	}
	return script, nil
}
