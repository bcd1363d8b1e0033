package mta

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
)

// deliveredTo returns the Delivered-To field of the newest message in the
// INBOX of addr ("" if it has none), and how many messages it holds.
func deliveredTo(tb testing.TB, st *mailstore.Store, addr string) (string, int) {
	tb.Helper()
	got := messages(tb, st, addr, "INBOX")
	if len(got) == 0 {
		return "", 0
	}
	head, _, _ := strings.Cut(got[len(got)-1], "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Delivered-To: "); ok {
			return v, len(got)
		}
	}
	return "", len(got)
}

// TestSubaddressDelivery: issue 19 item 1. user+detail@ reaches user (an
// account or an alias), the Delivered-To field of the copy keeps the
// detail; an exact account or alias beats a subaddress, which beats the
// catch-all.
func TestSubaddressDelivery(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	ctx := context.Background()
	createAliases(t, ts, map[string][]string{
		"annonly@example.com":  {ann},                    // an alias for one account
		"bob+list@example.com": {bob},                    // an alias whose name has the delimiter
		"info@example.com":     {"ann+info@example.com"}, // a target with a detail
		"@example.org":         {bob},                    // catch-all
	})
	if _, err := ts.store.CreateUser(ctx, mailstore.NewUser{Address: "ann+vip@example.com", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rcpt, mailbox, deliveredTo string
	}{
		{"ann+newsletter@example.com", ann, "ann+newsletter@example.com"},
		{"Ann+Shop@Example.COM", ann, "ann+shop@example.com"},
		{"ann+@example.com", ann, "ann+@example.com"},                         // an empty detail
		{"ann+a+b@example.com", ann, "ann+a+b@example.com"},                   // the detail holds the second +
		{"annonly+x@example.com", ann, "ann+x@example.com"},                   // the alias passes the detail on
		{"info@example.com", ann, "ann+info@example.com"},                     // alias target with a detail
		{"ann+vip@example.com", "ann+vip@example.com", "ann+vip@example.com"}, // exact account wins
		{"ann+vip+x@example.com", "ann+vip@example.com", "ann+vip+x@example.com"},
		{"bob+list@example.com", bob, "bob@example.com"},                 // exact alias wins (no detail)
		{"carl+x@example.org", "carl@example.org", "carl+x@example.org"}, // subaddress beats catch-all
		{"zed+x@example.org", bob, "bob@example.com"},                    // catch-all, as before
		{"用户+detail@example.com", utf8U, "用户+detail@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			_, before := deliveredTo(t, ts.store, tt.mailbox)
			c := ts.dial(t)
			defer c.Close()
			if err := c.Mail("sender@remote.example", &smtp.MailOptions{UTF8: true}); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt(tt.rcpt, nil); err != nil {
				t.Fatalf("RCPT %s: %v", tt.rcpt, err)
			}
			if err := finishData(t, c, simpleMsg("to "+tt.rcpt)); err != nil {
				t.Fatalf("DATA: %v", err)
			}
			got, n := deliveredTo(t, ts.store, tt.mailbox)
			if n != before+1 {
				t.Fatalf("%s holds %d messages, want %d", tt.mailbox, n, before+1)
			}
			if got != tt.deliveredTo {
				t.Errorf("Delivered-To: %q, want %q", got, tt.deliveredTo)
			}
		})
	}
	// ann+x and ann in one transaction: one copy.
	_, before := deliveredTo(t, ts.store, ann)
	if _, err := ts.send(t, "sender@remote.example", []string{"ann+x@example.com", ann}, simpleMsg("twice")); err != nil {
		t.Fatal(err)
	}
	if _, n := deliveredTo(t, ts.store, ann); n != before+1 {
		t.Fatalf("ann holds %d messages, want %d", n, before+1)
	}
}

// TestSubaddressRefusals: issue 19 item 1. A subaddress of an unknown
// user, a disabled account, a domain not served, or of any address with
// subaddressing off, is refused as the address itself would be.
func TestSubaddressRefusals(t *testing.T) {
	tests := []struct {
		delims, rcpt string
		code         int
		enh          smtp.EnhancedCode
	}{
		{"+", "nobody+x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},
		{"+", "+x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},          // nothing before the +
		{"+", "off+x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},       // disabled account
		{"+", "gone@disabled.org", 550, smtp.EnhancedCode{5, 7, 1}},       // a disabled domain is not served,
		{"+", "gone+x@disabled.org", 550, smtp.EnhancedCode{5, 7, 1}},     // with or without a detail
		{"+", "ann+x@elsewhere.example", 550, smtp.EnhancedCode{5, 7, 1}}, // not a relay
		{"+", "ann-x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},       // - is not a delimiter
		{"", "ann+x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},        // subaddressing off
		{"-", "ann+x@example.com", 550, smtp.EnhancedCode{5, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%s", tt.delims, tt.rcpt), func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.SubaddressDelimiters = tt.delims })
			c := ts.dial(t)
			defer c.Close()
			if err := c.Mail("sender@remote.example", nil); err != nil {
				t.Fatal(err)
			}
			wantCode(t, c.Rcpt(tt.rcpt, nil), tt.code, tt.enh)
			if err := c.Rcpt(ann, nil); err != nil {
				t.Fatalf("RCPT %s after the refusal: %v", ann, err)
			}
		})
	}
}

// TestSubaddressDelimiterSet: issue 19 item 1. With the delimiters "+-",
// either separates the detail; an account or alias whose name contains a
// delimiter still wins, also as the longer part before a second one.
func TestSubaddressDelimiterSet(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.SubaddressDelimiters = "+-" })
	createAliases(t, ts, map[string][]string{
		"bob-smith@example.com": {bob},
	})
	tests := []struct {
		rcpt, mailbox, deliveredTo string
	}{
		{"ann+news@example.com", ann, "ann+news@example.com"},
		{"ann-news@example.com", ann, "ann-news@example.com"},
		{"ann-news+x@example.com", ann, "ann-news+x@example.com"}, // ann-news is nobody: ann, detail news+x
		{"bob-smith@example.com", bob, "bob@example.com"},         // the exact alias
		{"bob-smith+x@example.com", bob, "bob+x@example.com"},     // the alias bob-smith, detail x
		{"bob-jones@example.com", bob, "bob-jones@example.com"},   // bob, detail jones
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			if _, err := ts.send(t, "sender@remote.example", []string{tt.rcpt}, simpleMsg("to "+tt.rcpt)); err != nil {
				t.Fatalf("send to %s: %v", tt.rcpt, err)
			}
			if got, _ := deliveredTo(t, ts.store, tt.mailbox); got != tt.deliveredTo {
				t.Errorf("Delivered-To: %q, want %q", got, tt.deliveredTo)
			}
		})
	}
}

// TestSubaddressQuota: issue 19 item 1. The quota of the account behind
// a subaddress is checked at RCPT as for its own address.
func TestSubaddressQuota(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c := ts.dial(t)
	defer c.Close()
	if err := c.Mail("sender@remote.example", &smtp.MailOptions{Size: tinyQuota * 10}); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("tiny+big@example.com", nil)
	wantCode(t, err, 552, smtp.EnhancedCode{5, 2, 2})
	if !strings.Contains(err.Error(), "<tiny+big@example.com>") {
		t.Errorf("reply text: %v", err)
	}
	if err := c.Rcpt("ann+big@example.com", nil); err != nil {
		t.Fatalf("RCPT ann+big: %v", err)
	}

	storeDirect(t, ts, tiny, tinyQuota) // exactly at the quota
	c2 := ts.dial(t)
	defer c2.Close()
	if err := c2.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c2.Rcpt("tiny+x@example.com", nil), 452, smtp.EnhancedCode{4, 2, 2})
}

// TestSubaddressPostmaster: issue 19 item 1. postmaster+detail@ reaches
// the domain's administrator like postmaster@.
func TestSubaddressPostmaster(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	// Without domain admins or admin mailboxes, the domain's first account
	// takes postmaster's mail (issue 13 item 5), with a detail too.
	if err := c.Rcpt("postmaster+dmarc@example.com", nil); err != nil {
		t.Fatalf("RCPT postmaster+dmarc@ on a fresh install: %v", err)
	}
	c.Close()
	if err := ts.store.AddDomainAdmin(context.Background(), ann, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{"PostMaster+dmarc@example.com"}, simpleMsg("report")); err != nil {
		t.Fatal(err)
	}
	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 1 {
		t.Fatalf("ann's INBOX holds %d messages", len(got))
	}
}

// TestSubmissionSubaddressSender: issue 19 item 1. A user may send as
// their own address or an alias reaching them with a detail (envelope
// sender and From), not as someone else's.
func TestSubmissionSubaddressSender(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	createAliases(t, ts, map[string][]string{
		"sales@example.com":   {ann, bob},
		"bobonly@example.com": {bob},
	})
	c := login(t, ts, ann)
	for _, from := range []string{"ann+shop@example.com", "Ann+Shop@Example.COM", "ann+@example.com", "sales+x@example.com"} {
		if _, err := sendOn(c, from, []string{bob}, msgFrom("Ann <"+from+">", bob, "as "+from), nil); err != nil {
			t.Fatalf("MAIL FROM %s: %v", from, err)
		}
	}
	// The From field with a detail, the envelope without.
	if _, err := sendOn(c, ann, []string{bob}, msgFrom("ann+shop@example.com", bob, "from field"), nil); err != nil {
		t.Fatalf("From ann+shop: %v", err)
	}
	for _, from := range []string{"bob+x@example.com", "bobonly+x@example.com", "nobody+x@example.com", "ann+x@remote.example"} {
		wantCode(t, c.Mail(from, nil), 553, smtp.EnhancedCode{5, 7, 1})
	}
	for _, from := range []string{"bob+x@example.com", "bobonly+ann@example.com"} {
		_, err := sendOn(c, ann, []string{bob}, msgFrom(from, bob, "forged"), nil)
		wantCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})
	}
}
