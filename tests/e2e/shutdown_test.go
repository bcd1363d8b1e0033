package e2e

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// openData starts a transaction on srv's SMTP port and writes the header
// and a first 64 KiB of the body of a message, so that the server is in the
// middle of DATA. It returns the client, the DATA writer and the rest of
// the message.
func openData(t *testing.T, srv *server, id string) (*smtp.Client, *smtp.DataCommand, []byte) {
	t.Helper()
	c, err := smtp.Dial(srv.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Mail("bob@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: <bob@remote.test>\r\nTo: <ann@example.com>\r\nSubject: %s\r\n\r\n", id)
	for i := range 2000 {
		fmt.Fprintf(&msg, "%s line %04d the quick brown fox jumps over the lazy dog\r\n", id, i)
	}
	fmt.Fprintf(&msg, "SENTINEL %s\r\n", id)
	b := msg.Bytes()
	if _, err := w.Write(b[:64<<10]); err != nil {
		t.Fatal(err)
	}
	return c, w, b[64<<10:]
}

func setupAnn(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", "ann@example.com", "--password", "shutdown-pw", "--data", dir)
	return dir
}

// TestSIGTERMDuringData sends SIGTERM while a message is coming in: the
// listener closes at once, the transaction still completes with 250, the
// process exits 0, and the message is stored.
func TestSIGTERMDuringData(t *testing.T) {
	dir := setupAnn(t)
	srv := newServer(t, dir)
	srv.start()
	idle, err := smtp.Dial(srv.addrs["smtp"]) // an idle session: told 421 and closed
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	c, w, rest := openData(t, srv, "inflight-1")
	srv.signal(syscall.SIGTERM)
	srv.waitLog("SMTP shutting down", 10*time.Second)

	if conn, err := net.DialTimeout("tcp", srv.addrs["smtp"], time.Second); err == nil {
		conn.Close()
		t.Error("the SMTP port still accepts connections after SIGTERM")
	}
	if err := idle.Noop(); err == nil {
		t.Error("an idle session is still served after SIGTERM")
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := w.Write(rest); err != nil {
		t.Fatalf("writing the rest of the message after SIGTERM: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA after SIGTERM: %v, want 250", err)
	}
	_ = c.Quit() // the server says 421 or has closed: either is fine
	if code := srv.wait(40 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}

	st := openStore(t, dir)
	defer st.Close()
	msgs := inbox(t, st, "ann@example.com")
	if len(msgs) != 1 || !bytes.HasSuffix(msgs[0], []byte("\r\nSENTINEL inflight-1\r\n")) {
		t.Fatalf("after the shutdown INBOX has %d messages, want the one complete message", len(msgs))
	}
}

// TestSecondSignalForcesExit: a second signal during a graceful shutdown
// that is waiting for a transaction ends the process at once.
func TestSecondSignalForcesExit(t *testing.T) {
	dir := setupAnn(t)
	srv := newServer(t, dir)
	srv.start()
	openData(t, srv, "inflight-2")
	srv.signal(syscall.SIGTERM)
	srv.waitLog("SMTP shutting down", 10*time.Second)
	start := time.Now()
	srv.signal(syscall.SIGINT)
	code := srv.wait(10 * time.Second)
	if code == 0 {
		t.Errorf("exit status 0 after a forced stop, want non-zero")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("forced exit took %s", d)
	}
	if !strings.Contains(srv.log.String(), "second signal") {
		t.Errorf("the log does not say why it stopped:\n%s", srv.log.String())
	}
}

// TestServeStartupErrors: bad configuration and unusable listeners stop
// `yubin serve` at once, with a message that names the culprit.
func TestServeStartupErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"bad address", []string{"YUBIN_IMAP_ADDR=imap.example"}, nil, 1, "YUBIN_IMAP_ADDR"},
		{"bad flag value", nil, []string{"--max-connections", "many"}, 1, "--max-connections"},
		{"bad log level", []string{"YUBIN_LOG_LEVEL=loud"}, nil, 1, "YUBIN_LOG_LEVEL"},
		{"unreadable certificate", []string{"YUBIN_TLS_CERT=/nonexistent/cert.pem", "YUBIN_TLS_KEY=/nonexistent/key.pem"}, nil, 1, "YUBIN_TLS_CERT"},
		{"port in use", []string{"YUBIN_POP3_ADDR=" + taken.Addr().String()}, nil, 1, "cannot listen for POP3 on " + taken.Addr().String()},
		{"unknown flag", nil, []string{"--smtp-port", "25"}, 2, "-smtp-port"},
		{"stray argument", nil, []string{"now"}, 2, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, filepath.Join(t.TempDir(), "data"), tt.env...)
			srv.startNoWait(tt.args...)
			if code := srv.wait(20 * time.Second); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if out := srv.log.String(); !strings.Contains(out, tt.want) || !strings.Contains(out, "yubin: ") {
				t.Errorf("output does not contain %q:\n%s", tt.want, out)
			}
		})
	}

	t.Run("second server on one data folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		first := newServer(t, dir)
		first.start()
		second := newServer(t, dir)
		second.startNoWait()
		if code := second.wait(20 * time.Second); code != 1 {
			t.Errorf("second server: exit status %d, want 1", code)
		}
		if !strings.Contains(second.log.String(), "already running") {
			t.Errorf("second server output:\n%s", second.log.String())
		}
		first.stop()
	})
}
