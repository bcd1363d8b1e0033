package mailstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

// URLAUTH keys are per user and mailbox, made once, durable, dropped by
// ResetURLAuthKeys and with their mailbox or user; nobody gets a key for a
// mailbox that is not theirs.
func TestURLAuthKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	alice := newTestUser(t, s, "alice@example.test")
	bob := newTestUser(t, s, "bob@example.test")
	if _, err := s.CreateMailbox(ctx, alice.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.GetMailbox(ctx, alice.ID, "INBOX")
	work, _ := s.GetMailbox(ctx, alice.ID, "Work")

	if _, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, false); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("key before any: %v", err)
	}
	k1, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, true)
	if err != nil || len(k1) != URLAuthKeySize {
		t.Fatalf("key: %x %v", k1, err)
	}
	kw, _ := s.URLAuthKey(ctx, alice.ID, work.ID, true)
	if bytes.Equal(k1, kw) {
		t.Fatal("two mailboxes share a key")
	}
	if _, err := s.URLAuthKey(ctx, bob.ID, inbox.ID, true); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("bob's key for alice's INBOX: %v", err)
	}
	// Durable across a restart.
	s.Close()
	if s, err = Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, true); err != nil || !bytes.Equal(again, k1) {
		t.Fatalf("key after reopening: %x %v", again, err)
	}
	if err := s.ResetURLAuthKeys(ctx, alice.ID, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, false); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("key after reset: %v", err)
	}
	if k, _ := s.URLAuthKey(ctx, alice.ID, work.ID, false); !bytes.Equal(k, kw) {
		t.Fatal("resetting INBOX's key changed Work's")
	}
	if err := s.DeleteMailbox(ctx, alice.ID, "Work"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.db.Model(&urlAuthKey{}).Where("mailbox_id = ?", work.ID).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("keys of a deleted mailbox: %d %v", n, err)
	}
	if _, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetURLAuthKeys(ctx, alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Model(&urlAuthKey{}).Where("user_id = ?", alice.ID).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("keys after resetting all: %d %v", n, err)
	}
	if _, err := s.URLAuthKey(ctx, alice.ID, inbox.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "alice@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Model(&urlAuthKey{}).Where("user_id = ?", alice.ID).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("keys of a deleted user: %d %v", n, err)
	}
}
