package mailstore

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testdb"
)

// TestDeliverCreatesMailbox: a target with Create makes a missing mailbox
// (subscribed) in the delivery's transaction; without it, or with a name
// that cannot be a mailbox, the copy goes to INBOX.
func TestDeliverCreatesMailbox(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "ann@example.com")
	targets := []DeliveryTarget{
		{UserID: u.ID, Mailbox: "Invoices/2026", Create: true, Flags: []string{`\Seen`}},
		{UserID: u.ID, Mailbox: "Elsewhere"},
		{UserID: u.ID, Mailbox: "bad*name", Create: true},
	}
	res, err := s.Deliver(ctx, Delivery{Targets: targets, Body: strings.NewReader("Subject: x\r\n\r\nhi\r\n"), AllOrNothing: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("target %d: %v", i, r.Err)
		}
	}
	mb, err := s.GetMailbox(ctx, u.ID, "Invoices/2026")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].MailboxID != mb.ID {
		t.Fatalf("copy in mailbox %d, want %d", res[0].MailboxID, mb.ID)
	}
	ms, err := s.ListMessages(ctx, mb.ID, nil)
	if err != nil || len(ms) != 1 || !ms[0].HasFlag(`\Seen`) {
		t.Fatalf("Invoices/2026: %+v, %v", ms, err)
	}
	subs, err := s.ListSubscriptions(ctx, u.ID)
	if err != nil || !slices.Contains(subs, "Invoices/2026") {
		t.Fatalf("subscriptions %v, %v", subs, err)
	}
	if n := len(inboxMessages(t, s, u)); n != 2 {
		t.Fatalf("INBOX holds %d, want 2", n)
	}
	if _, err := s.GetMailbox(ctx, u.ID, "Elsewhere"); err == nil {
		t.Fatal("a mailbox was made without Create")
	}
}

// TestVacationReplies: a recorded reply is seen within its period, per
// handle and sender (case-insensitively), also after the store is opened
// again; deleting the user forgets them.
func TestVacationReplies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, s, "ann@example.com")
	now := time.Now()
	if err := s.RecordVacationReply(ctx, u.ID, "h1", "Bob@Remote.example", now.Add(-2*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	week := 7 * 24 * time.Hour
	for _, tt := range []struct {
		handle, sender string
		period         time.Duration
		want           bool
	}{
		{"h1", "bob@remote.example", week, true},
		{"h1", "BOB@remote.example", week, true},
		{"h1", "bob@remote.example", 24 * time.Hour, false}, // the period passed
		{"h2", "bob@remote.example", week, false},
		{"h1", "carl@remote.example", week, false},
	} {
		got, err := s.VacationReplied(ctx, u.ID, tt.handle, tt.sender, tt.period, now)
		if err != nil || got != tt.want {
			t.Errorf("VacationReplied(%s, %s, %v) = %v, %v; want %v", tt.handle, tt.sender, tt.period, got, err, tt.want)
		}
	}
	if err := s.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.db.Model(&vacationReply{}).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("%d vacation replies left after deleting the user, %v", n, err)
	}
}
