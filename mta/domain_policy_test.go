package mta

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/mailstore"
)

// spamChain is the built-in spam filter with the server's default
// thresholds (junk 5, reject 15), skipped as cmd/yubin does.
func spamChain() *filters.Chain {
	return filters.NewChain(nil, filters.Stage{
		Filter: spam.New(spam.DefaultOptions()), Enabled: true, OnError: filters.FailOpen,
		SkipWhen: func(m *filters.Message) bool { return m.Policy.SkipSpam },
	})
}

// TestDomainFilterPolicy checks that the recipients' domains' filter
// settings apply: a domain rejecting from a spam score of 1 refuses a
// message (scoring 1: no Date) that a domain on the server's thresholds
// accepts; a message to both gets the stricter; the spam filter is skipped
// only when every recipient's domain turns it off.
func TestDomainFilterPolicy(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = spamChain() })
	ctx := context.Background()
	const carl = "carl@example.org"
	if _, err := ts.store.UpdateDomain(ctx, "example.org", mailstore.DomainUpdate{SpamRejectScore: mailstore.SetTo(1.0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("to-ann")); err != nil {
		t.Fatalf("example.com on the server's thresholds: %v", err)
	}
	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 1 || !strings.Contains(got[0], "X-Spam-Score: 1.0") {
		t.Fatalf("ann's INBOX %q", got)
	}
	_, err := ts.send(t, "sender@remote.example", []string{carl}, simpleMsg("to-carl"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	_, err = ts.send(t, "sender@remote.example", []string{ann, carl}, simpleMsg("to-both"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 1 {
		t.Fatalf("ann got %d messages, want 1", len(got))
	}

	// The spam filter off for example.org only: carl's mail is not
	// scored, mail to both still is, with example.org's threshold.
	if _, err := ts.store.UpdateDomain(ctx, "example.org", mailstore.DomainUpdate{SpamFilter: mailstore.SetTo(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{carl}, simpleMsg("to-carl-unfiltered")); err != nil {
		t.Fatalf("spam filter off: %v", err)
	}
	if got := messages(t, ts.store, carl, "INBOX"); len(got) != 1 || strings.Contains(got[0], "X-Spam-Score") {
		t.Fatalf("carl's INBOX %q", got)
	}
	_, err = ts.send(t, "sender@remote.example", []string{ann, carl}, simpleMsg("to-both-again"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})

	// Back to the server's settings: accepted.
	if _, err := ts.store.UpdateDomain(ctx, "example.org", mailstore.DomainUpdate{SpamRejectScore: mailstore.SetNull[float64](), SpamFilter: mailstore.SetNull[bool]()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{ann, carl}, simpleMsg("to-both-default")); err != nil {
		t.Fatalf("server's settings: %v", err)
	}
}
