package mta

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/authn"
	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/mta/queue"
)

// The attacks of issue 11, replayed over SMTP against the server code.

// dmarcChain is the real authentication filter, asking a DNS server on
// loopback in which victim.example publishes p=reject.
func dmarcChain(tb testing.TB) *filters.Chain {
	tb.Helper()
	srv, err := mockdns.NewServerWithLogger(map[string]mockdns.Zone{
		"_dmarc.victim.example.": {TXT: []string{"v=DMARC1; p=reject"}},
		"victim.example.":        {TXT: []string{"v=spf1 -all"}},
	}, quietDNSLog{}, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	res := dnsresolve.New(dnsresolve.Options{Server: srv.LocalAddr().String(), Timeout: 5 * time.Second})
	a := authn.New(authn.Options{Resolver: res})
	return filters.NewChain(nil, filters.Stage{Filter: a, Enabled: true})
}

type quietDNSLog struct{}

func (quietDNSLog) Printf(string, ...any) {}

// padding returns n bytes of filler header fields.
func padding(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("f", 200))
	}
	return b.String()
}

const forgedAR = "Authentication-Results: " + testHost + "; spf=pass smtp.mailfrom=victim.example; dkim=pass header.d=victim.example; dmarc=pass header.from=victim.example\r\n"

// TestDMARCBypassByHeaderPadding: issue 11 item 1. A From field of a
// p=reject domain after more than a megabyte of filler was accepted,
// filed in INBOX with the forged Authentication-Results kept. Now the
// header too large to check is refused, and below the limit every field
// is checked and every foreign Authentication-Results removed.
func TestDMARCBypassByHeaderPadding(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = dmarcChain(t) })
	spoof := "From: CEO <ceo@victim.example>\r\n" + forgedAR + "Subject: wire the money\r\n\r\nnow\r\n"

	_, err := ts.send(t, "x@attacker.example", []string{ann}, padding(maxHeaderBytes+1)+spoof)
	wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})

	_, err = ts.send(t, "x@attacker.example", []string{ann}, padding(maxHeaderBytes-64<<10)+spoof)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})

	// A line that is no field before the From field hides nothing.
	_, err = ts.send(t, "x@attacker.example", []string{ann}, "Subject: hi\r\nthis is not a field\r\n"+spoof)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	// Nor does a blank before the colon.
	_, err = ts.send(t, "x@attacker.example", []string{ann}, strings.Replace(spoof, "From:", "From :", 1))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})

	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 0 {
		t.Fatalf("%d spoofed messages delivered", len(got))
	}

	// Mail from a domain without a policy is accepted, and loses every
	// forged Authentication-Results field, also one deep in the header.
	legit := forgedAR + padding(600<<10) + forgedAR + "From: someone@remote.example\r\nSubject: ok\r\n\r\nbody\r\n"
	if _, err := ts.send(t, "x@remote.example", []string{ann}, legit); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	if n := strings.Count(got[0], "Authentication-Results:"); n != 1 || strings.Contains(got[0], "dmarc=pass") {
		t.Errorf("%d Authentication-Results fields kept (want our own only): %q", n, trunc(got[0]))
	}
	if !strings.Contains(got[0], "dkim=none;") {
		t.Errorf("Authentication-Results not as RFC 8601 writes it: %q", trunc(got[0]))
	}
}

// TestDMARCNeedsExactlyOneFrom: RFC 7489 section 6.6.1. Two From fields,
// one of them a p=reject domain's, or both of domains without a policy,
// are refused; no From field gives no pass.
func TestDMARCNeedsExactlyOneFrom(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = dmarcChain(t) })
	for _, from := range []string{
		"From: me@remote.example\r\nFrom: CEO <ceo@victim.example>\r\n",
		"From: me@remote.example\r\nFROM : other@remote.example\r\n",
	} {
		_, err := ts.send(t, "x@remote.example", []string{ann}, from+"Subject: two\r\n\r\nbody\r\n")
		wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	}
	if _, err := ts.send(t, "x@remote.example", []string{ann}, "Subject: none\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 || !strings.Contains(got[0], "dmarc=permerror") {
		t.Fatalf("message without From: %q", got)
	}
}

// TestSubmissionFromSpoofing: issue 11 item 2. Every From field, every
// address in it however written, and the Sender field must belong to
// the user; a second From field is refused.
func TestSubmissionFromSpoofing(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	refused := []struct {
		name, fields string
		code         int
	}{
		{"second From field", "From: ann@example.com\r\nFrom: Boss <bob@example.com>\r\n", 550},
		{"blank before the colon", "From : bob@example.com\r\n", 553},
		{"blank before the colon, second field", "From: ann@example.com\r\nFrom : bob@example.com\r\n", 550},
		{"encoded display name", "From: =?utf-8?q?Boss?= <bob@example.com>\r\n", 553},
		{"group", "From: Friends: ann@example.com, bob@example.com;\r\n", 553},
		{"address in a comment", "From: ann@example.com (bob@example.com)\r\n", 553},
		{"address as display name", "From: \"bob@example.com\" <ann@example.com>\r\n", 553},
		{"address in an encoded word", "From: =?utf-8?q?bob=40example.com?= <ann@example.com>\r\n", 553},
		{"obsolete route", "From: <@route.example:bob@example.com>\r\n", 550},
		{"unclosed angle", "From: Boss <bob@example.com\r\n", 550},
		{"empty group", "From: undisclosed-recipients:;\r\n", 550},
		{"other Sender", "From: ann@example.com\r\nSender: bob@example.com\r\n", 553},
		{"two Sender fields", "From: ann@example.com\r\nSender: ann@example.com\r\nSender: ann@example.com\r\n", 550},
		{"no From", "Subject: none\r\n", 550},
		{"line that is no field", "From: ann@example.com\r\nnot a field\r\nFrom: bob@example.com\r\n", 550},
		{"line that is no field, then From", "Subject: x\r\nnot a field\r\nFrom: ann@example.com\r\n", 550},
		{"leading continuation", " From: bob@example.com\r\nFrom: ann@example.com\r\n", 550},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.fields + "To: carl@remote.example\r\nSubject: spoof\r\n\r\nbody\r\n"
			_, err := sendOn(c, ann, []string{"carl@remote.example", bob}, msg, nil)
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("got %v, want %d", err, tt.code)
			}
		})
	}
	if n := len(queued(t, ts.queue)); n != 0 {
		t.Fatalf("%d spoofed messages queued", n)
	}
	if n := len(inbox(t, ts.store, bob)); n != 0 {
		t.Fatalf("%d spoofed messages delivered", n)
	}
	// The user's own addresses, however written, pass.
	for _, fields := range []string{
		"From: Ann <ann@example.com>\r\nSender: ANN@example.com\r\n",
		"From: =?utf-8?q?Ann_=E3=81=82?= <ann@example.com> (at home)\r\n",
		"From : ann@example.com\r\n",
	} {
		if _, err := sendOn(c, ann, []string{bob}, fields+"Subject: own\r\n\r\nbody\r\n", nil); err != nil {
			t.Errorf("%q: %v", fields, err)
		}
	}
}

// queuedBody returns the body of the only queued message.
func queuedBody(tb testing.TB, ts *testServer) string {
	tb.Helper()
	items := queued(tb, ts.queue)
	if len(items) != 1 {
		tb.Fatalf("%d queued messages, want 1", len(items))
	}
	rc, err := ts.queue.OpenBody(context.Background(), &items[0].Message)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// verifySigned checks that msg carries valid DKIM signatures.
func verifySigned(tb testing.TB, msg string) {
	tb.Helper()
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: dkimKeys(tb).lookupTXT})
	if err != nil || len(vs) == 0 {
		tb.Fatalf("verify: %v, %d signatures", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			tb.Errorf("signature: %v", v.Err)
		}
	}
}

// TestSubmissionBccRemoved: issue 11 item 13. Bcc fields are removed
// from the local and the remote copies, before the signature.
func TestSubmissionBccRemoved(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	msg := "From: ann@example.com\r\nTo: carl@remote.example\r\nBcc: bob@example.com,\r\n secret@remote.example\r\nSubject: hidden\r\nbcc: again@remote.example\r\nResent-Bcc: x@remote.example\r\n\r\nbody\r\n"
	if _, err := sendOn(c, ann, []string{"carl@remote.example", bob, "secret@remote.example"}, msg, nil); err != nil {
		t.Fatal(err)
	}
	remote := queuedBody(t, ts)
	local := inbox(t, ts.store, bob)
	if len(local) != 1 {
		t.Fatalf("bob has %d messages", len(local))
	}
	if strings.Contains(remote, "Return-Path") || strings.Contains(remote, "Delivered-To") {
		t.Errorf("delivery fields on the copy that goes on: %q", trunc(remote))
	}
	for _, m := range []string{remote, local[0]} {
		// A Bcc field (not "bcc" inside a signature's base64).
		if head, _, _ := strings.Cut(m, "\r\n\r\n"); strings.Contains(strings.ToLower("\r\n"+head), "\nbcc:") || strings.Contains(strings.ToLower(head), "\nresent-bcc:") || strings.Contains(m, "secret@") {
			t.Errorf("Bcc left in: %q", m)
		}
		verifySigned(t, m)
	}
}

// lineEndsCRLF reports whether every CR and LF of s is part of a CRLF.
func lineEndsCRLF(s string) bool {
	return strings.Count(s, "\r") == strings.Count(s, "\n") && strings.Count(s, "\r\n") == strings.Count(s, "\n")
}

// TestSubmissionBareCRNormalised: issue 11 item 9. "hello\r.\rMAIL
// FROM:..." reached the remote MX verbatim (SMTP smuggling towards
// receivers taking <CR>.<CR> for the end of the data). Bare CR and bare
// LF become CRLF before the signature: the copies are clean and signed.
func TestSubmissionBareCRNormalised(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	msg := "From: ann@example.com\r\nTo: carl@remote.example\r\nSubject: smuggle\r\n\r\nhello\r.\rMAIL FROM:<boss@example.com>\rRCPT TO:<victim@remote.example>\r\nbare\nLF\r\n"
	if _, err := sendOn(c, ann, []string{"carl@remote.example", bob}, msg, nil); err != nil {
		t.Fatal(err)
	}
	remote := queuedBody(t, ts)
	if !lineEndsCRLF(remote) || !strings.Contains(remote, "\r\nhello\r\n.\r\nMAIL FROM:<boss@example.com>\r\nRCPT TO:<victim@remote.example>\r\nbare\r\nLF\r\n") {
		t.Errorf("queued copy: %q", remote)
	}
	verifySigned(t, remote)
	if local := inbox(t, ts.store, bob); len(local) != 1 || stripDelivery(t, local[0]) != remote {
		t.Errorf("local copy differs from the remote one")
	}
}

// TestEndOfDataAfterBareCR: issue 11 item 9. "<CR><CRLF>.<CRLF>" ends
// the data: the client gets its answer at once (it waited for the
// 5-minute timeout), on intake and on submission, and the connection is
// then closed.
func TestEndOfDataAfterBareCR(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<a@remote.example>", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Write("Subject: cr\r\n\r\nhello\r\r\n.\r\nMAIL FROM:<b@remote.example>\r\n")
	rc.Expect(250)
	if _, err := rc.R.ReadByte(); err == nil {
		t.Error("connection left open after the end of data was missed by the protocol layer")
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n\r\nhello\r\n") {
		t.Fatalf("stored %q", got)
	}

	sub, _ := startSubmission(t, false, nil)
	rc = sub.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+ann+"\x00"+testPassword)), 235)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("RCPT TO:<carl@remote.example>", 250)
	rc.Cmd("DATA", 354)
	rc.Write("From: ann@example.com\r\nSubject: cr\r\n\r\nhello\r\r\n.\r\n")
	rc.Expect(250)
	if body := queuedBody(t, sub); !lineEndsCRLF(body) || !strings.HasSuffix(body, "\r\n\r\nhello\r\n") {
		t.Errorf("queued %q", body)
	}
}

// TestLongLineRefused: issue 11 item 19. A line over 1,000 bytes with
// its CRLF (RFC 5321 section 4.5.3.1.6) is refused with a clear reply,
// in DATA and in BDAT, and the session goes on; 1,000 bytes pass.
func TestLongLineRefused(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c := ts.dial(t)
	for _, n := range []int{1001, 1500, 1998} {
		msg := "Subject: long\r\n\r\n" + strings.Repeat("x", n-2) + "\r\nend\r\n"
		_, err := sendOn(c, "a@remote.example", []string{ann}, msg, nil)
		wantCode(t, err, 500, smtp.EnhancedCode{5, 5, 2})
		if !strings.Contains(err.Error(), "longer than 1000 bytes") {
			t.Errorf("reply %v does not say why", err)
		}
	}
	ok := "Subject: long\r\n\r\n" + strings.Repeat("x", 998) + "\r\nend\r\n"
	if _, err := sendOn(c, "a@remote.example", []string{ann}, ok, nil); err != nil {
		t.Fatal(err)
	}

	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<a@remote.example>", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	chunk := "Subject: long\r\n\r\n" + strings.Repeat("y", 1500) + "\r\n"
	rc.Write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	rc.Expect(500)
	rc.Cmd("NOOP", 250)
	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 1 {
		t.Fatalf("%d messages stored, want the one with 1,000-byte lines", len(got))
	}
}

// TestSendRateRace: issue 11 item 14. Sessions of one user racing each
// other all passed the check before any was counted (508 of a limit of
// 500 with 12 sessions). Each session here is held after the check until
// every one has either reached that point or been refused: with the
// check and the count one atomic step, only the limit gets through.
func TestSendRateRace(t *testing.T) {
	const limit, sessions = 5, 12
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) { o.RatePerHour = limit })
	var (
		mu      sync.Mutex
		arrived int
		refused int
		release = make(chan struct{})
		changed = make(chan struct{}, sessions*2)
	)
	ts.hooks.beforeDeliver = func() {
		mu.Lock()
		arrived++
		mu.Unlock()
		changed <- struct{}{}
		<-release
	}
	clients := make([]*smtp.Client, sessions)
	for i := range clients {
		clients[i] = login(t, ts, ann)
	}
	results := make(chan error, sessions)
	for i, c := range clients {
		go func() {
			_, err := sendOn(c, ann, []string{bob}, msgFrom(ann, bob, fmt.Sprint("race ", i)), nil)
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				changed <- struct{}{}
			}
			results <- err
		}()
	}
	for {
		<-changed
		mu.Lock()
		done := arrived+refused == sessions
		mu.Unlock()
		if done {
			break
		}
	}
	close(release)
	accepted := 0
	for range sessions {
		err := <-results
		if err == nil {
			accepted++
		} else {
			wantCode(t, err, 450, smtp.EnhancedCode{4, 7, 1})
		}
	}
	if accepted != limit {
		t.Fatalf("%d messages accepted, limit %d", accepted, limit)
	}
	if n := len(inbox(t, ts.store, bob)); n != limit {
		t.Fatalf("bob has %d messages", n)
	}
}

// TestSendRateCountsRecipients: issue 11 item 14. The limit counts
// recipients, not messages: 500 messages of 100 recipients each were 500.
func TestSendRateCountsRecipients(t *testing.T) {
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) { o.RatePerHour = 5 })
	c := login(t, ts, ann)
	many := []string{"r1@remote.example", "r2@remote.example", "r3@remote.example", "r4@remote.example", "r5@remote.example", "r6@remote.example"}
	_, err := sendOn(c, ann, many, msgFrom(ann, "r1@remote.example", "six"), nil)
	wantCode(t, err, 450, smtp.EnhancedCode{4, 7, 1})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(c, ann, many[:3], msgFrom(ann, "r1@remote.example", "three"), nil); err != nil {
		t.Fatal(err)
	}
	// Two left: a message to three is refused at its third recipient.
	_, err = sendOn(c, ann, many[3:], msgFrom(ann, "r4@remote.example", "three more"), nil)
	wantCode(t, err, 450, smtp.EnhancedCode{4, 7, 1})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(c, ann, many[3:5], msgFrom(ann, "r4@remote.example", "two more"), nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Mail(ann, nil), 450, smtp.EnhancedCode{4, 7, 1})
	if n := len(queued(t, ts.queue)); n != 2 {
		t.Fatalf("%d messages queued, want 2", n)
	}
}

// TestAddressHarvesting: issue 11 item 10. 3,000 RCPTs to unknown users
// were answered in 0.64 s on one session. After three unknown recipients
// each further answer is held back, and the tenth ends the session.
// Guessed subaddresses of unknown users (issue 19 item 1) count the same.
func TestAddressHarvesting(t *testing.T) {
	for _, tc := range []struct{ name, known, guess, last string }{
		{"plain", "ann@example.com", "guess%d@example.com", "last-guess@elsewhere.example"},
		{"subaddress", "ann+ok@example.com", "guess%d+x@example.com", "nobody+last@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				delays []time.Duration
			)
			ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
			ts.hooks.sleep = func(d time.Duration) {
				mu.Lock()
				delays = append(delays, d)
				mu.Unlock()
			}
			rc := ts.raw(t)
			rc.Cmd("EHLO client.test.example", 250)
			rc.Cmd("MAIL FROM:<harvester@remote.example>", 250)
			rc.Cmd("RCPT TO:<"+tc.known+">", 250)
			for i := range DefaultMaxUnknownRecipients - 1 {
				rc.Cmd(fmt.Sprintf("RCPT TO:<"+tc.guess+">", i), 550)
			}
			rc.Cmd("RCPT TO:<"+tc.last+">", 421)
			if _, err := rc.R.ReadByte(); err == nil {
				t.Error("session still open after too many unknown recipients")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(delays) != DefaultMaxUnknownRecipients-1-freeUnknownRecipients {
				t.Fatalf("%d answers held back: %v", len(delays), delays)
			}
			for _, d := range delays {
				if d != DefaultUnknownRecipientDelay {
					t.Errorf("held back %v", d)
				}
			}
			// Known recipients and other sessions are not slowed down.
			if _, err := ts.send(t, "someone@remote.example", []string{ann, bob}, simpleMsg("after")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeliveryFields: issue 13 item 8. Delivered mail gets Return-Path
// (a forged one is removed) and Delivered-To, also when it goes to several
// mailboxes (each copy its own: TestDeliveredToEachCopy).
func TestDeliveryFields(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	msg := "Return-Path: <forged@elsewhere.example>\r\n" + simpleMsg("fields")
	if _, err := ts.send(t, "sender@remote.example", []string{"ANN@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Return-Path: <sender@remote.example>\r\nDelivered-To: ann@example.com\r\nReceived: ") ||
		strings.Count(got[0], "Return-Path:") != 1 {
		t.Fatalf("stored %q", got)
	}
	if _, err := ts.send(t, "", []string{ann, bob}, simpleMsg("bounce")); err != nil {
		t.Fatal(err)
	}
	got = messages(t, ts.store, bob, "INBOX")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Return-Path: <>\r\nDelivered-To: bob@example.com\r\nReceived: ") {
		t.Fatalf("stored %q", got)
	}
}

// TestSubmissionAllOrNothingWhenQueueFails: issue 13 item 2. When the
// outbound queue refuses the message after the local copies were made,
// the answer is 451 and the local copies are gone: the client's retry
// does not duplicate them.
func TestSubmissionAllOrNothingWhenQueueFails(t *testing.T) {
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) {
		o.Enqueue = func(context.Context, queue.Input) (*queue.Message, error) {
			return nil, errors.New("disk full")
		}
	})
	c := login(t, ts, ann)
	_, err := sendOn(c, ann, []string{bob, "carl@remote.example"}, msgFrom(ann, bob, "queue fails"), nil)
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(inbox(t, ts.store, bob)); n != 0 {
		t.Fatalf("bob kept %d copies of a message answered 451", n)
	}
}
