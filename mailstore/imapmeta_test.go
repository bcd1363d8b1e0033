package mailstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testdb"
)

// Mailboxes from before the object_id column get an id of their own when
// the store opens; new ones get one at creation, and RENAME keeps it.
func TestMailboxObjectIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
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
	s = reopen(t, s, dir)
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

// A message's save date is when it entered its mailbox: a copy gets a new
// one; rows from before the column get their internal date once.
func TestSaveDates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, s, "saved@example.test")
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader("Subject: a\r\n\r\nx\r\n"), nil, old); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListMessages(ctx, inbox.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !list[0].InternalDate.Equal(old) || time.Since(list[0].SaveDate) > time.Hour {
		t.Fatalf("internal date %v, save date %v", list[0].InternalDate, list[0].SaveDate)
	}
	if _, err := s.CreateMailbox(ctx, u.ID, "Copies", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.wdb.Exec("UPDATE messages SET save_date = ?", old.Add(time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, nil, "Copies", false); err != nil {
		t.Fatal(err)
	}
	copies, err := s.GetMailbox(ctx, u.ID, "Copies")
	if err != nil {
		t.Fatal(err)
	}
	clist, err := s.ListMessages(ctx, copies.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(clist[0].SaveDate) > time.Hour {
		t.Fatalf("the copy kept the save date %v", clist[0].SaveDate)
	}
	// Rows from before the column: filled with the internal date on open.
	if err := s.wdb.Exec("UPDATE messages SET save_date = NULL").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.wdb.Exec("DELETE FROM counters WHERE name = 'save_dates_filled'").Error; err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	var nulls int64
	if err := s.db.Raw("SELECT COUNT(*) FROM messages WHERE save_date IS NULL").Scan(&nulls).Error; err != nil {
		t.Fatal(err)
	}
	list, err = s.ListMessages(ctx, inbox.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != 0 || !list[0].SaveDate.Equal(old) {
		t.Fatalf("after the migration: %d rows without a save date, INBOX's is %v", nulls, list[0].SaveDate)
	}
}

// reopen closes s and opens the store in dir again, closed at the end of
// the test.
func reopen(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	s.Close()
	s, err := Open(context.Background(), Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
