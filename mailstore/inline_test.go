package mailstore

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// TestInlineBodies: a small body is kept inline (committed with its
// message), a large one as a file; both read back byte for byte; COPY
// shares the body; an expunged message's body stays for the sessions that
// still show it, its quota is released at once, and the body goes once
// its grace time is over and nothing else references it.
func TestInlineBodies(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "ann@example.com")
	small := "Subject: small\r\n\r\n" + strings.Repeat("small body line\r\n", 100)
	large := "Subject: large\r\n\r\n" + strings.Repeat("large body line, past the inline limit\r\n", DefaultInlineMax/30)
	for _, body := range []string{small, large} {
		if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body)}); err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
	inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
	msgs, err := s.ListMessages(ctx, inbox.ID, nil)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("INBOX: %v %v", msgs, err)
	}
	if !IsInlineKey(msgs[0].BlobKey) || IsInlineKey(msgs[1].BlobKey) {
		t.Fatalf("keys %q (small) and %q (large): want the small one inline only", msgs[0].BlobKey, msgs[1].BlobKey)
	}
	if got := readBody(t, s, &msgs[0]); got != small {
		t.Fatalf("small body read back differs (%d bytes)", len(got))
	}
	if got := readBody(t, s, &msgs[1]); got != large {
		t.Fatalf("large body read back differs (%d bytes)", len(got))
	}
	if b := storedBytes(t, s, msgs[0].BlobKey); string(b) != small {
		t.Fatal("the inline body is not stored as delivered")
	}

	if _, err := s.CopyMessages(ctx, inbox.ID, UIDs(msgs[0].UID), "Archive", false); err != nil {
		t.Fatal(err)
	}
	archive, _ := s.GetMailbox(ctx, u.ID, "Archive")
	copies, _ := s.ListMessages(ctx, archive.ID, nil)
	if len(copies) != 1 || copies[0].BlobKey != msgs[0].BlobKey {
		t.Fatalf("the copy does not share the body: %+v", copies)
	}

	before, _ := s.GetUserByID(ctx, u.ID)
	if err := s.DeleteMessages(ctx, inbox.ID, []uint32{msgs[0].UID, msgs[1].UID}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.GetUserByID(ctx, u.ID)
	if after.UsedMessages != before.UsedMessages-2 || after.UsedBytes != before.UsedBytes-int64(len(small)+len(large)) {
		t.Fatalf("usage after the expunge: %d msgs %d bytes, before %d %d", after.UsedMessages, after.UsedBytes, before.UsedMessages, before.UsedBytes)
	}
	// A session that still shows them may read them (RFC 2180).
	gone, err := s.ListExpunged(ctx, inbox.ID, []uint32{msgs[0].UID, msgs[1].UID, 99})
	if err != nil || len(gone) != 2 || gone[0].BlobKey != msgs[0].BlobKey || gone[1].Size != int64(len(large)) {
		t.Fatalf("ListExpunged: %+v %v", gone, err)
	}
	if got := readBody(t, s, &gone[1]); got != large {
		t.Fatal("the expunged large body is not readable")
	}
	if n, err := s.ReleaseExpunged(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("release within the grace time: %d %v", n, err)
	}
	// Past the grace time: the large body goes, the small one stays (the
	// copy in Archive references it).
	if n, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("release after the grace time: %d %v, want 1", n, err)
	}
	if bodyExists(t, s, msgs[1].BlobKey) || !bodyExists(t, s, msgs[0].BlobKey) {
		t.Fatal("after the release: want the large body gone and the shared small one kept")
	}
	if gone, _ := s.ListExpunged(ctx, inbox.ID, []uint32{msgs[0].UID}); len(gone) != 0 {
		t.Fatalf("released messages still listed: %+v", gone)
	}
	if got := readBody(t, s, &copies[0]); got != small {
		t.Fatal("the copy's body is damaged")
	}
	if err := s.DeleteMessages(ctx, archive.ID, []uint32{copies[0].UID}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("release of the last copy: %d %v, want 1", n, err)
	}
	if bodyExists(t, s, msgs[0].BlobKey) {
		t.Fatal("the inline body outlived its last message")
	}
	if _, err := s.OpenMessage(ctx, &copies[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a released body: %v", err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("bodies left behind: %v", files)
	}
}

// TestInlineBodyReadBeforeCommit: a body just written (not yet committed)
// reads back, and a deleted one no longer does, before any commit.
func TestInlineBodyReadBeforeCommit(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	key, n, err := s.inline.PutUnsynced(ctx, strings.NewReader("pending body"))
	if err != nil || n != 12 || !IsInlineKey(key) {
		t.Fatalf("put: %q %d %v", key, n, err)
	}
	b, err := s.blobs.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := s.blobs.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.blobs.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after delete: %v", err)
	}
	if bodyExists(t, s, key) {
		t.Fatal("the deleted body was committed")
	}
}
