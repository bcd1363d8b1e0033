package mailstore

import (
	"context"
	"testing"
)

// Mailboxes from before the object_id column get an id of their own when
// the store opens; new ones get one at creation, and RENAME keeps it.
func TestMailboxObjectIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, s, "ids@example.test")
	if _, err := s.CreateMailbox(ctx, u.ID, "Old", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.wdb.Exec("UPDATE mailboxes SET object_id = ''").Error; err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mbs, err := s.ListMailboxes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mb := range mbs {
		if mb.ObjectID == "" || seen[mb.ObjectID] {
			t.Fatalf("mailbox %q has id %q (seen: %v)", mb.Name, mb.ObjectID, seen)
		}
		seen[mb.ObjectID] = true
	}
	old, err := s.GetMailbox(ctx, u.ID, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, u.ID, "Old", "New"); err != nil {
		t.Fatal(err)
	}
	renamed, err := s.GetMailbox(ctx, u.ID, "New")
	if err != nil {
		t.Fatal(err)
	}
	if renamed.ObjectID != old.ObjectID {
		t.Fatalf("RENAME changed the id: %q, was %q", renamed.ObjectID, old.ObjectID)
	}
}
