package mailstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// openStoreWith opens the store of dir with sealer (nil: no encryption at
// rest); the caller closes it.
func openStoreWith(t *testing.T, dir string, sealer *blobcrypt.Sealer) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, Database: testdb.DSNIn(t, dir), Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// totpRow reads the authenticator row of a user.
func totpRow(t *testing.T, s *Store, userID int64) TOTPFactor {
	t.Helper()
	var f TOTPFactor
	if err := s.db.Where("user_id = ?", userID).Take(&f).Error; err != nil {
		t.Fatal(err)
	}
	return f
}

// dataFilesContain reports whether any file of the database (with its WAL)
// contains s.
func dataFilesContain(t *testing.T, dir, s string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "yubin.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestTOTPSecretSealedAtRest: with encryption at rest an authenticator
// secret never reaches the database in plaintext, codes from it still
// sign in, a sealed secret copied into another user's row opens for
// nobody, and without the key the factor fails closed.
func TestTOTPSecretSealedAtRest(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	dir := t.TempDir()
	s := openStoreWith(t, dir, sealer)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	en, err := s.StartTOTP(ctx, ann.Address, "Yubin")
	if err != nil {
		t.Fatal(err)
	}
	f := totpRow(t, s, ann.ID)
	if f.Secret != "" || !blobcrypt.IsSealed(f.Sealed) {
		t.Fatalf("stored secret %q, sealed %d bytes: want it sealed only", f.Secret, len(f.Sealed))
	}
	if bytes.Contains(f.Sealed, []byte(en.Secret)) {
		t.Fatal("the sealed form contains the secret")
	}
	if _, err := s.ConfirmTOTP(ctx, ann.Address, TOTPCodeNow(t, en.Secret, time.Now())); err != nil {
		t.Fatalf("confirm with a code of the sealed secret: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, ann.ID, FactorTOTP, TOTPCodeNow(t, en.Secret, time.Now().Add(30*time.Second))); err != nil {
		t.Fatalf("sign in with a code of the sealed secret: %v", err)
	}
	if dataFilesContain(t, dir, en.Secret) {
		t.Fatal("the database files contain the secret in plaintext")
	}

	// Copied into bob's row, ann's sealed secret does not open.
	if _, err := s.StartTOTP(ctx, bob.Address, "Yubin"); err != nil {
		t.Fatal(err)
	}
	annSealed := totpRow(t, s, ann.ID).Sealed
	if err := s.write(ctx, func(tx *writeTx) error {
		return tx.Model(&TOTPFactor{}).Where("user_id = ?", bob.ID).Update("sealed", annSealed).Error
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, bob.Address, TOTPCodeNow(t, en.Secret, time.Now())); err == nil || errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("ann's sealed secret, copied into bob's row: %v, want it not to open", err)
	}
	s.Close()

	// Without the key the secret cannot be read: the code is refused.
	s = openStoreWith(t, dir, nil)
	if _, err := s.VerifySecondFactor(ctx, ann.ID, FactorTOTP, TOTPCodeNow(t, en.Secret, time.Now().Add(60*time.Second))); err == nil {
		t.Fatal("a code was accepted without the key that seals the secret")
	}
	s.Close()
}

// TestTOTPSecretsSealedWhenKeyAdded: secrets stored before encryption at
// rest was configured are sealed when the store opens with the key, and
// keep working.
func TestTOTPSecretsSealedWhenKeyAdded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStoreWith(t, dir, nil)
	ann := newTestUser(t, s, "ann@example.com")
	en, err := s.StartTOTP(ctx, ann.Address, "Yubin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, ann.Address, TOTPCodeNow(t, en.Secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	if f := totpRow(t, s, ann.ID); f.Secret != en.Secret || len(f.Sealed) != 0 {
		t.Fatalf("without a key: stored %q, sealed %d bytes", f.Secret, len(f.Sealed))
	}
	s.Close()

	sealer, _ := newTestSealer(t)
	s = openStoreWith(t, dir, sealer)
	defer s.Close()
	f := totpRow(t, s, ann.ID)
	if f.Secret != "" || !blobcrypt.IsSealed(f.Sealed) || !f.Confirmed {
		t.Fatalf("after opening with the key: stored %q, sealed %d bytes, confirmed %v", f.Secret, len(f.Sealed), f.Confirmed)
	}
	if _, err := s.VerifySecondFactor(ctx, ann.ID, FactorTOTP, TOTPCodeNow(t, en.Secret, time.Now().Add(30*time.Second))); err != nil {
		t.Fatalf("sign in after the secret was sealed: %v", err)
	}
}

// TOTPCodeNow is the code of the base32 secret at t.
func TOTPCodeNow(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}
