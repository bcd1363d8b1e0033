package mta

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/milter"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestRealMilterOverSMTP sends a message over SMTP through a chain with the
// real opendkim as its milter, after a stage that removes the
// Authentication-Results fields a message arrives with (as sender
// authentication does): the forged field is gone, opendkim's is stored.
func TestRealMilterOverSMTP(t *testing.T) {
	addr := testpeer.OpenDKIM(t, "opendkim.test")
	removeAR := checkFunc(func(_ context.Context, _ *filters.Message) (filters.Verdict, error) {
		return filters.Verdict{RemoveHeaders: []string{"Authentication-Results"}}, nil
	})
	ts := startServer(t, func(o *Options) {
		o.Filters = filters.NewChain(nil,
			filters.Stage{Filter: removeAR, Enabled: true},
			filters.Stage{Filter: &milter.Filter{Addr: addr, Timeout: time.Minute}, Enabled: true})
	})
	msg := "From: Alice <alice@example.org>\r\nTo: ann@example.com\r\nSubject: hello\r\nDate: Mon, 7 Dec 2026 06:00:00 +0000\r\n" +
		"Message-ID: <peer@example.org>\r\nAuthentication-Results: opendkim.test; dkim=pass (forged)\r\n\r\nHello.\r\n"
	if _, err := ts.send(t, "alice@example.org", []string{ann}, msg); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(got))
	}
	if strings.Contains(got[0], "forged") || !strings.Contains(got[0], "Authentication-Results: opendkim.test") ||
		!strings.Contains(got[0], "dkim=none") {
		t.Errorf("stored message lacks opendkim's Authentication-Results or keeps the forged one:\n%s", got[0])
	}
}
