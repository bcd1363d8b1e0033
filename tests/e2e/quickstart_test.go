package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/testdb"
)

// TestQuickstart follows the README: start the server on a fresh data
// folder, add a domain and a user with the CLI while it runs, send mail to
// the SMTP intake (plain and STARTTLS), and read it with IMAP (STARTTLS and
// implicit TLS) and POP3 (STLS and implicit TLS). TLS is verified against
// the self-signed certificate the server made for YUBIN_HOSTNAME.
func TestQuickstart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir)
	srv.start()

	t.Run("data folder", func(t *testing.T) {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("data folder mode %v, want 0700", perm)
		}
		names := []string{"blobs", "tls/selfsigned-cert.pem", "tls/selfsigned-key.pem"}
		if testdb.Server(t) == "" { // on PostgreSQL the database is not in the folder
			names = append(names, "yubin.db")
		}
		for _, name := range names {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("data folder: %v", err)
			}
		}
	})

	t.Run("health", func(t *testing.T) {
		for _, url := range []string{"http://" + srv.addrs["http"] + "/healthz", "http://" + srv.addrs["http"] + "/readyz"} {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
			}
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.tlsConfig()}}
		resp, err := client.Get("https://" + srv.addrs["https"] + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"ok"`) {
			t.Errorf("GET https /healthz: %d %q", resp.StatusCode, body)
		}
	})

	// The admin CLI works beside the running server.
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "quickstart-pw\n", nil, "user", "add", "ann@example.com", "--data", dir, "--name", "Ann Example")

	msgs := []struct{ subject, body string }{
		{"Hello over plain SMTP", "first body line\r\nSENTINEL one\r\n"},
		{"Hello over STARTTLS", "second body line\r\nSENTINEL two\r\n"},
	}
	t.Run("smtp", func(t *testing.T) {
		for i, m := range msgs {
			c, err := smtp.Dial(srv.addrs["smtp"])
			if i == 1 {
				c, err = smtp.DialStartTLS(srv.addrs["smtp"], srv.tlsConfig())
			}
			if err != nil {
				t.Fatal(err)
			}
			raw := fmt.Sprintf("From: <bob@remote.test>\r\nTo: <ann@example.com>\r\nSubject: %s\r\nMessage-ID: <qs%d@remote.test>\r\n\r\n%s", m.subject, i, m.body)
			if err := c.SendMail("bob@remote.test", []string{"ann@example.com"}, strings.NewReader(raw)); err != nil {
				t.Fatalf("send %q: %v", m.subject, err)
			}
			// An unknown local user is refused at RCPT.
			if err := c.SendMail("bob@remote.test", []string{"nobody@example.com"}, strings.NewReader(raw)); err == nil {
				t.Error("mail to an unknown user was accepted")
			}
			c.Quit()
		}
	})

	check := func(t *testing.T, raw []byte, i int) {
		t.Helper()
		s := string(raw)
		if !strings.Contains(s, "Subject: "+msgs[i].subject+"\r\n") || !strings.HasSuffix(s, msgs[i].body) {
			t.Errorf("message %d is not what was sent:\n%s", i+1, s)
		}
		if !strings.Contains(s, testHostname) {
			t.Errorf("message %d has no Received field naming %s:\n%s", i+1, testHostname, s)
		}
	}

	t.Run("imap starttls", func(t *testing.T) {
		c, err := imapclient.DialStartTLS(srv.addrs["imap"], &imapclient.Options{TLSConfig: srv.tlsConfig()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, raw := range imapFetchAll(t, c, "ann@example.com", "quickstart-pw") {
			check(t, raw, i)
		}
	})
	t.Run("imaps", func(t *testing.T) {
		c, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: srv.tlsConfig()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := imapFetchAll(t, c, "ann@example.com", "quickstart-pw")
		for i, raw := range got {
			check(t, raw, i)
		}
	})
	// Passwords without TLS are accepted from loopback only (the refusal
	// for other addresses is tested in imapserver and pop3server,
	// which can make a connection look remote).
	t.Run("imap plaintext login from loopback", func(t *testing.T) {
		c, err := imapclient.DialInsecure(srv.addrs["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("ann@example.com", "quickstart-pw").Wait(); err != nil {
			t.Errorf("LOGIN without TLS from loopback: %v", err)
		}
	})
	t.Run("pop3 stls", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", srv.addrs["pop3"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p := newPOP3(t, conn)
		p.cmd("STLS")
		p.upgrade(srv.tlsConfig())
		for i, raw := range p.retrAll("ann@example.com", "quickstart-pw") {
			check(t, raw, i)
		}
	})
	t.Run("pop3s", func(t *testing.T) {
		conn, err := tls.Dial("tcp", srv.addrs["pop3s"], srv.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		p := newPOP3(t, conn)
		for i, raw := range p.retrAll("ann@example.com", "quickstart-pw") {
			check(t, raw, i)
		}
	})
	srv.stop()

	// With YUBIN_INSECURE_AUTH, plaintext logins work (for testing setups).
	t.Run("insecure auth", func(t *testing.T) {
		srv := newServer(t, dir, "YUBIN_INSECURE_AUTH=true")
		srv.start()
		c, err := imapclient.DialInsecure(srv.addrs["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range imapFetchAll(t, c, "ann@example.com", "quickstart-pw") {
			check(t, raw, i)
		}
		c.Close()
		conn, err := net.DialTimeout("tcp", srv.addrs["pop3"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p := newPOP3(t, conn)
		if n := len(p.retrAll("ann@example.com", "quickstart-pw")); n != len(msgs) {
			t.Errorf("POP3: %d messages, want %d", n, len(msgs))
		}
		srv.stop()
	})
}

// imapFetchAll logs in, selects INBOX and returns BODY[] of every message.
func imapFetchAll(t *testing.T, c *imapclient.Client, user, password string) [][]byte {
	t.Helper()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("IMAP SELECT INBOX: %v", err)
	}
	if sel.NumMessages == 0 {
		t.Fatal("IMAP: INBOX is empty")
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("IMAP FETCH BODY[]: %v", err)
	}
	var out [][]byte
	for _, b := range bufs {
		out = append(out, b.FindBodySection(section))
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("IMAP LOGOUT: %v", err)
	}
	return out
}

// imapSubjects counts the subjects in a user's INBOX, read over IMAP with
// STARTTLS.
func imapSubjects(t *testing.T, srv *server, user, password string) map[string]int {
	t.Helper()
	c, err := imapclient.DialStartTLS(srv.addrs["imap"], &imapclient.Options{TLSConfig: srv.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP EXAMINE INBOX: %v", err)
	}
	out := map[string]int{}
	if sel.NumMessages == 0 {
		return out
	}
	bufs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("IMAP FETCH ENVELOPE: %v", err)
	}
	for _, b := range bufs {
		if b.Envelope != nil {
			out[b.Envelope.Subject]++
		}
	}
	if uint32(len(bufs)) != sel.NumMessages {
		t.Errorf("IMAP FETCH 1:* returned %d messages, SELECT said %d", len(bufs), sel.NumMessages)
	}
	return out
}

func seqRange(n uint32) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i + 1)
	}
	return s
}

// pop3 is a minimal POP3 client (RFC 1939) for the tests.
type pop3 struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func newPOP3(t *testing.T, conn net.Conn) *pop3 {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	p := &pop3{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { p.tp.Close() })
	if line, err := p.tp.ReadLine(); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 greeting: %q, %v", line, err)
	}
	return p
}

// cmd sends a command and returns the rest of its +OK line.
func (p *pop3) cmd(format string, args ...any) string {
	p.t.Helper()
	if err := p.tp.PrintfLine(format, args...); err != nil {
		p.t.Fatalf("POP3 %s: %v", strings.Fields(format)[0], err)
	}
	line, err := p.tp.ReadLine()
	if err != nil || !strings.HasPrefix(line, "+OK") {
		p.t.Fatalf("POP3 %s: %q, %v", strings.Fields(format)[0], line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "+OK"))
}

// upgrade starts TLS after STLS.
func (p *pop3) upgrade(cfg *tls.Config) {
	p.t.Helper()
	tc := tls.Client(p.conn, cfg)
	if err := tc.Handshake(); err != nil {
		p.t.Fatalf("POP3 STLS handshake: %v", err)
	}
	p.conn = tc
	p.tp = textproto.NewConn(tc)
}

// retrAll logs in with USER/PASS and returns every message (RETR), then
// QUITs without deleting anything.
func (p *pop3) retrAll(user, password string) [][]byte {
	p.t.Helper()
	p.cmd("USER %s", user)
	p.cmd("PASS %s", password)
	var n int
	if _, err := fmt.Sscanf(p.cmd("STAT"), "%d", &n); err != nil {
		p.t.Fatalf("POP3 STAT: %v", err)
	}
	var out [][]byte
	for i := 1; i <= n; i++ {
		p.cmd("RETR %d", i)
		body, err := p.tp.ReadDotBytes()
		if err != nil {
			p.t.Fatalf("POP3 RETR %d: %v", i, err)
		}
		// ReadDotBytes turns CRLF into LF; the stored message has CRLF.
		out = append(out, []byte(strings.ReplaceAll(string(body), "\n", "\r\n")))
	}
	p.cmd("QUIT")
	return out
}
