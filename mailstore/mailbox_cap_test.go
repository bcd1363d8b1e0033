package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

// TestMailboxCap: a user cannot create more mailboxes than MaxMailboxes;
// the error says why and is a conflict for every server.
func TestMailboxCap(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir(), Database: testdb.DSN(t), MaxMailboxes: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := newTestUser(t, s, "ann@example.com")
	boxes, err := s.ListMailboxes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(boxes); i < 7; i++ {
		if _, err := s.CreateMailbox(ctx, u.ID, "Box "+strings.Repeat("x", i), ""); err != nil {
			t.Fatalf("mailbox %d of 7: %v", i+1, err)
		}
	}
	_, err = s.CreateMailbox(ctx, u.ID, "One too many", "")
	if !errors.Is(err, ErrTooManyMailboxes) || !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "too many mailboxes (at most 7") {
		t.Errorf("the 8th mailbox: %v", err)
	}
}
