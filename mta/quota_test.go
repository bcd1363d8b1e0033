package mta

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
)

// quotaBody is a well-formed message of exactly n bytes (n >= 40), CRLF
// line endings.
func quotaBody(n int) string {
	const head = "Subject: quota\r\n\r\n"
	var b strings.Builder
	b.WriteString(head)
	left := n - len(head)
	for left > 0 {
		line := min(left, 100)
		if line < 3 {
			// Too short for a line of its own: widen the previous one.
			s := b.String()
			return s[:len(s)-2] + strings.Repeat("y", line) + "\r\n"
		}
		b.WriteString(strings.Repeat("x", line-2) + "\r\n")
		left -= line
	}
	return b.String()
}

// storeDirect delivers a message of n bytes to addr's INBOX through the
// store, with the quota enforced, and fails the test if it is refused.
func storeDirect(tb testing.TB, ts *testServer, addr string, n int) {
	tb.Helper()
	ctx := context.Background()
	u, err := ts.store.GetUser(ctx, addr)
	if err != nil {
		tb.Fatal(err)
	}
	body := quotaBody(n)
	if len(body) != n {
		tb.Fatalf("quotaBody(%d) is %d bytes", n, len(body))
	}
	res, err := ts.store.Deliver(ctx, mailstore.Delivery{
		Targets:      []mailstore.DeliveryTarget{{UserID: u.ID}},
		Body:         strings.NewReader(body),
		EnforceQuota: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if res[0].Err != nil {
		tb.Fatalf("store %d bytes for %s: %v", n, addr, res[0].Err)
	}
}

// finishData sends a message on a transaction whose recipients are given
// and returns DATA's error.
func finishData(tb testing.TB, c *smtp.Client, msg string) error {
	tb.Helper()
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		tb.Fatal(err)
	}
	_, err = w.CloseWithResponse()
	return err
}

func ptr[T any](v T) *T { return &v }

func TestRcptQuotaFullMailbox(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	storeDirect(t, ts, tiny, tinyQuota) // exactly at the quota

	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt(tiny, nil)
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if !strings.Contains(err.Error(), "mailbox full") {
		t.Errorf("reply text: %v", err)
	}
	// The others in the same transaction are unaffected.
	if err := c.Rcpt(ann, nil); err != nil {
		t.Fatalf("RCPT ann after a full one: %v", err)
	}
	if err := finishData(t, c, simpleMsg("partly-full")); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Errorf("ann has %d messages, want 1", n)
	}
	if n := len(messages(t, ts.store, tiny, "INBOX")); n != 1 {
		t.Errorf("tiny has %d messages, want 1 (the one stored directly)", n)
	}
	if strings.Contains(ts.logs.String(), "message lost for this recipient") {
		t.Errorf("a recipient refused at RCPT was still tried at delivery")
	}
	st := ts.Stats()
	if st.TempFailed != 1 || st.Accepted != 1 {
		t.Errorf("stats: %+v", st)
	}

	// A raised quota (here: unlimited) lets mail in again, at once.
	if _, err := ts.store.UpdateUser(context.Background(), tiny, mailstore.UserUpdate{QuotaBytes: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{tiny}, simpleMsg("raised")); err != nil {
		t.Fatalf("after raising the quota: %v", err)
	}
}

func TestRcptQuotaOnlyFullRecipientRefused(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	// One byte below the quota: not full yet, RCPT accepts, DATA has the
	// last word (no SIZE= given).
	storeDirect(t, ts, small, smallQuota-1)
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(small, nil); err != nil {
		t.Fatalf("RCPT for a mailbox below its quota: %v", err)
	}
	err := finishData(t, c, simpleMsg("nofit"))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
}

func TestRcptQuotaSize(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	storeDirect(t, ts, small, 15_000) // 5,000 bytes left

	tests := []struct {
		name string
		size int64
		rcpt string
		code int
		enh  smtp.EnhancedCode
	}{
		{"larger than the whole quota", smallQuota + 1, small, 552, smtp.EnhancedCode{5, 2, 2}},
		{"larger than what is left", 6_000, small, 452, smtp.EnhancedCode{4, 2, 2}},
		{"fits", 4_000, small, 250, smtp.EnhancedCode{}},
		{"larger than tiny's quota", tinyQuota + 1, tiny, 552, smtp.EnhancedCode{5, 2, 2}},
		{"exactly tiny's quota", tinyQuota, tiny, 250, smtp.EnhancedCode{}},
		{"unlimited", smallQuota * 10, ann, 250, smtp.EnhancedCode{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			defer c.Quit()
			if err := c.Mail("sender@remote.example", &smtp.MailOptions{Size: tt.size}); err != nil {
				t.Fatal(err)
			}
			err := c.Rcpt(tt.rcpt, nil)
			if tt.code == 250 {
				if err != nil {
					t.Fatalf("RCPT: %v", err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.enh)
			if tt.code == 552 && !strings.Contains(err.Error(), "message larger than the recipient's mailbox quota") {
				t.Errorf("reply text: %v", err)
			}
			// Another recipient with room is still accepted.
			if err := c.Rcpt(bob, nil); err != nil {
				t.Fatalf("RCPT bob after a refusal: %v", err)
			}
		})
	}
	if got := ts.Stats().Rejected[RejectQuota]; got != 2 {
		t.Errorf("quota rejects counted: %d, want 2", got)
	}
}

func TestRcptQuotaMessages(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	if _, err := ts.store.UpdateUser(context.Background(), bob, mailstore.UserUpdate{QuotaMessages: ptr(int64(2))}); err != nil {
		t.Fatal(err)
	}
	storeDirect(t, ts, bob, 100)
	if _, err := ts.send(t, "sender@remote.example", []string{bob}, simpleMsg("second")); err != nil {
		t.Fatalf("second message: %v", err)
	}
	_, err := ts.send(t, "sender@remote.example", []string{bob}, simpleMsg("third"))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if !strings.HasPrefix(err.Error(), "RCPT ") {
		t.Errorf("refused at %v, want at RCPT", err)
	}
}

func TestRcptQuotaDomain(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	ctx := context.Background()
	if _, err := ts.store.UpdateDomain(ctx, "example.org", mailstore.DomainUpdate{QuotaBytes: ptr(int64(1_000))}); err != nil {
		t.Fatal(err)
	}
	const carl = "carl@example.org"
	// SIZE= over what the domain has left: temporary, the domain may free
	// room.
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", &smtp.MailOptions{Size: 1_001}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt(carl, nil), 452, smtp.EnhancedCode{4, 2, 2})
	c.Quit()

	storeDirect(t, ts, carl, 1_000) // the domain is now full; carl has no quota of his own
	_, err := ts.send(t, "sender@remote.example", []string{carl}, simpleMsg("domain-full"))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if !strings.HasPrefix(err.Error(), "RCPT ") {
		t.Errorf("refused at %v, want at RCPT", err)
	}
	// Another domain is unaffected.
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("other-domain")); err != nil {
		t.Fatal(err)
	}
}

func TestRcptQuotaAlias(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	createAliases(t, ts, map[string][]string{
		"mixed-full@example.com": {tiny, ann},
		"all-full@example.com":   {tiny},
	})
	storeDirect(t, ts, tiny, tinyQuota)
	// One target is full: the alias is refused, delivery being all or
	// nothing (no copy is lost for the full one).
	_, err := ts.send(t, "sender@remote.example", []string{"mixed-full@example.com"}, simpleMsg("alias"))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Errorf("ann has %d messages, want 0", n)
	}
	_, err = ts.send(t, "sender@remote.example", []string{"all-full@example.com"}, simpleMsg("alias-full"))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
}

func TestDataQuotaCodes(t *testing.T) {
	// At DATA (no SIZE= given): 552 5.2.2 for a message larger than the
	// whole quota, 452 4.2.2 for a mailbox with too little room left.
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	_, err := ts.send(t, "sender@remote.example", []string{tiny}, quotaBody(tinyQuota+1))
	wantCode(t, err, 552, smtp.EnhancedCode{5, 2, 2})
	if strings.HasPrefix(err.Error(), "RCPT ") {
		t.Errorf("refused at %v, want at DATA", err)
	}
	storeDirect(t, ts, small, smallQuota-100)
	_, err = ts.send(t, "sender@remote.example", []string{small}, quotaBody(200))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if strings.HasPrefix(err.Error(), "RCPT ") {
		t.Errorf("refused at %v, want at DATA", err)
	}
}
