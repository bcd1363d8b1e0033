package smtpserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/testsmtp"
)

var b64 = base64.StdEncoding.EncodeToString

func plainIR(authz, user, pass string) string {
	return b64([]byte(authz + "\x00" + user + "\x00" + pass))
}

func TestEHLOCapabilities(t *testing.T) {
	ts := startServer(t, &fakeBackend{insecureAuth: false}, false, nil)
	rc := ts.raw(t)
	caps := strings.Split(rc.Cmd("EHLO client.example", 250), "\n")
	for _, want := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 1048576", "CHUNKING", "STARTTLS", "HELP"} {
		if !slices.Contains(caps, want) {
			t.Errorf("EHLO lacks %q: %q", want, caps)
		}
	}
	for _, c := range caps {
		if strings.HasPrefix(c, "AUTH") || strings.HasPrefix(c, "BURL") || c == "BINARYMIME" || c == "DSN" || c == "REQUIRETLS" {
			t.Errorf("EHLO before TLS offers %q", c)
		}
	}
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "secret"), 538)

	c, err := smtp.DialStartTLS(ts.addr, ts.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered under TLS")
	}
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH under TLS: %v %q", ok, mechs)
	}
	if ok, _ := c.Extension("BURL"); ok {
		t.Error("BURL offered before AUTH")
	}
	if err := c.Auth(sasl.NewPlainClient("", "ann", "secret")); err != nil {
		t.Fatal(err)
	}
}

func TestBURLAdvertisedAfterAuth(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "secret"), 235)
	caps := strings.Split(rc.Cmd("EHLO client.example", 250), "\n")
	if !slices.Contains(caps, "BURL imap") {
		t.Errorf("no BURL imap after AUTH: %q", caps)
	}
	if slices.ContainsFunc(caps, func(c string) bool { return strings.HasPrefix(c, "AUTH") }) {
		t.Errorf("AUTH still offered after AUTH: %q", caps)
	}
}

// TestGoSMTPClient sends with go-smtp's client, over STARTTLS and over
// implicit TLS; the message arrives as sent.
func TestGoSMTPClient(t *testing.T) {
	msg := "From: ann@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
	for _, implicit := range []bool{false, true} {
		ts := startServer(t, &fakeBackend{}, implicit, nil)
		var c *smtp.Client
		var err error
		if implicit {
			c, err = smtp.DialTLS(ts.addr, ts.client)
		} else {
			c, err = smtp.DialStartTLS(ts.addr, ts.client)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "ann", "secret")); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("ann@example.com", []string{"bob@example.com", "carl@example.com"}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
		events, msgs := ts.backend.got()
		if len(msgs) != 1 || msgs[0] != msg {
			t.Fatalf("implicit=%v: messages %q", implicit, msgs)
		}
		if !slices.Contains(events, "RCPT carl@example.com") {
			t.Errorf("events %q", events)
		}
	}
}

// TestDataTransparency: the message ends at CRLF.CRLF only; dot-stuffed
// lines lose their dot; bare CR and bare LF pass through as they came.
func TestDataTransparency(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	send := func(body string) string {
		t.Helper()
		rc.Cmd("MAIL FROM:<ann@example.com>", 250)
		rc.Cmd("RCPT TO:<bob@example.com>", 250)
		rc.Cmd("DATA", 354)
		rc.Write(body)
		rc.Expect(250)
		_, msgs := ts.backend.got()
		return msgs[len(msgs)-1]
	}
	for _, tc := range []struct{ sent, want string }{
		{"a\r\n.\r\n", "a\r\n"},
		{".\r\n", ""},
		{"..x\r\n.\r\n", ".x\r\n"},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n"},
		{"a\r.\rb\r\n.\r\n", "a\r.\rb\r\n"},
		{"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n", "a\r\n\nMAIL FROM:<x@y>\r\n"},
		{"a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n"},
		{"hello\r\r\n.\r\n", "hello\r\r\n"},
		{"x\r\n..\r\n.\r\n", "x\r\n.\r\n"},
	} {
		if got := send(tc.sent); got != tc.want {
			t.Errorf("sent %q: got %q, want %q", tc.sent, got, tc.want)
		}
	}
}

// TestPipelining sends a whole transaction in one write (RFC 2920); the
// replies come in order.
func TestPipelining(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	rc := ts.raw(t)
	rc.Write("EHLO client.example\r\nMAIL FROM:<ann@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<unknown@example.com>\r\nRCPT TO:<carl@example.com>\r\nDATA\r\n")
	for _, want := range []int{250, 250, 250, 550, 250, 354} {
		rc.Expect(want)
	}
	rc.Write("Subject: p\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
	for _, want := range []int{250, 250, 250, 221} {
		rc.Expect(want)
	}
}

// TestSTARTTLSInjection: commands sent in the clear after STARTTLS, before
// the handshake, are thrown away, never run in the protected session.
func TestSTARTTLSInjection(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	rc.Write("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nNOOP\r\n")
	rc.Expect(220)
	tc := tls.Client(rc.Conn, ts.client)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	sc := testsmtp.New(t, tc)
	// The first reply in TLS is the EHLO's, not the NOOP's or the MAIL's.
	caps := sc.Cmd("EHLO client.example", 250)
	if !strings.Contains(caps, "PIPELINING") {
		t.Fatalf("first reply under TLS: %q", caps)
	}
	sc.Cmd("MAIL FROM:<ann@example.com>", 250)
	events, _ := ts.backend.got()
	for _, e := range events {
		if strings.Contains(e, "injected") {
			t.Fatalf("injected command ran: %q", events)
		}
	}
}

// TestAuth covers PLAIN and LOGIN, with and without an initial response,
// and the errors.
func TestAuth(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	dial := func() *rawClient {
		rc := ts.raw(t)
		rc.Cmd("EHLO client.example", 250)
		return rc
	}
	rc := dial()
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "wrong"), 535)
	rc.Cmd("AUTH PLAIN "+plainIR("ann", "ann", "secret"), 235)
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "secret"), 503)

	rc = dial()
	if ch := rc.Cmd("AUTH PLAIN", 334); ch != "" {
		t.Errorf("PLAIN challenge %q", ch)
	}
	rc.Cmd(plainIR("", "ann", "secret"), 235)

	// LOGIN as Outlook does it: no initial response.
	rc = dial()
	if ch := rc.Cmd("AUTH LOGIN", 334); ch != b64([]byte("Username:")) {
		t.Errorf("first LOGIN challenge %q", ch)
	}
	if ch := rc.Cmd(b64([]byte("ann")), 334); ch != b64([]byte("Password:")) {
		t.Errorf("second LOGIN challenge %q", ch)
	}
	rc.Cmd(b64([]byte("secret")), 235)

	// LOGIN with the user name as the initial response (go-sasl).
	c, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewLoginClient("ann", "secret")); err != nil {
		t.Fatal(err)
	}

	rc = dial()
	rc.Cmd("AUTH LOGIN", 334)
	rc.Cmd("*", 501) // cancelled
	rc.Cmd("AUTH LOGIN =", 501)
	rc.Cmd("AUTH PLAIN !!!notbase64", 501)
	rc.Cmd("AUTH PLAIN "+b64([]byte("no-nuls")), 501)
	rc.Cmd("AUTH CRAM-MD5", 504)
	rc.Cmd("AUTH", 501)
	rc.Cmd("AUTH PLAIN", 334)
	rc.Cmd(strings.Repeat("A", maxAuthLineBytes+10), 500)
	rc.Cmd("AUTH PLAIN "+plainIR("bob", "ann", "secret"), 535)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "secret"), 503) // in a transaction
	rc.Cmd("NOOP", 250)

	events, _ := ts.backend.got()
	if !slices.Contains(events, "AUTH ann/ann/secret") || !slices.Contains(events, "AUTH bob/ann/secret") {
		t.Errorf("events %q", events)
	}
}

// TestMalformedCommands: every bad command gets a clear reply and the
// session goes on.
func TestMalformedCommands(t *testing.T) {
	ts := startServer(t, nil, false, func(o *Options) { o.MaxErrors = 1000 })
	rc := ts.raw(t)
	rc.Cmd("MAIL FROM:<ann@example.com>", 503) // before EHLO
	rc.Cmd("EHLO", 501)
	rc.Cmd("EHLO two words", 501)
	rc.Cmd("EHLO client.example", 250)
	for _, tc := range []struct {
		line string
		code int
	}{
		{"", 500},
		{"   ", 500},
		{"XYZZY", 500},
		{"MAIL\x00 FROM:<a@b>", 500},
		{"EXPN staff", 502},
		{"TURN", 502},
		{"VRFY ann", 252},
		{"VRFY", 501},
		{"HELP", 214},
		{"RCPT TO:<bob@example.com>", 503},
		{"DATA", 503},
		{"BDAT 0 LAST", 503},
		{"MAIL TO:<a@b>", 501},
		{"MAIL FROM:a@b", 501},
		{"MAIL FROM:<a@b", 501},
		{"MAIL FROM:<a@b>junk", 501},
		{"MAIL FROM:<a@b> SIZE=abc", 501},
		{"MAIL FROM:<a@b> BODY=BINARYMIME", 555},
		{"MAIL FROM:<a@b> RET=FULL", 555},
		{"MAIL FROM:<a@b> =x", 501},
		{"MAIL FROM:<a@b> SMTPUTF8=yes", 501},
		{"MAIL FROM:<refused@remote.example>", 550},
		{"RSET extra", 501},
		{"STARTTLS now", 501},
		{"BURL imap://x LAST", 530},
		{"MAIL FROM:<@route.example:ann@example.com> SIZE=100 BODY=8BITMIME SMTPUTF8 AUTH=<>", 250},
		{"MAIL FROM:<ann@example.com>", 503},
		{"RCPT TO:<>", 501},
		{"RCPT TO:<bob@example.com> NOTIFY=NEVER", 555},
		{"RCPT TO:<unknown@example.com>", 550},
		{"DATA now", 501},
		{"DATA", 503},
		{"RCPT TO: <bob@example.com>", 250},
		{"RCPT TO:<\"quoted >name\"@example.com>", 250},
		{"RSET", 250},
		{"NOOP anything", 250},
	} {
		if got, msg := func() (int, string) { rc.Write(tc.line + "\r\n"); return rc.Reply() }(); got != tc.code {
			t.Errorf("%q: got %d %q, want %d", tc.line, got, msg, tc.code)
		}
	}
	events, _ := ts.backend.got()
	if !slices.Contains(events, "MAIL ann@example.com") || !slices.Contains(events, `RCPT "quoted >name"@example.com`) {
		t.Errorf("events %q", events)
	}
	// A line over the limit is read to its end and refused.
	rc.Cmd("NOOP "+strings.Repeat("x", maxLineBytes), 500)
	rc.Cmd("NOOP", 250)
	// A BDAT whose size cannot be read ends the session: the client's
	// next bytes cannot be told from the chunk.
	rc.Write("BDAT x\r\n")
	rc.Expect(501)
	if _, err := rc.R.ReadByte(); err == nil {
		t.Error("connection open after BDAT without a size")
	}
}

// TestErrorCap closes a session after MaxErrors refused commands.
func TestErrorCap(t *testing.T) {
	ts := startServer(t, nil, false, func(o *Options) { o.MaxErrors = 3 })
	rc := ts.raw(t)
	rc.Cmd("BOGUS", 500)
	rc.Cmd("BOGUS", 500)
	rc.Write("BOGUS\r\n")
	rc.Expect(500)
	rc.Expect(421)
	if _, err := rc.R.ReadByte(); err == nil {
		t.Error("connection open after the error cap")
	}
}

// TestJunkCommandCap: NOOPs and the like beyond the first 100 count as
// errors, so a client that only keeps the connection busy is closed.
func TestJunkCommandCap(t *testing.T) {
	ts := startServer(t, nil, false, func(o *Options) { o.MaxErrors = 3 })
	rc := ts.raw(t)
	rc.Write(strings.Repeat("NOOP\r\n", maxJunkCommands+3))
	for range maxJunkCommands + 3 {
		rc.Expect(250)
	}
	rc.Expect(421)

	// An accepted message starts the count again.
	rc = ts.raw(t)
	rc.Write(strings.Repeat("RSET\r\n", maxJunkCommands))
	for range maxJunkCommands {
		rc.Expect(250)
	}
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	rc.Cmd("BDAT 0 LAST", 250)
	rc.Write(strings.Repeat("RSET\r\n", maxJunkCommands))
	for range maxJunkCommands {
		rc.Expect(250)
	}
	rc.Cmd("NOOP", 250)
}

// TestRecipientCap: RCPTs beyond MaxRecipients get 452 4.5.3 (RFC 5321
// §4.5.3.1.10), and the message goes to the accepted ones.
func TestRecipientCap(t *testing.T) {
	ts := startServer(t, nil, false, func(o *Options) { o.MaxRecipients = 2 })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("RCPT TO:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<b@example.com>", 250)
	if msg := rc.Cmd("RCPT TO:<c@example.com>", 452); !strings.HasPrefix(msg, "4.5.3") {
		t.Errorf("reply %q", msg)
	}
	rc.Cmd("DATA", 354)
	rc.Write("x\r\n.\r\n")
	rc.Expect(250)
}

// TestBDATAndBURL mixes BDAT chunks and BURL parts (RFC 4468 §4) in one
// message; a URL the session refuses ends the transaction with its reply.
func TestBDATAndBURL(t *testing.T) {
	const url = "imap://ann@mail.test.example/Drafts;UIDVALIDITY=1/;UID=1;URLAUTH=submit+ann:INTERNAL:00"
	ts := startServer(t, &fakeBackend{insecureAuth: true, urls: map[string]string{url: "Body from IMAP\r\n"}}, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("AUTH PLAIN "+plainIR("", "ann", "secret"), 235)
	start := func() {
		rc.Cmd("MAIL FROM:<ann@example.com>", 250)
		rc.Cmd("RCPT TO:<bob@example.com>", 250)
	}
	head := "Subject: mixed\r\n\r\n"
	tail := "-- \r\nann\r\n"

	start()
	rc.Write(fmt.Sprintf("BDAT %d\r\n%s", len(head), head))
	rc.Expect(250)
	rc.Cmd("BURL "+url, 250)
	rc.Write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(tail), tail))
	rc.Expect(250)

	start()
	rc.Cmd("BURL "+url+" LAST", 250)

	// Chunks pipelined, with a RSET in between that aborts one message.
	start()
	rc.Write(fmt.Sprintf("BDAT %d\r\n%sRSET\r\n", len(head), head))
	rc.Expect(250)
	rc.Expect(250)
	rc.Cmd("BDAT 0 LAST", 503) // no transaction any more

	// A refused URL ends the transaction, with BDAT sent before or not.
	start()
	rc.Write(fmt.Sprintf("BDAT %d\r\n%s", len(head), head))
	rc.Expect(250)
	if msg := rc.Cmd("BURL imap://elsewhere/x LAST", 554); !strings.HasPrefix(msg, "5.6.6") {
		t.Errorf("refused BURL: %q", msg)
	}
	rc.Cmd("BDAT 0 LAST", 503)
	start()
	rc.Cmd("BURL imap://elsewhere/x", 554)
	rc.Cmd("RCPT TO:<bob@example.com>", 503)
	// Commands other than BDAT and BURL are refused within a transfer.
	start()
	rc.Write("BDAT 2\r\nabMAIL FROM:<x@y>\r\n")
	rc.Expect(250)
	rc.Expect(503)
	rc.Cmd("BURL "+url+" LAST", 250)
	rc.Cmd("BURL", 501)

	_, msgs := ts.backend.got()
	want := []string{head + "Body from IMAP\r\n" + tail, "Body from IMAP\r\n", "ab" + "Body from IMAP\r\n"}
	var done []string
	for _, m := range msgs {
		if m != head { // the aborted ones read as far as they got
			done = append(done, m)
		}
	}
	if !slices.Equal(done, want) {
		t.Errorf("messages %q, want %q", done, want)
	}
}

// TestDataRefusedEarly: a session that refuses a message before reading
// all of it (too large) still gets the rest read, and the client its
// reply in step.
func TestDataRefusedEarly(t *testing.T) {
	ts := startServer(t, &fakeBackend{insecureAuth: true, early: true}, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Write(strings.Repeat("line of the message\r\n", 5000) + ".\r\n")
	rc.Expect(552)
	rc.Cmd("NOOP", 250)
	rc.Cmd("MAIL FROM:<ann@example.com>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	big := strings.Repeat("z", 200000)
	rc.Write(fmt.Sprintf("BDAT %d\r\n%s", len(big), big))
	rc.Expect(552)
	rc.Cmd("NOOP", 250)
}

// TestShutdown: an idle session is told 421 at once; one within a
// transaction finishes it first.
func TestShutdown(t *testing.T) {
	ts := startServer(t, nil, false, nil)
	idle := ts.raw(t)
	idle.Cmd("EHLO client.example", 250)
	busy := ts.raw(t)
	busy.Cmd("EHLO client.example", 250)
	busy.Cmd("MAIL FROM:<ann@example.com>", 250)
	busy.Cmd("RCPT TO:<bob@example.com>", 250)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	if msg := idle.Expect(421); !strings.HasPrefix(msg, "4.3.2") {
		t.Errorf("idle session told %q", msg)
	}
	busy.Cmd("DATA", 354)
	busy.Write("x\r\n.\r\n")
	busy.Expect(250)
	busy.Write("NOOP\r\n")
	busy.Expect(421)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestReadTimeout: a silent client is told 421 4.4.2 and disconnected.
func TestReadTimeout(t *testing.T) {
	ts := startServer(t, nil, false, func(o *Options) { o.ReadTimeout = 200 * time.Millisecond })
	rc := ts.raw(t)
	if msg := rc.Expect(421); !strings.HasPrefix(msg, "4.4.2") {
		t.Errorf("timeout reply %q", msg)
	}
	// The server closes the connection; the read ends with EOF, long
	// before the client's own 30-second deadline.
	if _, err := io.ReadAll(rc.R); err != nil {
		t.Fatalf("read: %v", err)
	}
}
