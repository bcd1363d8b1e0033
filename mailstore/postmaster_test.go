package mailstore

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/yubinmail/yubin/core"
)

// TestResolvePostmaster checks where postmaster@domain goes when the domain
// has no account or alias of that name (RFC 5321 section 4.5.1).
func TestResolvePostmaster(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	resolve := func(addr string) ([]string, error) {
		t.Helper()
		rs, err := s.ResolveRecipients(ctx, addr)
		var out []string
		for _, r := range rs {
			out = append(out, r.User.Address)
		}
		return out, err
	}
	newTestUser(t, s, "ann@example.com")
	newTestUser(t, s, "boss@example.com")
	newTestUser(t, s, "carl@example.org")

	// A fresh install: no administrator has a mailbox here, so the
	// domain's first account takes it; a domain without accounts has
	// nobody.
	if got, err := resolve("postmaster@example.com"); err != nil || !reflect.DeepEqual(got, []string{"ann@example.com"}) {
		t.Fatalf("postmaster without administrators: %v, %v; want the domain's first account", got, err)
	}
	if _, err := s.CreateDomain(ctx, "empty.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("postmaster@empty.example"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("postmaster of a domain without accounts: %v, want ErrNotFound", err)
	}
	// A server admin whose email is a mailbox here.
	if _, err := s.CreateAdmin(ctx, "boss@example.com", "a long admin password"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"postmaster@example.com", "PostMaster@example.org"} {
		if got, err := resolve(addr); err != nil || !reflect.DeepEqual(got, []string{"boss@example.com"}) {
			t.Errorf("%s: %v, %v; want the server admin's mailbox", addr, got, err)
		}
	}
	// The domain's administrators come first.
	if err := s.AddDomainAdmin(ctx, "carl@example.org", "example.org"); err != nil {
		t.Fatal(err)
	}
	if got, err := resolve("postmaster@example.org"); err != nil || !reflect.DeepEqual(got, []string{"carl@example.org"}) {
		t.Errorf("postmaster@example.org: %v, %v; want the domain admin", got, err)
	}
	// An alias (or account) of that name wins.
	if _, err := s.CreateAlias(ctx, "postmaster@example.com", []string{"ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, err := resolve("postmaster@example.com"); err != nil || !reflect.DeepEqual(got, []string{"ann@example.com"}) {
		t.Errorf("postmaster@example.com with an alias: %v, %v", got, err)
	}
	// Other unknown names stay unknown; unknown domains too.
	for _, addr := range []string{"nobody@example.com", "postmaster@example.net"} {
		if _, err := resolve(addr); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", addr, err)
		}
	}
}
