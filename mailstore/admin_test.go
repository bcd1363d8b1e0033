package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
)

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	tests := []struct {
		name        string
		email, pw   string
		wantCreated bool
		wantErr     error
	}{
		{"bad email", "root", "secret password", false, core.ErrInvalid},
		{"short password", "root@example.com", "short", false, core.ErrInvalid},
		{"first", "Root@Example.com", "secret password", true, nil},
		{"again", "root@example.com", "secret password", false, nil},
		{"another", "other@example.com", "other password", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := s.EnsureAdmin(ctx, tt.email, tt.pw)
			if !errors.Is(err, tt.wantErr) || created != tt.wantCreated {
				t.Fatalf("EnsureAdmin = %v, %v; want %v, %v", created, err, tt.wantCreated, tt.wantErr)
			}
		})
	}
	as, err := s.ListAdmins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Email != "root@example.com" || as[0].CreatedAt.IsZero() {
		t.Fatalf("admins = %+v", as)
	}
	if _, err := s.AuthenticateAdmin(ctx, "root@example.com", "secret password"); err != nil {
		t.Fatal(err)
	}
}

func TestAdmins(t *testing.T) {
	ctx := context.Background()
	actx := auditCtx()
	s := openTestStore(t)
	if _, err := s.CreateAdmin(actx, "Root@example.com", "secret password"); err != nil {
		t.Fatal(err)
	}
	create := []struct {
		name, email, pw string
		want            error
	}{
		{"duplicate", "root@EXAMPLE.com", "secret password", core.ErrExists},
		{"bad email", "not an address", "secret password", core.ErrInvalid},
		{"short password", "b@example.com", "short", core.ErrInvalid},
		{"ok", "b@example.com", "b's password", nil},
	}
	for _, tt := range create {
		t.Run("create "+tt.name, func(t *testing.T) {
			a, err := s.CreateAdmin(actx, tt.email, tt.pw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateAdmin: %v, want %v", err, tt.want)
			}
			if err == nil && (a.ID == 0 || a.Email != strings.ToLower(tt.email)) {
				t.Errorf("admin = %+v", a)
			}
		})
	}
	auth := []struct {
		name, email, pw string
		ok              bool
	}{
		{"ok", "root@example.com", "secret password", true},
		{"ok again (cached)", "ROOT@example.com", "secret password", true},
		{"wrong password", "root@example.com", "secret passwore", false},
		{"unknown", "nobody@example.com", "secret password", false},
		{"malformed", "nobody", "secret password", false},
	}
	for _, tt := range auth {
		t.Run("auth "+tt.name, func(t *testing.T) {
			a, err := s.AuthenticateAdmin(ctx, tt.email, tt.pw)
			if tt.ok {
				if err != nil || a.Email != "root@example.com" {
					t.Fatalf("AuthenticateAdmin = %+v, %v", a, err)
				}
			} else if !errors.Is(err, core.ErrAuthFailed) || a != nil {
				t.Fatalf("AuthenticateAdmin = %+v, %v; want ErrAuthFailed", a, err)
			}
		})
	}

	// A mail user with the same address does not authenticate as the admin.
	newTestUser(t, s, "b@example.com")
	if _, err := s.AuthenticateAdmin(ctx, "b@example.com", "correct horse"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("user's password accepted for admin: %v", err)
	}
	if _, err := s.Authenticate(ctx, "b@example.com", "b's password"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("admin's password accepted for user: %v", err)
	}

	if err := s.SetAdminPassword(actx, "root@example.com", "new password!"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdminPassword(actx, "nobody@example.com", "new password!"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetAdminPassword unknown: %v", err)
	}
	if err := s.SetAdminPassword(actx, "root@example.com", "x"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("SetAdminPassword short: %v", err)
	}
	if _, err := s.AuthenticateAdmin(ctx, "root@example.com", "secret password"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := s.AuthenticateAdmin(ctx, "root@example.com", "new password!"); err != nil {
		t.Errorf("new password: %v", err)
	}

	del := []struct {
		name, email string
		want        error
	}{
		{"unknown", "nobody@example.com", core.ErrNotFound},
		{"root", "root@example.com", nil},
		{"last", "b@example.com", core.ErrConflict},
	}
	for _, tt := range del {
		t.Run("delete "+tt.name, func(t *testing.T) {
			if err := s.DeleteAdmin(actx, tt.email); !errors.Is(err, tt.want) {
				t.Fatalf("DeleteAdmin: %v, want %v", err, tt.want)
			}
		})
	}
	as, _ := s.ListAdmins(ctx)
	if len(as) != 1 || as[0].Email != "b@example.com" {
		t.Errorf("admins = %+v", as)
	}
	for action, want := range map[string]int64{"admin.create": 2, "admin.password": 1, "admin.delete": 1} {
		if n := countAudit(t, s, audit.Filter{Action: action}); n != want {
			t.Errorf("%d %s rows, want %d", n, action, want)
		}
	}
}

func TestDomainAdmins(t *testing.T) {
	ctx := context.Background()
	actx := auditCtx()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.org")
	if _, err := s.CreateDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	add := []struct {
		name, user, domain string
		want               error
	}{
		{"ann example.com", "Ann@example.com", "Example.com", nil},
		{"ann example.net", "ann@example.com", "example.net", nil},
		{"bob example.com", "bob@example.org", "example.com", nil},
		{"duplicate", "ann@example.com", "example.com", core.ErrExists},
		{"unknown user", "carl@example.com", "example.com", core.ErrNotFound},
		{"unknown domain", "ann@example.com", "example.edu", core.ErrNotFound},
		{"bad address", "ann", "example.com", core.ErrInvalid},
		{"bad domain", "ann@example.com", "not a domain", core.ErrInvalid},
	}
	for _, tt := range add {
		t.Run("add "+tt.name, func(t *testing.T) {
			if err := s.AddDomainAdmin(actx, tt.user, tt.domain); !errors.Is(err, tt.want) {
				t.Fatalf("AddDomainAdmin: %v, want %v", err, tt.want)
			}
		})
	}
	if n := countAudit(t, s, audit.Filter{Action: "domain_admin.add"}); n != 3 {
		t.Errorf("%d domain_admin.add rows, want 3", n)
	}
	checkList := func(domain string, want ...string) {
		t.Helper()
		got, err := s.ListDomainAdmins(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("ListDomainAdmins(%s) = %v, want %v", domain, got, want)
		}
	}
	checkDomains := func(userID int64, want ...string) {
		t.Helper()
		got, err := s.AdminDomains(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("AdminDomains(%d) = %v, want %v", userID, got, want)
		}
	}
	checkList("example.com", "ann@example.com", "bob@example.org")
	checkList("example.net", "ann@example.com")
	checkList("example.org")
	checkDomains(ann.ID, "example.com", "example.net")
	checkDomains(bob.ID, "example.com")
	if _, err := s.ListDomainAdmins(ctx, "example.edu"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ListDomainAdmins unknown: %v", err)
	}
	if ok, err := s.IsDomainAdmin(ctx, ann.ID, "EXAMPLE.net"); err != nil || !ok {
		t.Errorf("IsDomainAdmin = %v, %v", ok, err)
	}
	if ok, err := s.IsDomainAdmin(ctx, bob.ID, "example.net"); err != nil || ok {
		t.Errorf("IsDomainAdmin = %v, %v", ok, err)
	}

	remove := []struct {
		name, user, domain string
		want               error
	}{
		{"ok", "bob@example.org", "example.com", nil},
		{"again", "bob@example.org", "example.com", core.ErrNotFound},
		{"unknown domain", "bob@example.org", "example.edu", core.ErrNotFound},
	}
	for _, tt := range remove {
		t.Run("remove "+tt.name, func(t *testing.T) {
			if err := s.RemoveDomainAdmin(actx, tt.user, tt.domain); !errors.Is(err, tt.want) {
				t.Fatalf("RemoveDomainAdmin: %v, want %v", err, tt.want)
			}
		})
	}
	checkDomains(bob.ID)

	// Deleting a domain removes its grants; deleting a user removes theirs.
	if err := s.AddDomainAdmin(ctx, "bob@example.org", "example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.net", false); err != nil {
		t.Fatal(err)
	}
	checkDomains(ann.ID, "example.com")
	checkDomains(bob.ID)
	if err := s.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.db.Model(&DomainAdmin{}).Count(&n).Error; err != nil || n != 0 {
		t.Errorf("%d domain-admin rows left (%v)", n, err)
	}
	// Deleting a domain with cascade removes its users' grants elsewhere.
	if err := s.AddDomainAdmin(ctx, "bob@example.org", "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.org", true); err != nil {
		t.Fatal(err)
	}
	checkList("example.com")
}
