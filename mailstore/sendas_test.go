package mailstore

import (
	"context"
	"errors"
	"testing"

	"github.com/yubinmail/yubin/core"
)

func TestSendAsGrants(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	newTestUser(t, s, "bob@example.com")
	newTestUser(t, s, "info@example.org")
	if _, err := s.CreateAlias(ctx, "sales@example.com", []string{"bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx, "@example.com", []string{"bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, addr string
		want       error
	}{
		{"ann@example.com", "ann@example.com", core.ErrInvalid},     // own address
		{"ann@example.com", "@example.com", core.ErrInvalid},        // a catch-all is no address
		{"ann@example.com", "nobody@example.com", core.ErrNotFound}, // neither account nor alias
		{"ann@example.com", "x@elsewhere.example", core.ErrNotFound},
		{"nobody@example.com", "sales@example.com", core.ErrNotFound},
		{"ann@example.com", "Sales@Example.com", nil},
		{"ann@example.com", "sales@example.com", core.ErrExists},
		{"ann@example.com", "info@example.org", nil},
		{"bob@example.com", "info@example.org", nil},
	} {
		_, err := s.GrantSendAs(ctx, tc.user, tc.addr)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("GrantSendAs(%s, %s) = %v, want %v", tc.user, tc.addr, err, tc.want)
		}
	}
	ann, _ := s.GetUser(ctx, "ann@example.com")
	got, err := s.ListSendAs(ctx, "ann@example.com")
	if err != nil || len(got) != 2 || got[0].Address != "info@example.org" || got[1].Address != "sales@example.com" {
		t.Fatalf("ListSendAs = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		addrs []string
		want  bool
	}{{[]string{"sales@example.com"}, true}, {[]string{"x@example.com", "info@example.org"}, true}, {[]string{"bob@example.com"}, false}, {nil, false}} {
		if ok, err := s.MaySendAs(ctx, ann.ID, tc.addrs); err != nil || ok != tc.want {
			t.Errorf("MaySendAs(%v) = %v, %v", tc.addrs, ok, err)
		}
	}
	if err := s.RevokeSendAs(ctx, "ann@example.com", "bob@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("revoking a right never given: %v", err)
	}
	// Deleting the shared account removes every right to send as it;
	// deleting a domain, the rights for its addresses.
	if err := s.DeleteUser(ctx, "info@example.org"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListSendAs(ctx, "bob@example.com"); len(got) != 0 {
		t.Errorf("bob keeps %+v", got)
	}
	if err := s.DeleteDomain(ctx, "example.com", true); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.db.Model(&SendAsGrant{}).Count(&n).Error; err != nil || n != 0 {
		t.Errorf("%d rights left, %v", n, err)
	}
}
