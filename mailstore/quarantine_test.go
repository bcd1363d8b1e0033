package mailstore

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
)

func blobExists(t *testing.T, s *Store, key string) bool {
	t.Helper()
	b, err := s.blobs.Open(context.Background(), key)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		t.Fatal(err)
	}
	b.Close()
	return true
}

func quarantineTestMessage(subject string) string {
	return "From: spammer@example.net\nTo: ann@example.com\nSubject: " + subject + "\n\nBuy now!\n"
}

func TestQuarantineRelease(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	raw := quarantineTestMessage("cheap pills")
	wantBody := strings.ReplaceAll(raw, "\n", "\r\n")
	received := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	q, err := s.Quarantine(ctx, QuarantineInput{
		Body: strings.NewReader(raw), From: "spammer@example.net",
		Recipients: []string{"Ann@Example.com", "bob@example.com", "ann@example.com"},
		Subject:    "cheap\r\npills", Reason: "looks like spam", Filter: "spam", ReceivedAt: received,
	})
	if err != nil {
		t.Fatal(err)
	}
	if q.ID == 0 || q.Size != int64(len(wantBody)) || q.Subject != "cheap  pills" ||
		len(q.Recipients) != 2 || q.Recipients[0] != "ann@example.com" || !q.ReceivedAt.Equal(received) {
		t.Fatalf("quarantined = %+v", q)
	}
	other, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("other")), Recipients: []string{"bob@example.com"}, Filter: "antivirus"})
	if err != nil {
		t.Fatal(err)
	}

	list, err := s.ListQuarantine(ctx, QuarantineFilter{})
	if err != nil || len(list) != 2 || list[0].ID != other.ID || list[1].ID != q.ID {
		t.Fatalf("ListQuarantine = %+v, %v", list, err)
	}
	for _, tt := range []struct {
		rcpt string
		want int64
	}{{"", 2}, {"ANN@example.com", 1}, {"bob@example.com", 2}, {"an@example.com", 0}, {"carl@example.com", 0}} {
		n, err := s.CountQuarantine(ctx, QuarantineFilter{Recipient: tt.rcpt})
		if err != nil || n != tt.want {
			t.Errorf("CountQuarantine(%q) = %d, %v; want %d", tt.rcpt, n, err, tt.want)
		}
	}
	if list, err := s.ListQuarantine(ctx, QuarantineFilter{Limit: 1, Offset: 1}); err != nil || len(list) != 1 || list[0].ID != q.ID {
		t.Fatalf("paged ListQuarantine = %+v, %v", list, err)
	}
	if _, err := s.ListQuarantine(ctx, QuarantineFilter{Recipient: "not an address"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad recipient filter: %v", err)
	}
	got, err := s.GetQuarantined(ctx, q.ID)
	if err != nil || got.BlobKey != q.BlobKey || got.Reason != "looks like spam" || got.From != "spammer@example.net" {
		t.Fatalf("GetQuarantined = %+v, %v", got, err)
	}
	rc, err := s.OpenQuarantined(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != wantBody {
		t.Fatalf("OpenQuarantined = %q, %v", data, err)
	}

	if err := s.ReleaseQuarantined(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*User{ann, bob} {
		inbox, err := s.GetMailbox(ctx, u.ID, Inbox)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.ListMessages(ctx, inbox.ID, nil)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s INBOX: %+v, %v", u.Address, msgs, err)
		}
		if b := readBody(t, s, &msgs[0]); b != wantBody {
			t.Fatalf("%s delivered body = %q", u.Address, b)
		}
		if !msgs[0].InternalDate.Equal(received) {
			t.Errorf("internal date = %v, want %v", msgs[0].InternalDate, received)
		}
		usr, _ := s.GetUserByID(ctx, u.ID)
		if usr.UsedMessages != 1 || usr.UsedBytes != q.Size {
			t.Errorf("%s usage = %d messages, %d bytes", u.Address, usr.UsedMessages, usr.UsedBytes)
		}
	}
	if _, err := s.GetQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("released message still held: %v", err)
	}
	if err := s.ReleaseQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second release: %v", err)
	}
	if !blobExists(t, s, q.BlobKey) {
		t.Fatal("released body deleted")
	}
	// The body lives as long as a delivered copy does.
	inbox, _ := s.GetMailbox(ctx, ann.ID, Inbox)
	msgs, _ := s.ListMessages(ctx, inbox.ID, nil)
	if err := s.DeleteMessages(ctx, inbox.ID, []uint32{msgs[0].UID}); err != nil {
		t.Fatal(err)
	}
	if !blobExists(t, s, q.BlobKey) {
		t.Fatal("body deleted while bob's copy references it")
	}
	inbox, _ = s.GetMailbox(ctx, bob.ID, Inbox)
	msgs, _ = s.ListMessages(ctx, inbox.ID, nil)
	if err := s.DeleteMessages(ctx, inbox.ID, []uint32{msgs[0].UID}); err != nil {
		t.Fatal(err)
	}
	// Expunged bodies stay for the sessions that still show them
	// (RFC 2180) until their grace time is over.
	if _, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, q.BlobKey) {
		t.Fatal("body kept after the last copy was deleted")
	}

	if n, _ := s.CountQuarantine(ctx, QuarantineFilter{}); n != 1 {
		t.Fatalf("%d held after release, want 1", n)
	}
}

func TestQuarantineDelete(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	q, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("x")), Recipients: []string{"ann@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if !blobExists(t, s, q.BlobKey) {
		t.Fatal("body not stored")
	}
	if err := s.DeleteQuarantined(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, q.BlobKey) {
		t.Fatal("body not freed")
	}
	if err := s.DeleteQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.OpenQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
}

func TestQuarantineReleaseWithoutRecipients(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "ann@example.com")
	q, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("x")), Recipients: []string{"ann@example.com", "gone@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("release without recipients: %v", err)
	}
	if _, err := s.GetQuarantined(ctx, q.ID); err != nil {
		t.Fatalf("message not kept: %v", err)
	}
	if !blobExists(t, s, q.BlobKey) {
		t.Fatal("body of a kept message deleted")
	}
}

func TestQuarantineInvalid(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for name, in := range map[string]QuarantineInput{
		"no body":       {Recipients: []string{"a@example.com"}},
		"no recipients": {Body: strings.NewReader("x")},
		"bad recipient": {Body: strings.NewReader("x"), Recipients: []string{"nope"}},
	} {
		if _, err := s.Quarantine(ctx, in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nothing was left behind in the blob store.
	files := len(blobFiles(t, s))
	if files != 0 {
		t.Fatalf("%d blobs left", files)
	}
}

// TestQuarantineReasonNotDoubled checks that a reason starting with the
// filter's own name keeps it once: the item shows as "filter: reason".
func TestQuarantineReasonNotDoubled(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	for _, tt := range []struct{ filter, reason, want string }{
		{"rspamd", "rspamd: quarantine", "quarantine"},
		{"rspamd", "RSPAMD:  rspamd: quarantine", "quarantine"},
		{"milter", "looks odd", "looks odd"},
		{"spam", "spamassassin: x", "spamassassin: x"},
	} {
		q, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("r")), Recipients: []string{"bob@example.com"},
			Filter: tt.filter, Reason: tt.reason})
		if err != nil {
			t.Fatal(err)
		}
		if q.Reason != tt.want || q.Filter != tt.filter {
			t.Errorf("%s %q: stored %s %q, want %q", tt.filter, tt.reason, q.Filter, q.Reason, tt.want)
		}
	}
}

func TestQuarantineReleaseTo(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	q, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("invoice 42")), Recipients: []string{"ann@example.com", "bob@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	// Ann's script files it into a new folder, flagged; Bob's discards it.
	err = s.ReleaseQuarantinedTo(ctx, q.ID, []DeliveryTarget{{UserID: ann.ID, Mailbox: "Invoices", Create: true, Flags: []string{`\Flagged`}}})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.GetMailbox(ctx, ann.ID, "Invoices")
	if err != nil {
		t.Fatalf("Invoices not made: %v", err)
	}
	msgs, err := s.ListMessages(ctx, mb.ID, nil)
	if err != nil || len(msgs) != 1 || !strings.Contains(strings.Join(msgs[0].Flags, " "), `\Flagged`) {
		t.Fatalf("Invoices: %+v, %v", msgs, err)
	}
	for _, u := range []*User{ann, bob} {
		inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
		if msgs, _ := s.ListMessages(ctx, inbox.ID, nil); len(msgs) != 0 {
			t.Errorf("%s INBOX has %d messages", u.Address, len(msgs))
		}
	}
	if _, err := s.GetQuarantined(ctx, q.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("released message still held: %v", err)
	}

	// Every script discarded it: released, nothing stored, body freed.
	q2, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("junk")), Recipients: []string{"bob@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseQuarantinedTo(ctx, q2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetQuarantined(ctx, q2.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("discarded message still held: %v", err)
	}
	if blobExists(t, s, q2.BlobKey) {
		t.Fatal("body of a message released to no one kept")
	}

	// A target whose account is gone: the message stays held.
	q3, err := s.Quarantine(ctx, QuarantineInput{Body: strings.NewReader(quarantineTestMessage("x")), Recipients: []string{"bob@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseQuarantinedTo(ctx, q3.ID, []DeliveryTarget{{UserID: bob.ID + 1000}}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("release to a missing account: %v", err)
	}
	if _, err := s.GetQuarantined(ctx, q3.ID); err != nil {
		t.Fatalf("message not kept: %v", err)
	}
}
