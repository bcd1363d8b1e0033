package mta

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestEHLOExtensions(t *testing.T) {
	srvTLS, _ := selfSignedTLS(t)
	ts := startServer(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.MaxMessageBytes = 1 << 20
		o.Filters = acceptAll()
	})
	rc := ts.raw(t)
	text := rc.Cmd("EHLO client.test.example", 250)
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 1048576", "STARTTLS", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ext) + `$`).MatchString(text) {
			t.Errorf("EHLO reply lacks %q:\n%s", ext, text)
		}
	}
	if !strings.HasPrefix(text, testHost) && !strings.Contains(text, "Hello") {
		t.Errorf("EHLO reply: %q", text)
	}
}

func TestBannerNamesHost(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 200)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(buf)
	if got := string(buf[:n]); !strings.HasPrefix(got, "220 "+testHost+" ESMTP") {
		t.Fatalf("banner %q", got)
	}
}

func TestDeliverStoresByteForByte(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	msg := simpleMsg("exact")
	resp, err := ts.send(t, "sender@remote.example", []string{ann}, msg)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`queued as ([A-Z2-7]{16})`).FindStringSubmatch(resp)
	if m == nil {
		t.Fatalf("250 reply %q lacks a queue id", resp)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("INBOX has %d messages, want 1", len(got))
	}
	rcv, rest := splitReceived(t, got[0])
	if rest != msg {
		t.Errorf("stored message differs after Received:\n got %q\nwant %q", rest, msg)
	}
	want := regexp.MustCompile(`^Received: from client\.test\.example \(\[127\.0\.0\.1\]\)\r\n` +
		`\tby ` + regexp.QuoteMeta(testHost) + ` \(Yubin\) with ESMTP\r\n` +
		`\tid ` + m[1] + `\r\n` +
		`\tfor <ann@example\.com>; [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n$`)
	if !want.MatchString(rcv) {
		t.Errorf("Received field:\n%s", rcv)
	}
}

func TestBareLFIsNormalisedToCRLF(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<sender@remote.example>", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Write("Subject: lf\nX-Other: 1\n\nline one\nline two\r\n.\r\n")
	rc.Expect(250)
	got := messages(t, ts.store, ann, "INBOX")
	_, rest := splitReceived(t, got[0])
	if want := "Subject: lf\r\nX-Other: 1\r\n\r\nline one\r\nline two\r\n"; rest != want {
		t.Fatalf("got %q, want %q", rest, want)
	}
}

func TestRecipients(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	tests := []struct {
		rcpt string
		code int
		enh  smtp.EnhancedCode
	}{
		{"ann@example.com", 250, smtp.EnhancedCode{2, 0, 0}},
		{"Ann@EXAMPLE.com", 250, smtp.EnhancedCode{2, 0, 0}},
		{"carl@example.org", 250, smtp.EnhancedCode{2, 0, 0}},
		{"nobody@example.com", 550, smtp.EnhancedCode{5, 1, 1}},
		{"off@example.com", 550, smtp.EnhancedCode{5, 1, 1}}, // disabled account
		{"gone@disabled.org", 550, smtp.EnhancedCode{5, 7, 1}},
		{"someone@elsewhere.example", 550, smtp.EnhancedCode{5, 7, 1}},
		{"ann@example.com.evil.example", 550, smtp.EnhancedCode{5, 7, 1}},
		{"a..b@example.com", 501, smtp.EnhancedCode{5, 1, 3}},
		{"ann@exa_mple.com", 501, smtp.EnhancedCode{5, 1, 3}},
		{"ann@localhost", 501, smtp.EnhancedCode{5, 1, 3}},
		{"ann@[127.0.0.1]", 501, smtp.EnhancedCode{5, 1, 3}},
		{strings.Repeat("x", 65) + "@example.com", 501, smtp.EnhancedCode{5, 1, 3}},
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
	st := ts.Stats()
	if st.Rejected[RejectUnknownUser] != 2 || st.Rejected[RejectRelay] != 3 || st.Rejected[RejectBadAddress] != 5 {
		t.Errorf("stats: %+v", st)
	}
}

func TestNotAnOpenRelayWithAnyAddressForm(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c := ts.dial(t)
	if err := c.Mail("ann@example.com", nil); err != nil { // a local sender changes nothing
		t.Fatal(err)
	}
	for _, r := range []string{"victim@gmail.example", "victim%gmail.example@elsewhere.example"} {
		err := c.Rcpt(r, nil)
		wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	}
	rc := ts.raw(t)
	rc.Cmd("EHLO x.example", 250)
	rc.Cmd("MAIL FROM:<>", 250)
	// A source route naming us, then a foreign mailbox.
	rc.Write("RCPT TO:<@" + testHost + ":victim@gmail.example>\r\n")
	if code, _ := rc.Reply(); code != 550 {
		t.Errorf("source-routed RCPT got %d", code)
	}
}

func TestTooManyRecipients(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.MaxRecipients = 2 })
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{ann, bob} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Rcpt("carl@example.org", nil), 452, smtp.EnhancedCode{4, 5, 3})
	// The two accepted recipients still get the message.
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, simpleMsg("many"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob has %d messages", n)
	}
}

func TestDuplicateRecipientStoredOnce(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	if _, err := ts.send(t, "sender@remote.example", []string{ann, "ANN@example.com", ann}, simpleMsg("dup")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("ann has %d messages, want 1", n)
	}
}

// TestSeveralRecipientsOneCopyEach: a message for several mailboxes is
// stored once per mailbox (each copy has its own Delivered-To), the same
// message below the delivery fields.
func TestSeveralRecipientsOneCopyEach(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	if _, err := ts.send(t, "sender@remote.example", []string{ann, bob, "carl@example.org"}, simpleMsg("shared")); err != nil {
		t.Fatal(err)
	}
	a, b, c := metas(t, ts.store, ann, "INBOX"), metas(t, ts.store, bob, "INBOX"), metas(t, ts.store, "carl@example.org", "INBOX")
	if len(a) != 1 || len(b) != 1 || len(c) != 1 {
		t.Fatalf("messages: %d %d %d", len(a), len(b), len(c))
	}
	if a[0].BlobKey == b[0].BlobKey || b[0].BlobKey == c[0].BlobKey || a[0].BlobKey == c[0].BlobKey {
		t.Fatalf("copies share a body: %s %s %s", a[0].BlobKey, b[0].BlobKey, c[0].BlobKey)
	}
	sa := stripDelivery(t, messages(t, ts.store, ann, "INBOX")[0])
	for _, u := range []string{bob, "carl@example.org"} {
		if su := stripDelivery(t, messages(t, ts.store, u, "INBOX")[0]); su != sa {
			t.Errorf("%s's copy differs below the delivery fields:\n%q\n%q", u, su, sa)
		}
	}
	// With several recipients the Received field names none of them.
	rcv, _ := splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	if strings.Contains(rcv, " for <") {
		t.Errorf("Received names a recipient: %q", rcv)
	}
}

func TestSenders(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	tests := []struct {
		from string
		code int
		enh  smtp.EnhancedCode
	}{
		{"", 250, smtp.EnhancedCode{}},
		{"someone@remote.example", 250, smtp.EnhancedCode{}},
		{"someone@[192.0.2.1]", 250, smtp.EnhancedCode{}},
		{"a..b@remote.example", 501, smtp.EnhancedCode{5, 1, 7}},
		{"someone@remote_example.com", 501, smtp.EnhancedCode{5, 1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			c := ts.dial(t)
			err := c.Mail(tt.from, nil)
			if tt.code != 250 {
				wantCode(t, err, tt.code, tt.enh)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The null sender's message is delivered.
	if _, err := ts.send(t, "", []string{ann}, simpleMsg("bounce")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
}

func TestSizeLimits(t *testing.T) {
	const limit = 4096
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.MaxMessageBytes = limit })
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 2*limit/64)
	t.Run("declared at MAIL", func(t *testing.T) {
		c := ts.dial(t)
		err := c.Mail("sender@remote.example", &smtp.MailOptions{Size: limit + 1})
		wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})
	})
	t.Run("DATA over the limit", func(t *testing.T) {
		_, err := ts.send(t, "sender@remote.example", []string{ann}, big)
		wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})
	})
	t.Run("lying SIZE", func(t *testing.T) {
		c := ts.dial(t)
		_, err := sendOn(c, "sender@remote.example", []string{ann}, big, &smtp.MailOptions{Size: 100})
		wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})
		// The session goes on.
		if _, err := sendOn(c, "sender@remote.example", []string{ann}, simpleMsg("after"), nil); err != nil {
			t.Fatalf("next message on the session: %v", err)
		}
	})
	t.Run("BDAT over the limit", func(t *testing.T) {
		rc := ts.raw(t)
		rc.Cmd("EHLO client.test.example", 250)
		rc.Cmd("MAIL FROM:<sender@remote.example>", 250)
		rc.Cmd("RCPT TO:<ann@example.com>", 250)
		chunk := big[:3000]
		rc.Write(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
		rc.Expect(250)
		rc.Write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
		if msg := rc.Expect(552); !strings.HasPrefix(msg, "5.3.4") {
			t.Fatalf("BDAT reply %q", msg)
		}
		// An aborted BDAT transfer ends the connection (see Reset).
		rc.Expect(421)
		rc.ExpectClosed()
	})
	t.Run("just under the limit", func(t *testing.T) {
		if _, err := ts.send(t, "sender@remote.example", []string{ann}, big[:limit-200]); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 2 {
		t.Fatalf("ann has %d messages, want 2 (the small ones)", n)
	}
	if st := ts.Stats(); st.Rejected[RejectSize] < 2 {
		t.Errorf("size rejections counted: %d", st.Rejected[RejectSize])
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	// RFC 2920: the whole envelope in one write, then the replies in order.
	rc.Write("MAIL FROM:<sender@remote.example>\r\nRCPT TO:<ann@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
	for _, want := range []int{250, 250, 550, 250, 354} {
		rc.Expect(want)
	}
	rc.Write(simpleMsg("pipelined") + ".\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
	for _, want := range []int{250, 250, 250, 354} {
		rc.Expect(want)
	}
	rc.Write(simpleMsg("second") + ".\r\nQUIT\r\n")
	rc.Expect(250)
	rc.Expect(221)
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 2 {
		t.Fatalf("bob has %d messages, want 2", n)
	}
}

func TestBDAT(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	msg := simpleMsg("chunked")
	// RFC 3030 chunks carry the message as is: no dot-stuffing, and a
	// chunk boundary anywhere, even inside a CRLF.
	c1, c2, c3 := msg[:10], msg[10:strings.Index(msg, "\r\n\r\n")+1], msg[strings.Index(msg, "\r\n\r\n")+1:]
	rc.Write("MAIL FROM:<sender@remote.example>\r\nRCPT TO:<ann@example.com>\r\n")
	rc.Expect(250)
	rc.Expect(250)
	rc.Write(fmt.Sprintf("BDAT %d\r\n%sBDAT %d\r\n%s", len(c1), c1, len(c2), c2))
	rc.Expect(250)
	rc.Expect(250)
	rc.Write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(c3), c3))
	text := rc.Expect(250)
	if !strings.Contains(text, "queued as") {
		t.Errorf("BDAT LAST reply %q", text)
	}
	rc.Cmd("BDAT 0 LAST", 502) // no transaction any more
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("ann has %d messages", len(got))
	}
	if _, rest := splitReceived(t, got[0]); rest != msg {
		t.Fatalf("got %q, want %q", rest, msg)
	}
}

func TestAbortedBDATEndsTheConnection(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	for _, abort := range []string{"RSET", "EHLO again.example"} {
		t.Run(abort, func(t *testing.T) {
			rc := ts.raw(t)
			rc.Cmd("EHLO client.test.example", 250)
			rc.Cmd("MAIL FROM:<sender@remote.example>", 250)
			rc.Cmd("RCPT TO:<ann@example.com>", 250)
			rc.Write("BDAT 5\r\nHello")
			rc.Expect(250)
			// Pipelined: the new transaction must not start on this
			// connection (go-smtp would mix the two BDAT results up).
			rc.Write(abort + "\r\nMAIL FROM:<sender@remote.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT 16 LAST\r\nSubject: x\r\n\r\nhi")
			if text := rc.Expect(421); !strings.HasPrefix(text, "4.3.0") {
				t.Errorf("got %q", text)
			}
			rc.ExpectClosed()
		})
	}
	if n := len(messages(t, ts.store, ann, "INBOX")) + len(messages(t, ts.store, bob, "INBOX")); n != 0 {
		t.Fatalf("%d messages stored, want 0", n)
	}
	// A new connection works.
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<sender@remote.example>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	rc.Write("BDAT 16 LAST\r\nSubject: x\r\n\r\nhi")
	rc.Expect(250)
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob has %d messages, want 1", n)
	}
}

func TestSTARTTLSDuringBDATEndsTheConnection(t *testing.T) {
	srvTLS, cliTLS := selfSignedTLS(t)
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.TLSConfig = srvTLS })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<sender@remote.example>", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	rc.Write("BDAT 5\r\nHello")
	rc.Expect(250)
	rc.Cmd("STARTTLS", 220)
	tc := tls.Client(rc.Conn, cliTLS)
	if err := tc.Handshake(); err == nil {
		// The server may close before or after the handshake completes;
		// either way no new session begins.
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(tc, "EHLO again.example\r\n")
		buf := make([]byte, 100)
		if n, err := tc.Read(buf); err == nil {
			t.Fatalf("session went on after STARTTLS in mid-BDAT: %q", buf[:n])
		}
	}
}

func TestSTARTTLS(t *testing.T) {
	srvTLS, cliTLS := selfSignedTLS(t)
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.TLSConfig = srvTLS })
	c, err := smtp.DialStartTLS(ts.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS")
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS still offered inside TLS")
	}
	if _, err := sendOn(c, "sender@remote.example", []string{ann}, simpleMsg("tls"), nil); err != nil {
		t.Fatal(err)
	}
	rcv, _ := splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	if !regexp.MustCompile(`with ESMTPS\r\n\t\(version=TLS1\.3 cipher=TLS_[A-Z0-9_]+\)\r\n\tid `).MatchString(rcv) {
		t.Errorf("Received field does not record TLS:\n%s", rcv)
	}
}

func TestUTF8(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	msg := "From: Jürgen <jürgen@remote.example>\r\n" +
		"To: 用户 <用户@example.com>\r\n" +
		"Subject: Grüße aus Köln, 日本語\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"8-bit body: \xe2\x82\xac \xff\xfe raw bytes, not even UTF-8\r\n"
	c := ts.dial(t)
	if _, err := sendOn(c, "jürgen@remote.example", []string{utf8U}, msg, &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, utf8U, "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	rcv, rest := splitReceived(t, got[0])
	if rest != msg {
		t.Errorf("got %q, want %q", rest, msg)
	}
	if !strings.Contains(rcv, "with UTF8SMTP\r\n") || !strings.Contains(rcv, "for <用户@example.com>") {
		t.Errorf("Received: %q", rcv)
	}
	// Without SMTPUTF8, non-ASCII addresses are refused (RFC 6531 §3.5).
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	if text := rc.Cmd("MAIL FROM:<jürgen@remote.example>", 553); !strings.HasPrefix(text, "5.6.7") {
		t.Errorf("MAIL reply %q", text)
	}
	rc.Cmd("MAIL FROM:<a@remote.example>", 250)
	if text := rc.Cmd("RCPT TO:<用户@example.com>", 553); !strings.HasPrefix(text, "5.6.7") {
		t.Errorf("RCPT reply %q", text)
	}
	// 8BITMIME alone is fine for an 8-bit body.
	rc.Cmd("RSET", 250)
	rc.Cmd("MAIL FROM:<a@remote.example> BODY=8BITMIME", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Write("Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n.\r\n")
	rc.Expect(250)
	_, rest = splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	if rest != "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n" {
		t.Errorf("8-bit message: %q", rest)
	}
}

func TestLoopDetection(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	hops := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "Received: from hop%d.example by hop%d.example;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n", i, i+1)
		}
		return b.String() + "Subject: loop\r\n\r\nbody\r\n"
	}
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, hops(50)); err != nil {
		t.Fatalf("50 hops: %v", err)
	}
	_, err := ts.send(t, "sender@remote.example", []string{ann}, hops(51))
	wantCode(t, err, 554, smtp.EnhancedCode{5, 4, 6})
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("ann has %d messages, want 1", n)
	}
	if ts.Stats().Rejected[RejectLoop] != 1 {
		t.Errorf("loop not counted")
	}
}

func TestQuota(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	body := func(n int) string {
		return "Subject: q\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", n/100)
	}
	// Larger than tiny's whole quota: permanent.
	_, err := ts.send(t, "sender@remote.example", []string{tiny}, body(tinyQuota))
	wantCode(t, err, 552, smtp.EnhancedCode{5, 2, 2})
	if ts.Stats().Rejected[RejectQuota] != 1 {
		t.Errorf("quota reject not counted: %+v", ts.Stats())
	}
	// Fill small's mailbox, then one more that would fit an empty one: temporary.
	if _, err := ts.send(t, "sender@remote.example", []string{small}, body(smallQuota*3/5)); err != nil {
		t.Fatal(err)
	}
	_, err = ts.send(t, "sender@remote.example", []string{small}, body(smallQuota*3/5))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	// Everyone full: temporary, as the tiny one is not permanent for all.
	_, err = ts.send(t, "sender@remote.example", []string{small, tiny}, body(smallQuota*3/5))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	// One full, one not (issue 13 item 2): the whole message is refused
	// before any copy is made, naming the recipient whose mailbox is
	// full; the sender's retry is refused for that recipient alone, at
	// RCPT, and delivered to the other.
	_, err = ts.send(t, "other@remote.example", []string{small, ann}, body(smallQuota*3/5))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if !strings.Contains(err.Error(), "<small@example.com>: recipient's mailbox is full") {
		t.Errorf("reply does not say whose mailbox is full: %v", err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Errorf("ann has %d messages after a 452, want 0", n)
	}
	c := ts.dial(t)
	if err := c.Mail("other@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt(small, nil), 452, smtp.EnhancedCode{4, 2, 2})
	if err := c.Rcpt(ann, nil); err != nil {
		t.Fatal(err)
	}
	if err := finishData(t, c, body(smallQuota*3/5)); err != nil {
		t.Fatalf("retry for the others: %v", err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Errorf("ann has %d messages, want 1", n)
	}
	if n := len(messages(t, ts.store, small, "INBOX")); n != 1 {
		t.Errorf("small has %d messages, want 1", n)
	}
}

func TestStoreFailureTempfails(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	c := ts.dial(t)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(ann, nil); err != nil {
		t.Fatal(err)
	}
	ts.store.Close() // every write now fails with mailstore.ErrClosed
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, simpleMsg("nostore"))
	_, err = w.CloseWithResponse()
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if ts.Stats().TempFailed != 1 {
		t.Errorf("tempfail not counted: %+v", ts.Stats())
	}
}

func TestPanicIsRecovered(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	var once sync.Once
	ts.hooks.beforeDeliver = func() {
		fired := false
		once.Do(func() { fired = true })
		if fired {
			panic("boom")
		}
	}
	c := ts.dial(t)
	_, err := sendOn(c, "sender@remote.example", []string{ann}, simpleMsg("panic"), nil)
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	// Same session, next message: fine.
	if _, err := sendOn(c, "sender@remote.example", []string{ann}, simpleMsg("after"), nil); err != nil {
		t.Fatal(err)
	}
	// And the server still takes new sessions.
	if _, err := ts.send(t, "sender@remote.example", []string{bob}, simpleMsg("new")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts.logs.String(), "panic in SMTP session") {
		t.Error("panic not logged")
	}
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	t.Run("long line", func(t *testing.T) {
		rc := ts.raw(t)
		rc.Write("EHLO " + strings.Repeat("a", 3000) + "\r\n")
		if code, _ := rc.Reply(); code != 500 {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("commands out of order", func(t *testing.T) {
		rc := ts.raw(t)
		rc.Cmd("MAIL FROM:<a@remote.example>", 502)
		rc.Cmd("EHLO client.test.example", 250)
		rc.Cmd("RCPT TO:<ann@example.com>", 502)
		rc.Cmd("DATA", 502)
		rc.Cmd("MAIL FROM:<a@remote.example>", 250)
		rc.Cmd("DATA", 502)
	})
	t.Run("long line in DATA", func(t *testing.T) {
		rc := ts.raw(t)
		rc.Cmd("EHLO client.test.example", 250)
		rc.Cmd("MAIL FROM:<a@remote.example>", 250)
		rc.Cmd("RCPT TO:<ann@example.com>", 250)
		rc.Cmd("DATA", 354)
		rc.Write("Subject: long\r\n\r\n" + strings.Repeat("x", 2500) + "\r\n.\r\n")
		if code, _ := rc.Reply(); code != 500 {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		rc := ts.raw(t)
		rc.Write("\x00\x01\x02 \xff\xfe\r\n")
		if code, _ := rc.Reply(); code/100 != 5 {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("broken header is still delivered", func(t *testing.T) {
		msg := " starts with a continuation\r\nno colon here\r\n\r\nbody\r\n"
		if _, err := ts.send(t, "sender@remote.example", []string{bob}, msg); err != nil {
			t.Fatal(err)
		}
		_, rest := splitReceived(t, messages(t, ts.store, bob, "INBOX")[0])
		// Except for the leading continuation line, which would otherwise
		// continue Yubin's own fields.
		if want := "no colon here\r\n\r\nbody\r\n"; rest != want {
			t.Fatalf("got %q, want %q", rest, want)
		}
	})
	// The server is still fine.
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("ok")); err != nil {
		t.Fatal(err)
	}
}

// TestReadTimeout: a silent client is cut off with 421 after ReadTimeout.
// The client sends nothing at all, so no delay of the test (a loaded
// machine) can change the outcome.
func TestReadTimeout(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.ReadTimeout = 300 * time.Millisecond })
	rc := ts.raw(t)
	if text := rc.Expect(421); !strings.HasPrefix(text, "4.4.2") {
		t.Errorf("timeout reply %q", text)
	}
}

// TestReadTimeoutPerRead: a slow but steady client is not cut off
// mid-message: the timeout is per read, not for the whole DATA. The client
// sends a line every 10 ms for twice the timeout: only a stall of the test
// itself 150 times longer than its pauses could fail it.
func TestReadTimeoutPerRead(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.ReadTimeout = timeout })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("MAIL FROM:<a@remote.example>", 250)
	rc.Cmd("RCPT TO:<ann@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Write("Subject: slow\r\n\r\n")
	line := strings.Repeat("z", 98) + "\r\n"
	for start := time.Now(); time.Since(start) < 2*timeout; {
		rc.Write(line)
		time.Sleep(10 * time.Millisecond)
	}
	rc.Write(".\r\n")
	rc.Expect(250)
}

func TestSpoolFileForLargeMessages(t *testing.T) {
	spoolDir := t.TempDir()
	var sawFile, sawSize int64
	check := func(m *filterMessage) {
		entries, _ := os.ReadDir(spoolDir)
		sawFile = int64(len(entries))
		sawSize = m.Size
	}
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, verdictFunc(check, acceptVerdict())); o.SpoolDir = spoolDir })
	large := "Subject: large\r\n\r\n" + strings.Repeat(strings.Repeat("y", 98)+"\r\n", 25_000) // 2.5 MB
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, large); err != nil {
		t.Fatal(err)
	}
	if sawFile != 1 || sawSize != int64(len(large)) {
		t.Errorf("during filtering: %d files in the spool folder, size %d", sawFile, sawSize)
	}
	if entries, _ := os.ReadDir(spoolDir); len(entries) != 0 {
		t.Errorf("spool file left behind: %v", entries)
	}
	_, rest := splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	if rest != large {
		t.Errorf("large message stored wrong (%d bytes, want %d)", len(rest), len(large))
	}
	// A small message never touches the disk.
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("small")); err != nil {
		t.Fatal(err)
	}
	if sawFile != 0 {
		t.Errorf("small message spooled to a file")
	}
}

func TestOneLogLinePerMessage(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	resp, err := ts.send(t, "sender@remote.example", []string{ann, bob}, simpleMsg("logged"))
	if err != nil {
		t.Fatal(err)
	}
	id := regexp.MustCompile(`[A-Z2-7]{16}`).FindString(resp)
	_, err = ts.send(t, "sender@remote.example", []string{ann}, "Subject: x\r\n"+strings.Repeat("Received: x\r\n", 60)+"\r\n")
	wantCode(t, err, 554, smtp.EnhancedCode{5, 4, 6})
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(ts.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["queue_id"] != nil {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines with a queue id, want 2: %v", len(lines), lines)
	}
	acc, rej := lines[0], lines[1]
	if acc["msg"] != "message accepted" || acc["queue_id"] != id || acc["from"] != "sender@remote.example" ||
		fmt.Sprint(acc["rcpts"]) != "[ann@example.com bob@example.com]" || acc["verdict"] != "accept" ||
		acc["size"] == nil || acc["duration"] == nil {
		t.Errorf("accepted line: %v", acc)
	}
	if rej["msg"] != "message rejected" || rej["code"] != float64(554) || !strings.HasPrefix(fmt.Sprint(rej["reason"]), "loop") {
		t.Errorf("rejected line: %v", rej)
	}
}

func TestStats(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	for i := range 3 {
		if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg(fmt.Sprint("s", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = ts.send(t, "sender@remote.example", []string{"nobody@example.com"}, "x")
	st := ts.Stats()
	if st.Accepted != 3 || st.Rejected[RejectUnknownUser] != 1 || st.Sessions != 4 || st.TempFailed != 0 || st.Junk != 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(st.Rejected) != len(rejectReasons()) {
		t.Errorf("not every reason present: %v", st.Rejected)
	}
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	idle := ts.raw(t)
	idle.Cmd("EHLO idle.example", 250)
	busy := ts.raw(t)
	busy.Cmd("EHLO busy.example", 250)
	busy.Cmd("MAIL FROM:<sender@remote.example>", 250)
	busy.Cmd("RCPT TO:<ann@example.com>", 250)
	busy.Cmd("DATA", 354)
	busy.Write("Subject: in flight\r\n\r\nfirst half\r\n")
	greeted := ts.raw(t) // connected, not even EHLO

	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()

	if text := idle.Expect(421); !strings.HasPrefix(text, "4.3.2") {
		t.Errorf("idle session got %q", text)
	}
	idle.ExpectClosed()
	greeted.Expect(421)
	greeted.ExpectClosed()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a transaction under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	// New connections are refused.
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Close()
		if strings.HasPrefix(string(buf[:n]), "220") {
			t.Errorf("new connection greeted during shutdown: %q", buf[:n])
		}
	}
	busy.Write("second half\r\n.\r\n")
	busy.Expect(250)
	busy.Expect(421)
	busy.ExpectClosed()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
		ts.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("the in-flight message was not stored")
	}
}

func TestShutdownWithTLSSessions(t *testing.T) {
	srvTLS, cliTLS := selfSignedTLS(t)
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.TLSConfig = srvTLS })
	// MAIL, then STARTTLS: the transaction is over (RFC 3207 §4.2), and
	// Shutdown must not wait for it.
	half := ts.raw(t)
	half.Cmd("EHLO half.example", 250)
	half.Cmd("MAIL FROM:<a@remote.example>", 250)
	half = half.StartTLS(cliTLS)
	// An idle session inside TLS gets its 421 through TLS.
	idle := ts.raw(t)
	idle.Cmd("EHLO idle.example", 250)
	idle = idle.StartTLS(cliTLS)
	idle.Cmd("EHLO idle.example", 250)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if text := idle.Expect(421); !strings.HasPrefix(text, "4.3.2") {
		t.Errorf("got %q", text)
	}
	idle.ExpectClosed()
	half.ExpectClosed()
}

func TestShutdownDeadline(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	busy := ts.raw(t)
	busy.Cmd("EHLO busy.example", 250)
	busy.Cmd("MAIL FROM:<sender@remote.example>", 250)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ts.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	busy.ExpectClosed()
}

func TestServeAfterClose(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	ts.raw(t) // serving
	ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ts.Serve(ln); !errors.Is(err, smtp.ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if err := NewServer(Options{Filters: acceptAll()}).Serve(ln); err == nil {
		t.Fatal("Serve without a store succeeded")
	}
}
