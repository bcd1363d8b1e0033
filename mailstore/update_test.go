package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
)

func ptr[T any](v T) *T { return &v }

func TestUpdateUser(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")

	tests := []struct {
		name    string
		up      UserUpdate
		wantErr error
		check   func(*User) bool
	}{
		{"display name", UserUpdate{DisplayName: ptr("Ann Example")}, nil, func(u *User) bool { return u.DisplayName == "Ann Example" }},
		{"quota", UserUpdate{QuotaBytes: ptr[int64](1000), QuotaMessages: ptr[int64](3)}, nil, func(u *User) bool { return u.QuotaBytes == 1000 && u.QuotaMessages == 3 }},
		{"negative quota", UserUpdate{QuotaBytes: ptr[int64](-1)}, core.ErrInvalid, nil},
		{"bad name", UserUpdate{DisplayName: ptr(strings.Repeat("x", 201))}, core.ErrInvalid, nil},
		{"disable", UserUpdate{Enabled: ptr(false)}, nil, func(u *User) bool { return !u.Enabled && u.QuotaBytes == 1000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.UpdateUser(ctx, "ANN@example.com", tt.up)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(u) {
				t.Fatalf("user after update: %+v", u)
			}
		})
	}
	if _, err := s.UpdateUser(ctx, "nobody@example.com", UserUpdate{Enabled: ptr(true)}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown user: err = %v", err)
	}
	// Disabled: no mail, no login.
	if _, err := s.ResolveRecipient(ctx, "ann@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("disabled user resolves: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", "correct horse"); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("disabled user logs in: %v", err)
	}
}

func TestSetDomainEnabled(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "bob@example.org")
	if _, err := s.SetDomainEnabled(ctx, "EXAMPLE.org", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveRecipient(ctx, "bob@example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("user of a disabled domain resolves: %v", err)
	}
	if local, _ := s.IsLocalDomain(ctx, "example.org"); local {
		t.Fatal("disabled domain is local")
	}
	if _, err := s.Authenticate(ctx, "bob@example.org", "correct horse"); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("user of a disabled domain logs in: %v", err)
	}
	d, err := s.SetDomainEnabled(ctx, "example.org", true)
	if err != nil || !d.Enabled {
		t.Fatalf("enable: %+v, %v", d, err)
	}
	if _, err := s.ResolveRecipient(ctx, "bob@example.org"); err != nil {
		t.Fatalf("re-enabled domain: %v", err)
	}
	if _, err := s.SetDomainEnabled(ctx, "nowhere.example", true); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown domain: %v", err)
	}
}

// TestDeliverFailureLeavesNoBody checks that a delivery that stores nothing
// leaves no orphaned body in the blob store.
func TestDeliverFailureLeavesNoBody(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "cat@example.net")
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{QuotaBytes: ptr[int64](10)}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Deliver(ctx, Delivery{
		Targets:      []DeliveryTarget{{UserID: u.ID}, {UserID: 99999}},
		Body:         strings.NewReader("Subject: big\r\n\r\nmore than ten bytes\r\n"),
		EnforceQuota: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, core.ErrOverQuota) || !errors.Is(res[1].Err, core.ErrNotFound) {
		t.Fatalf("results: %+v", res)
	}
	files := blobFiles(t, s)
	if len(files) != 0 {
		t.Fatalf("orphaned bodies: %v", files)
	}
}
