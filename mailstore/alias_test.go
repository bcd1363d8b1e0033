package mailstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/core"
)

func TestCreateAlias(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	newTestUser(t, s, "bob@example.com")
	if _, err := s.CreateAlias(ctx, "taken@example.com", []string{"ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, MaxAliasTargets+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@example.net", i)
	}
	tests := []struct {
		name        string
		addr        string
		targets     []string
		wantErr     error
		wantAddr    string
		wantTargets []string
	}{
		{"ok", "Team@Example.COM", []string{"ann@example.com", " BOB@example.com ", "ann@EXAMPLE.com", "friend@elsewhere.example"}, nil,
			"team@example.com", []string{"ann@example.com", "bob@example.com", "friend@elsewhere.example"}},
		{"catch-all", "@EXAMPLE.com", []string{"ann@example.com"}, nil, "@example.com", []string{"ann@example.com"}},
		{"second catch-all", "@example.com", []string{"bob@example.com"}, core.ErrExists, "", nil},
		{"to missing local address", "later@example.com", []string{"nobody-yet@example.com"}, nil, "later@example.com", []string{"nobody-yet@example.com"}},
		{"hundred targets", "big@example.com", many[:MaxAliasTargets], nil, "big@example.com", many[:MaxAliasTargets]},
		{"duplicate alias", "TAKEN@example.com", []string{"bob@example.com"}, core.ErrExists, "", nil},
		{"is a user", "ann@example.com", []string{"bob@example.com"}, core.ErrExists, "", nil},
		{"unknown domain", "x@example.org", []string{"ann@example.com"}, core.ErrNotFound, "", nil},
		{"unknown domain catch-all", "@example.org", []string{"ann@example.com"}, core.ErrNotFound, "", nil},
		{"bad address", "no-at-sign", []string{"ann@example.com"}, core.ErrInvalid, "", nil},
		{"bad catch-all", "@not a domain", []string{"ann@example.com"}, core.ErrInvalid, "", nil},
		{"no targets", "x@example.com", nil, core.ErrInvalid, "", nil},
		{"empty target", "x@example.com", []string{""}, core.ErrInvalid, "", nil},
		{"bad target", "x@example.com", []string{"ann@example.com", "bob"}, core.ErrInvalid, "", nil},
		{"catch-all as target", "x@example.com", []string{"@example.com"}, core.ErrInvalid, "", nil},
		{"too many targets", "x@example.com", many, core.ErrInvalid, "", nil},
		{"itself", "x@example.com", []string{"ann@example.com", "X@Example.com"}, core.ErrInvalid, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := s.CreateAlias(ctx, tt.addr, tt.targets)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Address != tt.wantAddr || !slices.Equal(a.Targets, tt.wantTargets) || a.CreatedAt.IsZero() {
				t.Fatalf("alias %+v", a)
			}
			got, err := s.GetAlias(ctx, tt.addr)
			if err != nil || got.Address != tt.wantAddr || !slices.Equal(got.Targets, tt.wantTargets) {
				t.Fatalf("GetAlias = %+v, %v", got, err)
			}
		})
	}
	_, err := s.CreateAlias(ctx, "x@example.org", []string{"ann@example.com"})
	if err == nil || !strings.Contains(err.Error(), "domain example.org is not set up") {
		t.Fatalf("unclear error: %v", err)
	}
	// An alias's address cannot become an account.
	if _, err := s.CreateUser(ctx, NewUser{Address: "Team@example.com", Password: "long enough"}); !errors.Is(err, core.ErrExists) {
		t.Fatalf("user over an alias: %v", err)
	}
}

func TestCreateAliasConcurrently(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.CreateAlias(ctx, "race@example.com", []string{"ann@example.com"})
		})
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, core.ErrExists):
			t.Fatalf("err = %v, want ErrExists", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creations succeeded", ok)
	}
}

func TestAliasListUpdateDelete(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	newTestUser(t, s, "carl@example.org")
	for _, a := range []string{"sales@example.com", "support@example.com", "@example.com", "info@example.org", "x_y@example.com"} {
		if _, err := s.CreateAlias(ctx, a, []string{"ann@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    AliasFilter
		want []string
	}{
		{"all", AliasFilter{}, []string{"@example.com", "info@example.org", "sales@example.com", "support@example.com", "x_y@example.com"}},
		{"domain", AliasFilter{Domain: "EXAMPLE.com"}, []string{"@example.com", "sales@example.com", "support@example.com", "x_y@example.com"}},
		{"search", AliasFilter{Search: "S"}, []string{"sales@example.com", "support@example.com"}},
		{"search underscore", AliasFilter{Search: "_"}, []string{"x_y@example.com"}},
		{"search and domain", AliasFilter{Domain: "example.org", Search: "info"}, []string{"info@example.org"}},
		{"page", AliasFilter{Domain: "example.com", Limit: 2, Offset: 1}, []string{"sales@example.com", "support@example.com"}},
		{"unknown domain", AliasFilter{Domain: "example.net"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, err := s.ListAliases(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.Address)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			n, err := s.CountAliases(ctx, tt.f)
			all := tt.f
			all.Limit, all.Offset = 0, 0
			full, _ := s.ListAliases(ctx, all)
			if err != nil || n != int64(len(full)) {
				t.Fatalf("count %d (%v), want %d", n, err, len(full))
			}
		})
	}
	if _, err := s.ListAliases(ctx, AliasFilter{Domain: "not a domain"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad domain filter: %v", err)
	}

	updates := []struct {
		name    string
		addr    string
		targets []string
		wantErr error
	}{
		{"ok", "Sales@example.com", []string{"carl@example.org", "ann@example.com", "carl@example.org"}, nil},
		{"catch-all", "@example.com", []string{"carl@example.org"}, nil},
		{"unknown", "nobody@example.com", []string{"ann@example.com"}, core.ErrNotFound},
		{"no targets", "sales@example.com", []string{}, core.ErrInvalid},
		{"itself", "sales@example.com", []string{"sales@example.com"}, core.ErrInvalid},
	}
	for _, tt := range updates {
		t.Run("update "+tt.name, func(t *testing.T) {
			a, err := s.UpdateAlias(ctx, tt.addr, tt.targets)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetAlias(ctx, tt.addr)
			if err != nil || !slices.Equal(got.Targets, a.Targets) || got.Targets[0] != "carl@example.org" || !got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
				t.Fatalf("after update: %+v %v", got, err)
			}
		})
	}
	if a, _ := s.GetAlias(ctx, "sales@example.com"); !slices.Equal(a.Targets, []string{"carl@example.org", "ann@example.com"}) {
		t.Fatalf("targets not deduplicated: %v", a.Targets)
	}

	if err := s.DeleteAlias(ctx, "SALES@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(ctx, "sales@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.GetAlias(ctx, "sales@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	// The address is free for an account now.
	if _, err := s.CreateUser(ctx, NewUser{Address: "sales@example.com", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteDomainWithAliases(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	newTestUser(t, s, "ann@example.org")
	if _, err := s.CreateAlias(ctx, "a@example.com", []string{"ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx, "@example.com", []string{"ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.com", false); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("delete domain with aliases: %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.com", true); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountAliases(ctx, AliasFilter{}); n != 0 || err != nil {
		t.Fatalf("%d aliases left (%v)", n, err)
	}
	// A new domain of the same name starts without them.
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx, "a@example.com", []string{"ann@example.org"}); err != nil {
		t.Fatal(err)
	}
}

func TestCountUsers(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, a := range []string{"ann@example.com", "bob@example.com", "a_b@example.com", "carl@example.org"} {
		newTestUser(t, s, a)
	}
	tests := []struct {
		f    UserFilter
		want int64
	}{
		{UserFilter{}, 4},
		{UserFilter{Domain: "example.com"}, 3},
		{UserFilter{Domain: "example.com", Limit: 1, Offset: 1}, 3},
		{UserFilter{Search: "_"}, 1},
		{UserFilter{Search: "B"}, 2},
		{UserFilter{Domain: "example.net"}, 0},
	}
	for _, tt := range tests {
		n, err := s.CountUsers(ctx, tt.f)
		if err != nil || n != tt.want {
			t.Errorf("CountUsers(%+v) = %d, %v; want %d", tt.f, n, err, tt.want)
		}
	}
}

func TestResolveRecipients(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, a := range []string{"ann@example.com", "bob@example.com", "off@example.com", "carl@example.org", "dan@disabled.example"} {
		newTestUser(t, s, a)
	}
	if _, err := s.CreateDomain(ctx, "nocatch.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "off@example.com", UserUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	aliases := map[string][]string{
		"team@example.com":         {"ann@example.com", "bob@example.com", "Ann@example.com"},
		"all@example.com":          {"team@example.com", "ann@example.com", "carl@example.org"},
		"out@example.com":          {"ann@example.com", "friend@elsewhere.example", "other@elsewhere.example"},
		"onlyout@example.com":      {"friend@elsewhere.example"},
		"partly@example.com":       {"off@example.com", "gone@example.org", "dan@disabled.example", "bob@example.com"},
		"dead@example.com":         {"off@example.com", "gone@nocatch.example"},
		"loop1@example.com":        {"loop2@example.com", "ann@example.com"},
		"loop2@example.com":        {"loop1@example.com", "bob@example.com"},
		"selfish@example.org":      {"loop1@example.com"},
		"d1@example.com":           {"d2@example.com"},
		"d2@example.com":           {"d3@example.com"},
		"d3@example.com":           {"d4@example.com"},
		"d4@example.com":           {"d5@example.com"},
		"d5@example.com":           {"ann@example.com"},
		"d0@example.com":           {"d1@example.com", "bob@example.com"},
		"@example.org":             {"carl@example.org"},
		"viacatch@nocatch.example": {"whoever@example.org"},
		"@disabled.example":        {"ann@example.com"},
	}
	for a, ts := range aliases {
		if _, err := s.CreateAlias(ctx, a, ts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetDomainEnabled(ctx, "disabled.example", false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		want    []string // sorted: user addresses and ">external"
		wantErr error
	}{
		{"ann@example.com", []string{"ann@example.com"}, nil},
		{"ANN@Example.COM", []string{"ann@example.com"}, nil},
		{"team@example.com", []string{"ann@example.com", "bob@example.com"}, nil},
		{"all@example.com", []string{"ann@example.com", "bob@example.com", "carl@example.org"}, nil},
		{"out@example.com", []string{">friend@elsewhere.example", ">other@elsewhere.example", "ann@example.com"}, nil},
		{"onlyout@example.com", []string{">friend@elsewhere.example"}, nil},
		// Disabled account, disabled domain: skipped; unknown in example.org: its catch-all.
		{"partly@example.com", []string{"bob@example.com", "carl@example.org"}, nil},
		{"dead@example.com", nil, core.ErrNotFound}, // no target leads anywhere
		{"loop1@example.com", []string{"ann@example.com", "bob@example.com"}, nil},
		{"selfish@example.org", []string{"ann@example.com", "bob@example.com"}, nil},
		{"d1@example.com", []string{"ann@example.com"}, nil},      // 5 aliases deep
		{"d0@example.com", []string{"bob@example.com"}, nil},      // 6: the end of the chain is not followed
		{"nobody@example.org", []string{"carl@example.org"}, nil}, // catch-all
		{"carl@example.org", []string{"carl@example.org"}, nil},
		{"viacatch@nocatch.example", []string{"carl@example.org"}, nil},
		{"nobody@example.com", nil, core.ErrNotFound},
		{"nobody@nocatch.example", nil, core.ErrNotFound},
		{"off@example.com", nil, core.ErrNotFound}, // disabled: no fall-through
		{"dan@disabled.example", nil, core.ErrNotFound},
		{"x@disabled.example", nil, core.ErrNotFound}, // catch-all of a disabled domain
		{"x@elsewhere.example", nil, core.ErrNotFound},
		{"bad", nil, core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			rs, err := s.ResolveRecipients(ctx, tt.addr)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				if r.User != nil {
					got = append(got, r.User.Address)
				} else {
					got = append(got, ">"+r.External)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestResolveSubaddress: issue 19 item 1. Resolve with subaddressing: the
// recipients carry the detail (for Delivered-To and Sieve's :detail); an
// exact account or alias wins over a subaddress, which wins over the
// catch-all; loops through subaddresses end.
func TestResolveSubaddress(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, a := range []string{"ann@example.com", "bob@example.com", "off@example.com", "ann+vip@example.com", "carl@example.org"} {
		newTestUser(t, s, a)
	}
	if _, err := s.UpdateUser(ctx, "off@example.com", UserUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	aliases := map[string][]string{
		"team@example.com":     {"ann@example.com", "bob+team@example.com"},
		"bob+list@example.com": {"bob@example.com"},
		"loop@example.com":     {"loop+again@example.com"},
		"@example.org":         {"bob@example.com"},
	}
	for a, ts := range aliases {
		if _, err := s.CreateAlias(ctx, a, ts); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		addr, delims string
		want         []string // DeliveredTo, sorted
		wantErr      error
	}{
		{"ann+news@example.com", "+", []string{"ann+news@example.com"}, nil},
		{"ann+news@example.com", "", nil, core.ErrNotFound},
		{"ann-news@example.com", "+-", []string{"ann-news@example.com"}, nil},
		{"ann+vip@example.com", "+", []string{"ann+vip@example.com"}, nil}, // the account ann+vip itself
		{"bob+list@example.com", "+", []string{"bob@example.com"}, nil},    // the alias itself
		{"team@example.com", "+", []string{"ann@example.com", "bob+team@example.com"}, nil},
		{"team+x@example.com", "+", []string{"ann+x@example.com", "bob+team@example.com"}, nil}, // passed on, unless the target has its own
		{"team+x@example.com", "", nil, core.ErrNotFound},
		{"carl+x@example.org", "+", []string{"carl+x@example.org"}, nil},
		{"nobody+x@example.org", "+", []string{"bob@example.com"}, nil}, // catch-all, no detail
		{"nobody+x@example.com", "+", nil, core.ErrNotFound},
		{"off+x@example.com", "+", nil, core.ErrNotFound}, // disabled: no fall-through
		{"loop@example.com", "+", nil, core.ErrNotFound},
		{"loop+x@example.com", "+", nil, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.delims+"/"+tt.addr, func(t *testing.T) {
			rs, err := s.Resolve(ctx, tt.addr, ResolveOptions{SubaddressDelimiters: tt.delims})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.DeliveredTo())
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	rs, err := s.Resolve(ctx, "ann+@example.com", ResolveOptions{SubaddressDelimiters: "+"})
	if err != nil || len(rs) != 1 || !rs[0].Subaddress.HasDetail() || rs[0].Subaddress.Detail != "" {
		t.Fatalf("ann+@: %+v, %v; want an empty detail", rs, err)
	}
}
