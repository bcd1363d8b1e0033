package mailstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
)

// TestListMessageFlags checks that the lean listing gives the UIDs, flags
// and MODSEQs ListMessages gives (and ListMessageBodies those and the
// sizes and body keys), for every message, a few by UID, and a
// set too long to be turned into SQL, and an open range.
func TestListMessageFlags(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "flags@example.com")
	for i := range 40 {
		if _, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader("Subject: m\r\n\r\nbody\r\n")}); err != nil {
			t.Fatal(err, i)
		}
	}
	inbox, err := s.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i, fl := range [][]string{{`\Seen`}, {`\Flagged`, "$Label1"}, {`\Seen`}, {`\Deleted`, `\Answered`}} {
		if _, err := s.StoreFlags(ctx, inbox.ID, UIDs(uint32(2*i+1), uint32(2*i+10)), FlagsAdd, fl); err != nil {
			t.Fatal(err)
		}
	}
	every := make([]uint32, 0, 40)
	for uid := uint32(1); uid <= 40; uid++ {
		every = append(every, uid)
	}
	for _, set := range []UIDSet{nil, UIDs(1, 3, 10, 12, 99), UIDs(every...), {{Start: 30}}} {
		full, err := s.ListMessages(ctx, inbox.ID, set)
		if err != nil {
			t.Fatal(err)
		}
		lean, err := s.ListMessageFlags(ctx, inbox.ID, set)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) == 0 || len(lean) != len(full) {
			t.Fatalf("set %v: %d messages listed lean, %d in full", set, len(lean), len(full))
		}
		for i := range full {
			f, l := full[i], lean[i]
			if f.UID != l.UID || f.ModSeq != l.ModSeq || !slices.Equal(f.Flags, l.Flags) || l.BlobKey != "" || l.Size != 0 {
				t.Errorf("set %v: lean %+v, full %+v", set, l, f)
			}
		}
		bodies, err := s.ListMessageBodies(ctx, inbox.ID, set)
		if err != nil {
			t.Fatal(err)
		}
		if len(bodies) != len(full) {
			t.Fatalf("set %v: %d messages listed for their bodies, %d in full", set, len(bodies), len(full))
		}
		for i := range full {
			f, b := full[i], bodies[i]
			if f.UID != b.UID || f.ModSeq != b.ModSeq || !slices.Equal(f.Flags, b.Flags) || f.BlobKey != b.BlobKey || f.Size != b.Size ||
				b.BlobKey == "" || b.Size == 0 || !b.InternalDate.IsZero() {
				t.Errorf("set %v: for bodies %+v, full %+v", set, b, f)
			}
		}
	}

}

// BenchmarkListMessages compares the listings of a 100-message mailbox
// that IMAP commands make: all the metadata, with the cached headers, and
// only the flags.
func BenchmarkListMessages(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a context that can be cancelled, as a session's
	s := openTestStore(b)
	u := newTestUser(b, s, "list@example.com")
	for i := range 100 {
		msg := fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\nTo: list@example.com\r\nSubject: message %d\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\nbody\r\n", i, i, i, i)
		if _, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(msg)}); err != nil {
			b.Fatal(err)
		}
	}
	inbox, err := s.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []struct {
		name string
		list func(context.Context, int64, UIDSet) ([]MessageMeta, error)
	}{{"meta", s.ListMessages}, {"headers", s.ListMessagesWithHeaders}, {"flags", s.ListMessageFlags}, {"bodies", s.ListMessageBodies}} {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if list, err := l.list(ctx, inbox.ID, nil); err != nil || len(list) != 100 {
					b.Fatal(len(list), err)
				}
			}
		})
	}
}

// TestSnapshotFlags checks that SELECT's one listing gives what Snapshot
// and ListMessageFlags give apart, and as a sharee with private \Seen sees
// the mailbox, what ListMessageFlagsAs gives.
func TestSnapshotFlags(t *testing.T) {
	ctx := context.Background()
	s, ann, bob, proj := sharedProjects(t, 4)
	if _, err := s.StoreFlags(ctx, proj.ID, UIDs(1, 2), FlagsAdd, []string{FlagSeen, "$Work"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSeenAs(ctx, bob.ID, proj.ID, []uint32{3}, true); err != nil {
		t.Fatal(err)
	}
	uids, modSeq, err := s.Snapshot(ctx, proj.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user int64
		snap func() ([]MessageMeta, int64, error)
	}{
		{ann.ID, func() ([]MessageMeta, int64, error) { return s.SnapshotFlags(ctx, proj.ID) }},
		{bob.ID, func() ([]MessageMeta, int64, error) { return s.SnapshotFlagsAs(ctx, bob.ID, proj.ID) }},
	} {
		metas, gotModSeq, err := c.snap()
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.ListMessageFlagsAs(ctx, c.user, proj.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if gotModSeq != modSeq || len(metas) != len(uids) || len(metas) != len(want) {
			t.Fatalf("user %d: MODSEQ %d (want %d), %d messages (want %d)", c.user, gotModSeq, modSeq, len(metas), len(uids))
		}
		for i := range metas {
			if metas[i].UID != uids[i] || metas[i].UID != want[i].UID || !slices.Equal(metas[i].Flags, want[i].Flags) || metas[i].ModSeq != want[i].ModSeq {
				t.Errorf("user %d: %+v, want %+v", c.user, metas[i], want[i])
			}
		}
	}
	bobView, _, _ := s.SnapshotFlagsAs(ctx, bob.ID, proj.ID)
	if !bobView[2].HasFlag(FlagSeen) || bobView[0].HasFlag(FlagSeen) || !bobView[0].HasFlag("$Work") {
		t.Errorf("bob's flags: %+v", bobView)
	}
	// A FETCH of bodies in a shared mailbox shows bob's own \Seen too.
	bobBodies, err := s.ListMessageBodiesAs(ctx, bob.ID, proj.ID, nil)
	if err != nil || len(bobBodies) != len(bobView) {
		t.Fatalf("bob's listing for bodies: %d messages, %v", len(bobBodies), err)
	}
	for i := range bobView {
		if !slices.Equal(bobBodies[i].Flags, bobView[i].Flags) || bobBodies[i].BlobKey == "" {
			t.Errorf("bob's listing for bodies: %+v, his flags %+v", bobBodies[i], bobView[i])
		}
	}
	if _, _, err := s.SnapshotFlags(ctx, 1<<40); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("snapshot of no mailbox: %v", err)
	}
}
