package mailstore

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// otherOwnerRow is a table of another package that references bodies.
type otherOwnerRow struct {
	ID      int64
	BlobKey string
}

// TestSweepOrphanBodies: bodies left without metadata (a kill -9 between
// the body write and the commit) are removed; referenced bodies and recent
// ones (perhaps about to be committed) stay.
func TestSweepOrphanBodies(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	// Another package's table that references bodies (as the outbound
	// queue's does): the sweep must see it too.
	if err := s.MigrateTables(ctx, "test", &otherOwnerRow{}); err != nil {
		t.Fatal(err)
	}
	tables, err := s.blobTables(s.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"messages", "other_owner_rows", "quarantined_messages"} {
		if !slices.Contains(tables, want) {
			t.Errorf("the sweep does not look at %s (it looks at %v)", want, tables)
		}
	}

	u := newTestUser(t, s, "ann@example.com")
	if _, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader("Subject: kept\r\n\r\nhello\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	queued := otherOwnerRow{}
	queued.BlobKey, _, err = s.PutBody(ctx, strings.NewReader("queued elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTx(ctx, true, func(tx *gorm.DB, _ func(func())) error { return tx.Create(&queued).Error }); err != nil {
		t.Fatal(err)
	}
	oldOrphan, _, err := s.blobs.Put(ctx, strings.NewReader("orphan"))
	if err != nil {
		t.Fatal(err)
	}
	// An inline body committed without metadata (what a process killed
	// between the two leaves behind in the database).
	oldInline, _, err := s.inline.PutUnsynced(ctx, strings.NewReader("inline orphan"))
	if err != nil || !IsInlineKey(oldInline) {
		t.Fatalf("inline put: %q %v", oldInline, err)
	}
	flushWrites(t, s)
	// Everything so far was written two hours ago.
	past := time.Now().Add(-2 * time.Hour)
	if err := s.write(ctx, func(tx *writeTx) error {
		return tx.Exec("UPDATE inline_bodies SET written_at = ?", past.Unix()).Error
	}); err != nil {
		t.Fatal(err)
	}
	fb := s.files.(*FileBlobStore)
	err = fb.listBlobs(ctx, func(key string, _ time.Time) {
		p, _ := fb.path(key)
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	youngOrphan, _, err := s.blobs.Put(ctx, strings.NewReader("being committed"))
	if err != nil {
		t.Fatal(err)
	}

	youngInline, _, err := s.inline.PutUnsynced(ctx, strings.NewReader("inline, being committed"))
	if err != nil {
		t.Fatal(err)
	}
	flushWrites(t, s)

	n, err := s.SweepOrphanBodies(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want 2", n, err)
	}
	exists := func(key string) bool { return bodyExists(t, s, key) }
	if exists(oldOrphan) || exists(oldInline) {
		t.Error("an old orphan is still there")
	}
	if !exists(youngInline) {
		t.Error("the young inline orphan was removed")
	}
	if !exists(youngOrphan) {
		t.Error("the young orphan was removed")
	}
	if !exists(queued.BlobKey) {
		t.Error("the body another package's table references was removed")
	}
	mb, err := s.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	metas, err := s.ListMessages(ctx, mb.ID, nil)
	if err != nil || len(metas) != 1 {
		t.Fatalf("INBOX: %v %v", metas, err)
	}
	if got := readBody(t, s, &metas[0]); !strings.Contains(got, "hello") {
		t.Errorf("the kept message reads %q", got)
	}
	if n, err := s.SweepOrphanBodies(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("second sweep removed %d (%v), want 0", n, err)
	}
}
