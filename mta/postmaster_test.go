package mta

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestPostmaster sends to "postmaster" without a domain (RFC 5321 section
// 4.1.1.3) and to postmaster@domain without such an account or alias
// (section 4.5.1): both reach the domain's administrator.
func TestPostmaster(t *testing.T) {
	for _, host := range []string{testHost, "mx.example.com"} {
		t.Run(host, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.Hostname = host })
			c := ts.dial(t)
			if err := c.Mail("sender@remote.example", nil); err != nil {
				t.Fatal(err)
			}
			// Nobody reads it yet: refused like an unknown user.
			wantCode(t, c.Rcpt("postmaster", nil), 550, smtp.EnhancedCode{5, 1, 1})
			wantCode(t, c.Rcpt("postmaster@example.com", nil), 550, smtp.EnhancedCode{5, 1, 1})
			c.Quit()

			if err := ts.store.AddDomainAdmin(context.Background(), ann, "example.com"); err != nil {
				t.Fatal(err)
			}
			for i, rcpt := range []string{"postmaster", "PostMaster", "postmaster@example.com"} {
				msg := "From: <sender@remote.example>\r\nSubject: pm " + rcpt + "\r\n\r\nhello postmaster\r\n"
				if _, err := ts.send(t, "sender@remote.example", []string{rcpt}, msg); err != nil {
					t.Fatalf("send to %s: %v", rcpt, err)
				}
				got := messages(t, ts.store, ann, "INBOX")
				if len(got) != i+1 || !strings.Contains(got[i], "Subject: pm "+rcpt) {
					t.Fatalf("after %s, ann's INBOX holds %d messages: %q", rcpt, len(got), got)
				}
			}
			// Bob, not an administrator, gets none of it.
			if got := messages(t, ts.store, bob, "INBOX"); len(got) != 0 {
				t.Errorf("bob got %d messages", len(got))
			}
		})
	}
}
