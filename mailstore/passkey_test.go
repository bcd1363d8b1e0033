package mailstore

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/core"
)

// TestPasskeyStore: the first passkey turns two-factor sign-in on (with
// recovery codes, and the mail protocols refuse the account password);
// names and credentials are unique; of two sign-ins racing with the same
// signature counter one wins; the last second factor is not removed
// alone; new recovery codes replace the old; turning two-factor sign-in
// off and deleting the account remove the passkeys.
func TestPasskeyStore(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "long-password"})
	if err != nil {
		t.Fatal(err)
	}
	key := func(name, id string) *Passkey {
		return &Passkey{Name: name, CredentialID: []byte(id), UserHandle: []byte("handle"), PublicKey: []byte("cose")}
	}
	if _, err := s.AddPasskey(ctx, u.ID, key(" ", "c0")); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("a passkey without a name: %v", err)
	}
	if _, err := s.RegenerateRecoveryCodes(ctx, u.ID); !errors.Is(err, core.ErrConflict) {
		t.Errorf("recovery codes without a second factor: %v", err)
	}
	codes, err := s.AddPasskey(ctx, u.ID, key("Laptop", "c1"))
	if err != nil || len(codes) != recoveryCodeCount {
		t.Fatalf("first passkey: %d codes, %v", len(codes), err)
	}
	if got, _ := s.GetUserByID(ctx, u.ID); !got.SecondFactor {
		t.Fatal("the first passkey did not turn two-factor sign-in on")
	}
	if _, err := s.AuthenticateMail(ctx, u.Address, "long-password", ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("the account password opens IMAP with a passkey: %v", err)
	}
	if more, err := s.AddPasskey(ctx, u.ID, key("Phone", "c2")); err != nil || more != nil {
		t.Fatalf("second passkey: %v, %v", more, err)
	}
	if _, err := s.AddPasskey(ctx, u.ID, key("phone", "c3")); !errors.Is(err, core.ErrConflict) {
		t.Errorf("a name used twice: %v", err)
	}
	if _, err := s.AddPasskey(ctx, u.ID, key("Key", "c1")); !errors.Is(err, core.ErrConflict) {
		t.Errorf("a credential stored twice: %v", err)
	}
	other := key("Other", "c5")
	other.UserHandle = []byte("another handle")
	if _, err := s.AddPasskey(ctx, u.ID, other); !errors.Is(err, core.ErrConflict) {
		t.Errorf("a passkey for another user handle: %v", err)
	}
	// A passkeys-only account signs in with a recovery code.
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, codes[0]); err != nil {
		t.Errorf("recovery code of a passkeys-only account: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorTOTP, "123456"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("a TOTP code without an authenticator: %v", err)
	}

	ps, err := s.ListPasskeys(ctx, u.ID)
	if err != nil || len(ps) != 2 || ps[0].Name != "Laptop" || ps[1].Name != "Phone" {
		t.Fatalf("passkeys %+v, %v", ps, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 4 {
		wg.Go(func() {
			err := s.RecordPasskeyUse(ctx, ps[0].ID, 0, PasskeyUse{SignCount: 1, RemoteIP: "192.0.2.1"})
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, core.ErrAuthFailed) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d of 4 racing sign-ins with the same counter won", won)
	}
	if p, err := s.PasskeyByCredentialID(ctx, []byte("c1")); err != nil || p.SignCount != 1 || p.LastUsedAt == nil || p.LastUsedIP != "192.0.2.1" {
		t.Errorf("after a use: %+v, %v", p, err)
	}

	fresh, err := s.RegenerateRecoveryCodes(ctx, u.ID)
	if err != nil || len(fresh) != recoveryCodeCount {
		t.Fatalf("new recovery codes: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, codes[1]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an old recovery code after new ones were made: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, fresh[1]); err != nil {
		t.Errorf("a new recovery code: %v", err)
	}

	if err := s.DeletePasskey(ctx, u.ID, ps[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePasskey(ctx, u.ID, ps[0].ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a passkey deleted twice: %v", err)
	}
	if err := s.DeletePasskey(ctx, u.ID, ps[1].ID); !errors.Is(err, core.ErrConflict) {
		t.Errorf("the last second factor deleted alone: %v", err)
	}
	if err := s.RemoveSecondFactor(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.ListPasskeys(ctx, u.ID); len(ps) != 0 {
		t.Errorf("passkeys after two-factor sign-in was turned off: %+v", ps)
	}
	if got, _ := s.GetUserByID(ctx, u.ID); got.SecondFactor {
		t.Error("still a second factor")
	}

	if _, err := s.AddPasskey(ctx, u.ID, key("Laptop", "c4")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeyByCredentialID(ctx, []byte("c4")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a deleted account's passkey: %v", err)
	}
}
