package mta

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// createAliases adds aliases to a test server's store.
func createAliases(tb testing.TB, ts *testServer, aliases map[string][]string) {
	tb.Helper()
	for a, targets := range aliases {
		if _, err := ts.store.CreateAlias(context.Background(), a, targets); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestAliasRecipients(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts, map[string][]string{
		"team@example.com":  {ann, bob, "carl@example.org"},
		"outer@example.com": {"team@example.com"},
		"mixed@example.com": {ann, "friend@elsewhere.example"},
		"away@example.com":  {"friend@elsewhere.example"},
		"dead@example.com":  {off, "nobody@example.com"},
		"@example.org":      {"carl@example.org"},
	})
	tests := []struct {
		rcpt string
		code int
		enh  smtp.EnhancedCode
	}{
		{"team@example.com", 250, smtp.EnhancedCode{2, 0, 0}},
		{"Outer@EXAMPLE.com", 250, smtp.EnhancedCode{2, 0, 0}},
		{"anything@example.org", 250, smtp.EnhancedCode{2, 0, 0}}, // catch-all
		{"mixed@example.com", 250, smtp.EnhancedCode{2, 0, 0}},    // external target: forwarded
		{"away@example.com", 250, smtp.EnhancedCode{2, 0, 0}},
		{"dead@example.com", 550, smtp.EnhancedCode{5, 1, 1}}, // leads nowhere
		{"nobody@example.com", 550, smtp.EnhancedCode{5, 1, 1}},
		{off, 550, smtp.EnhancedCode{5, 1, 1}},
	}
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			err := c.Rcpt(tt.rcpt, nil)
			if tt.code == 250 {
				if err != nil {
					t.Fatalf("RCPT: %v", err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.enh)
		})
	}
}

func TestMailToAliasReachesEveryTarget(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts, map[string][]string{
		"team@example.com":  {ann, bob, "carl@example.org", off, "gone@example.com"},
		"outer@example.com": {"team@example.com", ann},
	})
	// bob is also named directly, and twice through aliases: one copy each.
	if _, err := ts.send(t, "sender@remote.example", []string{"outer@example.com", bob}, simpleMsg("team")); err != nil {
		t.Fatal(err)
	}
	a, b, c := metas(t, ts.store, ann, "INBOX"), metas(t, ts.store, bob, "INBOX"), metas(t, ts.store, "carl@example.org", "INBOX")
	if len(a) != 1 || len(b) != 1 || len(c) != 1 {
		t.Fatalf("messages: ann %d, bob %d, carl %d", len(a), len(b), len(c))
	}
	// Each mailbox has its own copy (its own Delivered-To), the same
	// message below it.
	sa := stripDelivery(t, messages(t, ts.store, ann, "INBOX")[0])
	for _, u := range []string{bob, "carl@example.org"} {
		if su := stripDelivery(t, messages(t, ts.store, u, "INBOX")[0]); su != sa {
			t.Errorf("%s's copy differs below the delivery fields", u)
		}
	}
	if n := len(messages(t, ts.store, off, "INBOX")); n != 0 {
		t.Fatalf("disabled target got %d messages", n)
	}
	// The Received field names the address the message was sent to.
	ts2 := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts2, map[string][]string{"solo@example.com": {ann}})
	if _, err := ts2.send(t, "sender@remote.example", []string{"solo@example.com"}, simpleMsg("solo")); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts2.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("ann has %d messages", len(got))
	}
	if rcv, _ := splitReceived(t, got[0]); !strings.Contains(rcv, "for <solo@example.com>") {
		t.Errorf("Received: %q", rcv)
	}
}

func TestMailToCatchAll(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts, map[string][]string{"@example.org": {ann}})
	if _, err := ts.send(t, "sender@remote.example", []string{"whoever@example.org"}, simpleMsg("caught")); err != nil {
		t.Fatal(err)
	}
	// An existing account of the domain still gets its own mail.
	if _, err := ts.send(t, "sender@remote.example", []string{"carl@example.org"}, simpleMsg("direct")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("catch-all target has %d messages", n)
	}
	if n := len(messages(t, ts.store, "carl@example.org", "INBOX")); n != 1 {
		t.Fatalf("carl has %d messages", n)
	}
	// example.com has no catch-all.
	_, err := ts.send(t, "sender@remote.example", []string{"whoever@example.com"}, simpleMsg("lost"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 1, 1})
}

func TestExternalAliasTargetIsForwarded(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts, map[string][]string{"fwd@example.com": {bob, "friend@elsewhere.example"}})
	if _, err := ts.send(t, "sender@remote.example", []string{ann, "fwd@example.com"}, simpleMsg("both")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob has %d messages", n)
	}
	// Without SRS (Options.SRS nil) the sender stays as it was.
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || items[0].Message.From != "sender@remote.example" || !slices.Equal(recipientsOf(items[0]), []string{"friend@elsewhere.example"}) {
		t.Fatalf("queue: %+v", items)
	}
	if !strings.Contains(bodies[0], "Subject: both") || !strings.HasPrefix(bodies[0], "Received: ") {
		t.Fatalf("queued body:\n%s", bodies[0])
	}
}
