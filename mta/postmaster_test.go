package mta

import (
	"context"
	"strings"
	"testing"
)

// TestPostmaster sends to "postmaster" without a domain (RFC 5321 section
// 4.1.1.3) and to postmaster@domain without such an account or alias
// (section 4.5.1): both reach the domain's administrator, and on a fresh
// install without administrators the domain's first account (ann).
func TestPostmaster(t *testing.T) {
	for _, host := range []string{testHost, "mx.example.com"} {
		t.Run(host, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.Hostname = host })
			sendAll := func(owner string) {
				t.Helper()
				before := len(messages(t, ts.store, owner, "INBOX"))
				for i, rcpt := range []string{"postmaster", "PostMaster", "postmaster@example.com"} {
					msg := "From: <sender@remote.example>\r\nSubject: pm " + rcpt + " for " + owner + "\r\n\r\nhello postmaster\r\n"
					if _, err := ts.send(t, "sender@remote.example", []string{rcpt}, msg); err != nil {
						t.Fatalf("send to %s: %v", rcpt, err)
					}
					got := messages(t, ts.store, owner, "INBOX")
					if len(got) != before+i+1 || !strings.Contains(got[before+i], "Subject: pm "+rcpt+" for "+owner) {
						t.Fatalf("after %s, %s's INBOX holds %d messages: %q", rcpt, owner, len(got), got)
					}
				}
			}
			// Nobody administers the domain: its first account reads it.
			sendAll(ann)
			if got := messages(t, ts.store, bob, "INBOX"); len(got) != 0 {
				t.Errorf("bob got %d messages", len(got))
			}
			// The domain's administrator, once appointed.
			if err := ts.store.AddDomainAdmin(context.Background(), bob, "example.com"); err != nil {
				t.Fatal(err)
			}
			sendAll(bob)
			if got := messages(t, ts.store, ann, "INBOX"); len(got) != 3 {
				t.Errorf("ann got %d messages, want the first 3 only", len(got))
			}
		})
	}
}
