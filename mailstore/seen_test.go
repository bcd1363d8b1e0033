package mailstore

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestPrivateSeen: in a shared mailbox each user has their own \Seen (the
// owner's in the message), other flags are everyone's, MODSEQ moves for
// the user whose \Seen changed, and the states go with expunged messages,
// the mailbox and the user.
func TestPrivateSeen(t *testing.T) {
	ctx := context.Background()
	s, ann, bob, proj := sharedProjects(t, 3)
	seenUIDs := func(userID int64) (uids []uint32, modseqs []int64) {
		t.Helper()
		metas, err := s.ListMessagesAs(ctx, userID, proj.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metas {
			if m.HasFlag(FlagSeen) {
				uids = append(uids, m.UID)
			}
			modseqs = append(modseqs, m.ModSeq)
		}
		return uids, modseqs
	}
	unseen := func(userID int64) uint32 {
		t.Helper()
		st, err := s.StatusAs(ctx, userID, proj.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.Unseen
	}
	if private, err := s.PrivateSeen(ctx, proj.ID); err != nil || !private {
		t.Fatalf("PrivateSeen by default = %v %v", private, err)
	}
	_, annMod := seenUIDs(ann.ID)
	// bob reads 1 and 2, flags 2: \Flagged is everyone's.
	ups, _, err := s.StoreFlagsAs(ctx, bob.ID, proj.ID, UIDs(1, 2), FlagsAdd, []string{FlagSeen}, -1)
	if err != nil || len(ups) != 2 || !ups[0].Changed || ups[0].Flags[0] != FlagSeen {
		t.Fatalf("bob's STORE: %+v %v", ups, err)
	}
	if _, _, err := s.StoreFlagsAs(ctx, bob.ID, proj.ID, UIDs(2), FlagsAdd, []string{FlagFlagged}, -1); err != nil {
		t.Fatal(err)
	}
	bobSeen, bobMod := seenUIDs(bob.ID)
	annSeen, annMod2 := seenUIDs(ann.ID)
	if len(bobSeen) != 2 || len(annSeen) != 0 || unseen(bob.ID) != 1 || unseen(ann.ID) != 3 {
		t.Fatalf("seen: bob %v (unseen %d), ann %v (unseen %d)", bobSeen, unseen(bob.ID), annSeen, unseen(ann.ID))
	}
	if bobMod[0] <= annMod[0] || annMod2[0] != annMod[0] || annMod2[1] <= annMod[1] {
		t.Fatalf("MODSEQs: ann %v then %v, bob %v", annMod, annMod2, bobMod)
	}
	metas, _ := s.ListMessagesAs(ctx, ann.ID, proj.ID, UIDs(2))
	if len(metas) != 1 || !metas[0].HasFlag(FlagFlagged) {
		t.Fatalf("ann does not see bob's \\Flagged: %+v", metas)
	}
	// An UNCHANGEDSINCE below bob's own MODSEQ fails for him only.
	if _, modified, err := s.StoreFlagsAs(ctx, bob.ID, proj.ID, UIDs(1), FlagsRemove, []string{FlagSeen}, annMod[0]); err != nil || len(modified) != 1 {
		t.Fatalf("bob's conditional STORE: %v %v", modified, err)
	}
	if _, modified, err := s.StoreFlagsAs(ctx, ann.ID, proj.ID, UIDs(1), FlagsAdd, []string{FlagSeen}, annMod[0]); err != nil || len(modified) != 0 {
		t.Fatalf("ann's conditional STORE: %v %v", modified, err)
	}
	if seen, _ := seenUIDs(ann.ID); len(seen) != 1 || seen[0] != 1 {
		t.Fatalf("ann's seen: %v", seen)
	}

	// Shared: everyone sees the message's own \Seen (ann's); private
	// again, bob's come back.
	if err := s.SetPrivateSeen(ctx, proj.ID, false); err != nil {
		t.Fatal(err)
	}
	if seen, _ := seenUIDs(bob.ID); len(seen) != 1 || seen[0] != 1 {
		t.Fatalf("bob's seen once shared: %v", seen)
	}
	if err := s.SetPrivateSeen(ctx, proj.ID, true); err != nil {
		t.Fatal(err)
	}
	if seen, _ := seenUIDs(bob.ID); len(seen) != 2 {
		t.Fatalf("bob's seen private again: %v", seen)
	}

	count := func() int64 {
		var n int64
		if err := s.db.Model(&privateSeen{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Expunge forgets the states of the messages that go.
	if _, err := s.StoreFlags(ctx, proj.ID, UIDs(1), FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, proj.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d private states after the expunge, want 1", n)
	}
	if err := s.DeleteUser(ctx, bob.Address); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d private states after bob is gone", n)
	}
	if err := s.DeleteMailbox(ctx, ann.ID, "Projects"); err != nil {
		t.Fatal(err)
	}
	var settings int64
	if err := s.db.Model(&seenSetting{}).Count(&settings).Error; err != nil || settings != 0 {
		t.Fatalf("%d seen settings after the mailbox is gone: %v", settings, err)
	}
}

// sharedProjects opens a store where ann's mailbox "Projects" holds n
// messages and is shared with bob (lrswte, so bob has a private \Seen).
func sharedProjects(t *testing.T, n int) (s *Store, ann, bob *User, proj *Mailbox) {
	t.Helper()
	ctx := context.Background()
	s = openTestStore(t)
	ann = newTestUser(t, s, "ann@example.com")
	bob = newTestUser(t, s, "bob@example.com")
	proj, err := s.CreateMailbox(ctx, ann.ID, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMailboxRights(ctx, proj.ID, bob.Address, "lrswte"); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := s.Append(ctx, ann.ID, "Projects", strings.NewReader("Subject: x\r\n\r\nx\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	return s, ann, bob, proj
}
