package mailstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestListMessageFlags checks that the lean listing gives the UIDs, flags
// and MODSEQs ListMessages gives, for every message, a few by UID, and a
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
	}{{"meta", s.ListMessages}, {"headers", s.ListMessagesWithHeaders}, {"flags", s.ListMessageFlags}} {
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
