package blobcrypt

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"filippo.io/age"
)

// TestUserKey: mail sealed to a user's public key opens only with the key
// unlocked by their password; a password change keeps the mail readable
// with the new password only; an administrator's reset keeps it readable
// with the domain's recovery key and loses it without one.
func TestUserKey(t *testing.T) {
	recovery, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewUserKey("first password", recovery.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(k.Sealed, []byte("AGE-SECRET-KEY")) {
		t.Fatal("the private key is stored in the clear")
	}
	deliver, err := UserSealer(k.Public)
	if err != nil {
		t.Fatal(err)
	}
	mail := []byte("Subject: private\r\n\r\nUSER-KEY-MARKER\r\n")
	sealed := seal(t, deliver, testKey, mail)
	if bytes.Contains(sealed, []byte("USER-KEY-MARKER")) {
		t.Fatal("plaintext in the sealed body")
	}
	read := func(id *age.X25519Identity) ([]byte, error) {
		b, err := SessionSealer(id).Open(bytes.NewReader(sealed), int64(len(sealed)), testKey)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		return io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	}

	// Without the password: the server key, another user, a wrong password.
	if _, err := testSealer(t, false).Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); err == nil {
		t.Fatal("the server key opened user-key mail")
	}
	if _, err := k.Unlock("wrong password"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	other, _ := NewUserKey("first password", nil)
	oid, _ := other.Unlock("first password")
	if _, err := read(oid); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another user's key: %v", err)
	}

	id, err := k.Unlock("first password")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(id); err != nil || !bytes.Equal(got, mail) {
		t.Fatalf("unlocked: %q, %v", got, err)
	}

	// Password change.
	k2, err := k.ChangePassword("first password", "second password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ChangePassword("not it", "x"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("change with a wrong old password: %v", err)
	}
	if _, err := k2.Unlock("first password"); !errors.Is(err, ErrWrongPassword) {
		t.Fatal("the old password still opens the key")
	}
	id2, err := k2.Unlock("second password")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(id2); err != nil || !bytes.Equal(got, mail) {
		t.Fatalf("after the change: %v", err)
	}

	// Reset with the recovery key.
	if !k2.Recoverable() || other.Recoverable() {
		t.Fatal("Recoverable is wrong")
	}
	k3, err := k2.Recover(recovery, "third password")
	if err != nil {
		t.Fatal(err)
	}
	id3, err := k3.Unlock("third password")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(id3); err != nil || !bytes.Equal(got, mail) {
		t.Fatalf("after the recovery: %v", err)
	}
	wrongRecovery, _ := age.GenerateX25519Identity()
	if _, err := k2.Recover(wrongRecovery, "x"); err == nil {
		t.Fatal("another recovery key recovered")
	}
	if _, err := other.Recover(recovery, "x"); err == nil {
		t.Fatal("recovered a key without a recovery copy")
	}
}
