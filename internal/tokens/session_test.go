package tokens_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
)

// TestSessionRotation: a refresh token is exchanged once, even when two
// exchanges race; a second use revokes the session; a password change
// revokes every session of the account.
func TestSessionRotation(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.ms.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := s.ms.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.com", Password: "ann-password"})
	if err != nil {
		t.Fatal(err)
	}
	owner := tokens.Owner{Kind: tokens.OwnerUser, ID: u.ID, CredentialVersion: u.CredentialVersion}
	exp := time.Now().Add(time.Hour)
	first, err := s.StartSession(ctx, owner, exp)
	if err != nil {
		t.Fatal(err)
	}

	// Two racing exchanges of the same token: one wins, and the other's
	// reuse revokes the session, the winner's new token too.
	var wg sync.WaitGroup
	results := make([]error, 2)
	nexts := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o tokens.Owner
			nexts[i], o, results[i] = s.RotateSession(ctx, first, exp)
			if want := (tokens.Owner{Kind: owner.Kind, ID: owner.ID, CredentialVersion: owner.CredentialVersion, Family: first}); results[i] == nil && o != want {
				t.Errorf("owner %+v, want %+v", o, want)
			}
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
			if _, _, err := s.RotateSession(ctx, nexts[i], exp); !errors.Is(err, core.ErrAuthFailed) {
				t.Errorf("the winner's token after the reuse: %v, want ErrAuthFailed", err)
			}
		case !errors.Is(err, tokens.ErrRefreshReused):
			t.Errorf("the loser: %v, want tokens.ErrRefreshReused", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d exchanges won, want 1 (%v)", won, results)
	}

	// Expired and unknown tokens fail.
	old, err := s.StartSession(ctx, owner, time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{old, "unknown"} {
		if _, _, err := s.RotateSession(ctx, jti, exp); !errors.Is(err, core.ErrAuthFailed) {
			t.Errorf("%s: %v, want ErrAuthFailed", jti, err)
		}
	}

	// A new password ends every session and moves the version on.
	live, err := s.StartSession(ctx, owner, exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ms.SetPassword(ctx, "ann@example.com", "new-password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateSession(ctx, live, exp); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("session after a password change: %v", err)
	}
	if u2, _ := s.ms.GetUser(ctx, "ann@example.com"); u2.CredentialVersion != u.CredentialVersion+1 {
		t.Errorf("credential version %d, want %d", u2.CredentialVersion, u.CredentialVersion+1)
	}

	// Signing out ends the session.
	live, _ = s.StartSession(ctx, owner, exp)
	if err := s.EndSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateSession(ctx, live, exp); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("session after sign-out: %v", err)
	}
}
