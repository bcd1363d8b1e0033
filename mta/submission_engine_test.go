package mta

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestSubmissionWithSwaks sends with swaks, a client nobody here wrote,
// over STARTTLS with AUTH PLAIN and AUTH LOGIN, pipelining or not; bob
// gets each message once, received "with ESMTPSA" (ESMTPA without TLS).
func TestSubmissionWithSwaks(t *testing.T) {
	swaks := testpeer.Need(t, "/usr/bin/swaks", "swaks")
	ts, _ := startSubmission(t, false, nil)
	host, port, _ := net.SplitHostPort(ts.addr)
	for i, args := range [][]string{
		{"--tls", "--auth", "PLAIN"},
		{"--tls", "--auth", "LOGIN", "--pipeline"},
		{"--auth", "PLAIN", "--pipeline"}, // loopback may log in without TLS
	} {
		cmd := exec.Command(swaks, append([]string{"--server", host, "--port", port,
			"--auth-user", ann, "--auth-password", testPassword, "--from", ann, "--to", bob,
			"--header", fmt.Sprintf("Subject: swaks %d", i), "--body", "Hello from swaks.\n.\nA dot line above."}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("swaks %v: %v\n%s", args, err, out.String())
		}
	}
	got := inbox(t, ts.store, bob)
	if len(got) != 3 {
		t.Fatalf("bob has %d messages, want 3", len(got))
	}
	for i, m := range got {
		with := "with ESMTPSA"
		if i == 2 {
			with = "with ESMTPA\r\n"
		}
		if !strings.Contains(m, with) || !strings.Contains(m, fmt.Sprintf("Subject: swaks %d", i)) ||
			!strings.Contains(m, "\r\nHello from swaks.\r\n.\r\nA dot line above.") {
			t.Errorf("message %d: %q", i, m)
		}
	}

	// A wrong password: swaks fails with the 535.
	var out bytes.Buffer
	cmd := exec.Command(swaks, "--server", host, "--port", port, "--tls", "--auth", "PLAIN",
		"--auth-user", ann, "--auth-password", "wrong", "--from", ann, "--to", bob)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "535") {
		t.Errorf("swaks with a wrong password: %v\n%s", err, out.String())
	}
}

// TestSubmissionDataEndsOnlyAtTheMarker: on submission's engine a line
// ending in a bare CR followed by a dot-stuffed "." line is content, not
// an end of data go-smtp missed; the whole message arrives, normalised.
func TestSubmissionDataEndsOnlyAtTheMarker(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+ann+"\x00"+testPassword)), 235)
	rc.Cmd("MAIL FROM:<"+ann+">", 250)
	rc.Cmd("RCPT TO:<"+bob+">", 250)
	rc.Cmd("DATA", 354)
	rc.Write("From: " + ann + "\r\nSubject: cr\r\n\r\nfoo\r\r\n..\r\nstill the message\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("NOOP", 250) // the session goes on
	got := inbox(t, ts.store, bob)
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n\r\nfoo\r\n\r\n.\r\nstill the message\r\n") {
		t.Fatalf("bob's copy: %q", got)
	}
}

// FuzzSubmission sends arbitrary bytes, after EHLO and a login, as a
// session to a running submission server (its own engine, the real
// session code, BURL against the store) and checks that it still answers
// afterwards and that nothing panicked.
func FuzzSubmission(f *testing.F) {
	login := "EHLO a.example\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+ann+"\x00"+testPassword)) + "\r\n"
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"MAIL FROM:<" + ann + ">\r\nRCPT TO:<" + bob + ">\r\nBDAT 20\r\nFrom: ann@example.comBURL imap://ann%40example.com@" + testHost + "/INBOX;UIDVALIDITY=1/;UID=1;URLAUTH=submit+ann%40example.com:INTERNAL:00 LAST\r\n",
		"MAIL FROM:<" + ann + ">\r\nRCPT TO:<carl@remote.example>\r\nBURL imap://x/INBOX/;UID=1 LAST\r\nBURL\r\nBURL " + strings.Repeat("%", 9000) + "\r\n",
		"MAIL FROM:<" + ann + ">\r\nRCPT TO:<" + bob + ">\r\nDATA\r\nFrom: " + ann + "\r\n\r\nx\r\r\n..\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	var watch panicWatch
	ts, _ := startSubmission(f, false, func(o *SubmissionOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&watch, nil))
		o.MaxMessageBytes = 64 << 10
		o.ReadTimeout = 2 * time.Second
		o.WriteTimeout = 2 * time.Second
		o.RatePerHour = -1
	})
	f.Fuzz(func(t *testing.T, session []byte) {
		c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		drained := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, c)
			close(drained)
		}()
		_, _ = c.Write(append([]byte(login), session...))
		_ = c.(*net.TCPConn).CloseWrite()
		select {
		case <-drained:
		case <-time.After(20 * time.Second):
			t.Fatalf("server did not end the session after EOF")
		}
		if err := ehlo(ts.addr); err != nil {
			t.Fatalf("server no longer answers after %q: %v", trunc(string(session)), err)
		}
		if p := watch.take(); len(p) > 0 {
			t.Fatalf("a panic was logged (input %q): %s", trunc(string(session)), p)
		}
	})
}
