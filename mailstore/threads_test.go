package mailstore

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAssignThreads: a body keeps its thread id; ids named by messages
// lead later messages (of the same user only) to their thread; expunged
// bodies and deleted users take their rows with them.
func TestAssignThreads(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	add := func(u *User) string {
		t.Helper()
		if _, err := s.Append(ctx, u.ID, Inbox, strings.NewReader("Subject: x\r\n\r\nx\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		metas, err := s.ListMessages(ctx, mustInbox(t, s, u.ID), nil)
		if err != nil {
			t.Fatal(err)
		}
		return metas[len(metas)-1].BlobKey
	}
	annInbox, bobInbox := mustInbox(t, s, ann.ID), mustInbox(t, s, bob.ID)
	k1, k2, k3 := add(ann), add(ann), add(bob)
	got, err := s.AssignThreads(ctx, annInbox, []ThreadItem{
		{BlobKey: k1, MessageIDs: []string{"a@x"}},
		{BlobKey: k2, MessageIDs: []string{"a@x", "b@x"}},
	})
	if err != nil || got[k1] == "" || got[k1] != got[k2] {
		t.Fatalf("ann's threads %v %v", got, err)
	}
	// bob's mail is his own: a@x means nothing there.
	other, err := s.AssignThreads(ctx, bobInbox, []ThreadItem{{BlobKey: k3, MessageIDs: []string{"a@x"}}})
	if err != nil || other[k3] == got[k1] {
		t.Fatalf("bob's thread %v %v", other, err)
	}
	// Given again, a body keeps its id.
	again, err := s.AssignThreads(ctx, annInbox, []ThreadItem{{BlobKey: k2, MessageIDs: []string{"z@x"}}})
	if err != nil || again[k2] != got[k2] {
		t.Fatalf("k2 again %v %v", again, err)
	}
	if ids, err := s.ThreadIDs(ctx, []string{k1, k2, k3, "none"}); err != nil || len(ids) != 3 {
		t.Fatalf("ThreadIDs %v %v", ids, err)
	}
	if _, err := s.StoreFlags(ctx, annInbox, UIDs(1), FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, annInbox, nil); err != nil {
		t.Fatal(err)
	}
	// The expunged message's body and thread stay while sessions may still
	// read it (RFC 2180), and go with its release.
	if ids, err := s.ThreadIDs(ctx, []string{k1, k2}); err != nil || len(ids) != 2 {
		t.Fatalf("after the expunge: %v %v", ids, err)
	}
	if _, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.ThreadIDs(ctx, []string{k1, k2}); err != nil || len(ids) != 1 || ids[k2] == "" {
		t.Fatalf("after the release: %v %v", ids, err)
	}
	if err := s.DeleteUser(ctx, ann.Address); err != nil {
		t.Fatal(err)
	}
	var refs int64
	if err := s.db.Model(&threadRef{}).Where("user_id = ?", ann.ID).Count(&refs).Error; err != nil || refs != 0 {
		t.Fatalf("%d of ann's thread references left: %v", refs, err)
	}
}

func mustInbox(t *testing.T, s *Store, userID int64) int64 {
	t.Helper()
	mb, err := s.GetMailbox(context.Background(), userID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return mb.ID
}
