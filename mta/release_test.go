package mta

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
)

// TestReleaseQuarantinedRunsSieve: a held message, once released, goes
// through its recipients' scripts as a delivery would: fileinto with
// flags, a reject (the message was accepted long ago: a rejection message
// to the sender, never an SMTP reply), a redirect elsewhere and a vacation
// reply (through the queue), a recipient without a script (INBOX).
func TestReleaseQuarantinedRunsSieve(t *testing.T) {
	ctx := context.Background()
	hold := verdictFunc(nil, filters.Verdict{Action: filters.Quarantine, Reason: "suspicious"})
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, hold) })
	setScript(t, ts.store, ann, `require ["fileinto", "mailbox", "imap4flags", "reject"];
if header :contains "subject" "invoice" { fileinto :create :flags "\\Flagged" "Invoices"; stop; }
if header :contains "subject" "ads" { reject "No ads, please."; stop; }
`)
	setScript(t, ts.store, bob, `require ["vacation"];
redirect "bob.elsewhere@remote.example";
vacation :days 1 :subject "Away" "I am away.";
`)
	for _, m := range []struct {
		rcpts   []string
		subject string
	}{{[]string{ann, small}, "invoice 7"}, {[]string{ann}, "ads for you"}, {[]string{bob}, "hello bob"}} {
		msg := strings.Replace(simpleMsg(m.subject), "To: Ann <ann@example.com>", "To: <"+m.rcpts[0]+">", 1)
		if _, err := ts.send(t, "sender@remote.example", m.rcpts, msg); err != nil {
			t.Fatalf("%s: %v", m.subject, err)
		}
	}
	held, err := ts.store.ListQuarantine(ctx, mailstore.QuarantineFilter{})
	if err != nil || len(held) != 3 {
		t.Fatalf("held: %d, %v", len(held), err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Fatalf("ann's INBOX holds %d before the release", n)
	}
	for _, q := range held {
		if err := ts.ReleaseQuarantined(ctx, q.ID); err != nil {
			t.Fatalf("release %q: %v", q.Subject, err)
		}
	}
	if n, _ := ts.store.CountQuarantine(ctx, mailstore.QuarantineFilter{}); n != 0 {
		t.Fatalf("%d still held", n)
	}
	if err := ts.ReleaseQuarantined(ctx, held[0].ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second release: %v, want not found", err)
	}
	inv := metas(t, ts.store, ann, "Invoices")
	if len(inv) != 1 || !inv[0].HasFlag(`\Flagged`) {
		t.Fatalf("ann's Invoices: %+v", inv)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Errorf("ann's INBOX holds %d; the script filed or rejected everything", n)
	}
	if got := messages(t, ts.store, small, "INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: invoice 7") {
		t.Errorf("small (no script) INBOX: %d messages", len(got))
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 0 {
		t.Errorf("bob's INBOX holds %d; his script redirects without keeping", n)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	var rejection, redirect, vacation bool
	for i, it := range items {
		to := recipientsOf(it)
		switch {
		case slices.Equal(to, []string{"sender@remote.example"}) && strings.Contains(bodies[i], "No ads, please."):
			rejection = it.Message.From == "" && strings.Contains(bodies[i], "disposition-notification")
		case slices.Equal(to, []string{"bob.elsewhere@remote.example"}):
			redirect = strings.Contains(bodies[i], "Subject: hello bob")
		case slices.Equal(to, []string{"sender@remote.example"}) && strings.Contains(bodies[i], "Subject: Away"):
			vacation = strings.Contains(bodies[i], "Auto-Submitted: auto-replied")
		}
	}
	if !rejection || !redirect || !vacation {
		t.Fatalf("queued: rejection %v, redirect %v, vacation %v; %d items", rejection, redirect, vacation, len(items))
	}
}
