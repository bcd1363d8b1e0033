package mailstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestHeaderMemoryBound checks that the headers kept stay within the
// bound, oldest pushed out first, and that a body without a cached header
// is remembered as such.
func TestHeaderMemoryBound(t *testing.T) {
	m := newHeaderMemory(10 * (100 + 4 + headerMemoryEntry))
	for i := range 25 {
		m.put(fmt.Sprintf("k%03d", i), bytes.Repeat([]byte{'x'}, 100))
	}
	if m.used > m.max {
		t.Fatalf("%d bytes kept, bound %d", m.used, m.max)
	}
	for i := range 25 {
		_, ok := m.get(fmt.Sprintf("k%03d", i))
		if want := i >= 15; ok != want {
			t.Errorf("k%03d kept %v, want %v", i, ok, want)
		}
	}
	m.put("none", nil)
	if h, ok := m.get("none"); !ok || h != nil {
		t.Errorf("a body without a cached header: %q %v", h, ok)
	}
	m.put("huge", make([]byte, m.max))
	if _, ok := m.get("huge"); ok {
		t.Error("a header larger than the bound was kept")
	}
}

// TestListMessagesWithHeadersFromMemory checks that listings served from
// memory give the headers message_headers holds, the first time (read from the
// database) and the second (from memory), for every message and for a
// few, with bodies sharing a header row (a copy) among them.
func TestListMessagesWithHeadersFromMemory(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "mem@example.com")
	for i := range 30 {
		msg := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nSubject: m%d\r\nX-Other: not cached\r\n\r\nbody\r\n", i, i, i)
		if _, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := s.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, UIDs(3, 4), "INBOX", false); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for _, set := range []UIDSet{nil, UIDs(2, 4, 31, 32)} {
			want, err := s.ListMessages(ctx, inbox.ID, set)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if err := s.db.Raw("SELECT header FROM message_headers WHERE body_key = ?", want[i].BlobKey).Row().Scan(&want[i].CachedHeader); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.ListMessagesWithHeaders(ctx, inbox.ID, set)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("round %d, set %v: %d messages, want %d", round, set, len(got), len(want))
			}
			for i := range got {
				if got[i].UID != want[i].UID || !bytes.Equal(got[i].CachedHeader, want[i].CachedHeader) || got[i].CachedHeader == nil {
					t.Errorf("round %d, UID %d: header %q, want %q", round, got[i].UID, got[i].CachedHeader, want[i].CachedHeader)
				}
			}
		}
	}
	if _, ok := s.headerMem.get("no such body"); ok {
		t.Error("memory knows a body that does not exist")
	}
}
