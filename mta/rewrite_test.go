package mta

import (
	"context"
	"testing"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
)

// TestFilterRewriteApplied checks that a filter's Rewrite (what a milter's
// CHGHEADER, INSHEADER, REPLBODY, DELRCPT and CHGFROM ask for) changes what
// is stored, with the received fields the filters remove still removed and
// the changed fields kept, over a real SMTP session.
func TestFilterRewriteApplied(t *testing.T) {
	msg := "From: someone@remote.example\r\n" +
		"Authentication-Results: forged; dkim=pass\r\n" +
		"Subject: original\r\n" +
		"\r\n" +
		"old body\r\n"
	v := filters.Verdict{
		RemoveHeaders: []string{"Authentication-Results"},
		Rewrite: &filters.Rewrite{
			HeaderEdits: []filters.HeaderEdit{
				{Key: "Subject", Value: "changed", Index: 1},
				{Insert: true, Key: "X-Inserted", Value: "second\nline", Index: 1},
			},
			Body: []byte("new body\n"), ReplaceBody: true,
			RemoveRecipients: []string{"<" + bob + ">"},
			MailFrom:         "bounces@remote.example", ChangeMailFrom: true,
		},
	}
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, verdictFunc(nil, v))
	})
	if _, err := ts.send(t, "someone@remote.example", []string{ann, bob}, msg); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(got))
	}
	want := "From: someone@remote.example\r\n" +
		"X-Inserted: second\r\n\tline\r\n" +
		"Subject: changed\r\n" +
		"\r\n" +
		"new body\r\n"
	if _, rest := splitReceived(t, got[0]); rest != want {
		t.Errorf("stored\n%q\nwant\n%q", rest, want)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 0 {
		t.Errorf("bob, removed by the filter, got %d messages", n)
	}
}

// TestFilterRemovingEveryRecipientQuarantines checks that a message whose
// recipients a filter all removed is held, not dropped.
func TestFilterRemovingEveryRecipientQuarantines(t *testing.T) {
	v := filters.Verdict{Rewrite: &filters.Rewrite{RemoveRecipients: []string{ann}}}
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, verdictFunc(nil, v)) })
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	held, err := ts.store.ListQuarantine(context.Background(), mailstore.QuarantineFilter{})
	if err != nil || len(held) != 1 {
		t.Fatalf("quarantine holds %+v (%v), want the message", held, err)
	}
}

// TestQuarantineNamesDecidingStage checks that a quarantined message names
// the stage that decided, not the last stage that left evidence, and its
// reason once.
func TestQuarantineNamesDecidingStage(t *testing.T) {
	quarantine := namedFilter{"rspamd", verdictFunc(nil, filters.Verdict{Action: filters.Quarantine, Reason: "rspamd: quarantine",
		Evidence: []filters.Evidence{{Result: "quarantine"}}})}
	later := namedFilter{"spam", verdictFunc(nil, filters.Verdict{Action: filters.Junk, Reason: "spam score 6.0",
		Evidence: []filters.Evidence{{Result: "BAYES_99"}}})}
	ts := startServer(t, func(o *Options) {
		o.Filters = filters.NewChain(nil, filters.Stage{Filter: quarantine, Enabled: true}, filters.Stage{Filter: later, Enabled: true})
	})
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	held, err := ts.store.ListQuarantine(context.Background(), mailstore.QuarantineFilter{})
	if err != nil || len(held) != 1 {
		t.Fatalf("quarantine holds %+v (%v), want the message", held, err)
	}
	if held[0].Filter != "rspamd" || held[0].Reason != "quarantine" {
		t.Errorf("held with filter %q reason %q, want rspamd and \"quarantine\"", held[0].Filter, held[0].Reason)
	}
}

// namedFilter is a filter with a name of its own.
type namedFilter struct {
	name string
	filters.Filter
}

func (f namedFilter) Name() string { return f.name }

// TestFilterAddsRecipients checks a milter's ADDRCPT: a local address gets
// the message, an address elsewhere is not relayed to, an unknown one is
// ignored.
func TestFilterAddsRecipients(t *testing.T) {
	v := filters.Verdict{Rewrite: &filters.Rewrite{AddRecipients: []string{"<" + bob + ">", "someone@remote.example", "nobody@example.com"}}}
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, verdictFunc(nil, v)) })
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{ann, bob} {
		if n := len(messages(t, ts.store, u, "INBOX")); n != 1 {
			t.Errorf("%s has %d messages, want 1", u, n)
		}
	}
}
