package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runCLI runs a yubin command in-process with the given environment.
func runCLI(vars map[string]string, args ...string) (int, string) {
	var out bytes.Buffer
	e := (&testEnv{stdout: &out, stderr: &out, vars: vars}).env()
	return run(context.Background(), args, e), out.String()
}

// blobsContaining lists the files that keep message bodies (under
// DATA/blobs, and the database with its WAL, which keeps small bodies
// inline) that contain marker.
func blobsContaining(t *testing.T, dir, marker string) []string {
	t.Helper()
	hits := filesContaining(filepath.Join(dir, "blobs"), marker)
	for _, f := range []string{"yubin.db", "yubin.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && bytes.Contains(b, []byte(marker)) {
			hits = append(hits, filepath.Join(dir, f))
		}
	}
	return hits
}

// filesContaining lists the files under root that contain marker.
func filesContaining(root, marker string) []string {
	var hits []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// flipByteInBiggestBody flips a byte in the middle of the largest file
// under DATA/blobs (a message body).
func flipByteInBiggestBody(t *testing.T, dir string) {
	t.Helper()
	var biggest string
	var size int64
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && !d.IsDir() && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
		return nil
	})
	data, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(biggest, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openStoreWithKey opens the mailstore of dir with the server key file.
func openStoreWithKey(t *testing.T, dir, keyPath string) *mailstore.Store {
	t.Helper()
	sealer, err := blobcrypt.LoadServerKey(keyPath, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestEncryptionAtRestOverSockets (issue 17 §2): mail stored before the key
// was set is sealed in the background once the server starts with
// YUBIN_ENCRYPTION_KEY_FILE; mail delivered over SMTP is stored sealed; no
// blob file contains a message's text; IMAP BODY[], a partial fetch across
// a chunk boundary and POP3 RETR give the exact bytes and the plaintext
// sizes; a flipped byte in a body gives IMAP NO and POP3 -ERR for that
// message while the sessions go on; yubin encrypt --status counts.
func TestEncryptionAtRestOverSockets(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	keyPath := filepath.Join(base, "server.key")
	env := map[string]string{"YUBIN_DATA": dir}
	if code, out := runCLI(env, "encryption", "keygen", keyPath); code != 0 || !strings.Contains(out, "age1") {
		t.Fatalf("keygen: %d %s", code, out)
	}
	env["YUBIN_ENCRYPTION_KEY_FILE"] = keyPath
	os.MkdirAll(dir, 0o700)
	if code, out := runCLI(env, "encryption", "keygen", filepath.Join(dir, "inside.key")); code != 0 {
		t.Fatalf("keygen inside: %d %s", code, out)
	}

	// Mail stored in plaintext before encryption was turned on.
	old := "From: old@example.org\r\nSubject: before\r\n\r\nOLD-MARKER-7f3a stored before the key\r\n"
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "ann-password"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Deliver(ctx, mailstore.Delivery{Targets: []mailstore.DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(old)}); err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %v", err, res)
	}
	st.Close()
	if len(blobsContaining(t, dir, "OLD-MARKER-7f3a")) == 0 {
		t.Fatal("the old message is not in plaintext to start with")
	}

	// A key inside the data folder is refused before anything listens.
	bad := startServe(t, dir, map[string]string{"YUBIN_ENCRYPTION_KEY_FILE": filepath.Join(dir, "inside.key")})
	if code := bad.wait(t); code == 0 || !strings.Contains(bad.stderr.String(), "inside the data folder") {
		t.Fatalf("serve with a key inside the data folder: %d\n%s", code, bad.stderr.String())
	}
	os.Remove(filepath.Join(dir, "inside.key"))

	smtpAddr, imapAddr, pop3Addr := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	rs := startServe(t, dir, map[string]string{
		"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_LOG_LEVEL": "info", "YUBIN_FILTERS": "none",
		"YUBIN_ENCRYPTION_KEY_FILE": keyPath,
		"YUBIN_SMTP_ADDR":           smtpAddr, "YUBIN_IMAP_ADDR": imapAddr, "YUBIN_POP3_ADDR": pop3Addr,
	})
	rs.waitFor(t, regexp.MustCompile(`every message body is encrypted at rest`))
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
	if hits := blobsContaining(t, dir, "OLD-MARKER-7f3a"); len(hits) > 0 {
		t.Fatalf("the old message is still in plaintext: %v", hits)
	}

	// A new message over SMTP, larger than one 64 KiB chunk.
	var nb strings.Builder
	nb.WriteString("From: sender@example.org\r\nTo: ann@example.test\r\nSubject: new\r\n\r\nNEW-MARKER-91c2 first line\r\n")
	for i := 0; nb.Len() < 150_000; i++ {
		fmt.Fprintf(&nb, "line %05d of the body, with some text to fill it\r\n", i)
	}
	nb.WriteString("NEW-MARKER-91c2 last line\r\n")
	newMsg := nb.String()
	sendPlainSMTP(t, smtpAddr, "sender@example.org", "ann@example.test", newMsg)
	if hits := blobsContaining(t, dir, "NEW-MARKER-91c2"); len(hits) > 0 {
		t.Fatalf("the delivered message is in plaintext on disk: %v", hits)
	}
	if hits := blobsContaining(t, dir, "line 00042 of the body"); len(hits) > 0 {
		t.Fatalf("the delivered message is in plaintext on disk: %v", hits)
	}

	// IMAP: both messages, byte for byte, with their plaintext sizes.
	c := dialIMAPInbox(t, imapAddr, "ann@example.test", "ann-password")
	defer c.Close()
	whole := &goimap.FetchItemBodySection{Peek: true}
	partial := &goimap.FetchItemBodySection{Peek: true, Partial: &goimap.SectionPartial{Offset: 65_000, Size: 2_000}}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*goimap.FetchItemBodySection{whole, partial}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("FETCH: %d messages, %v", len(msgs), err)
	}
	if got := string(msgs[0].FindBodySection(whole)); got != old {
		t.Fatalf("old message over IMAP: %q", got)
	}
	if msgs[0].RFC822Size != int64(len(old)) {
		t.Fatalf("old message RFC822.SIZE %d, want %d", msgs[0].RFC822Size, len(old))
	}
	full := msgs[1].FindBodySection(whole)
	if !bytes.HasSuffix(full, []byte(newMsg)) {
		t.Fatalf("new message over IMAP does not end with what was sent (%d bytes)", len(full))
	}
	if msgs[1].RFC822Size != int64(len(full)) {
		t.Fatalf("new message RFC822.SIZE %d, BODY[] %d bytes", msgs[1].RFC822Size, len(full))
	}
	if got := msgs[1].FindBodySection(partial); !bytes.Equal(got, full[65_000:67_000]) {
		t.Fatalf("BODY[]<65000.2000> differs from the slice of BODY[]")
	}

	// POP3 RETR: the same bytes.
	p := dialPOP3(t, pop3Addr, "ann@example.test", "ann-password")
	if got := p.retr(t, 1); got != old {
		t.Fatalf("old message over POP3: %q", got)
	}
	if got := p.retr(t, 2); got != string(full) {
		t.Fatalf("new message over POP3 differs from IMAP's (%d vs %d bytes)", len(got), len(full))
	}
	p.cmd(t, "QUIT")
	p.Close()

	// yubin encrypt --status on the running server's data folder.
	if code, out := runCLI(env, "encrypt", "--status"); code != 0 || !strings.Contains(out, "encrypted 2 of 2 message bodies (100.0%)") {
		t.Fatalf("encrypt --status: %d %s", code, out)
	}

	// Tamper with the new message's body: a byte in the middle.
	flipByteInBiggestBody(t, dir)
	// IMAP: NO for that message, no bytes; the session goes on.
	raw := dialIMAPRaw(t, imapAddr, "ann@example.test", "ann-password")
	defer raw.Close()
	lines := raw.cmd(t, "f1", "FETCH 2 BODY.PEEK[]")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "f1 NO [CORRUPTION] ") {
		t.Fatalf("FETCH of the tampered message: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "line 0") || strings.Contains(l, "{") {
			t.Fatalf("FETCH of the tampered message sent bytes: %q", lines)
		}
	}
	if lines := raw.cmd(t, "f2", "FETCH 1 RFC822.SIZE"); !strings.HasPrefix(lines[len(lines)-1], "f2 OK") {
		t.Fatalf("FETCH after the failure: %q", lines)
	}
	// POP3: -ERR for that message, +OK for the other.
	p2 := dialPOP3(t, pop3Addr, "ann@example.test", "ann-password")
	defer p2.Close()
	if line := p2.cmd(t, "RETR 2"); !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("POP3 RETR of the tampered message: %q", line)
	}
	if got := p2.retr(t, 1); got != old {
		t.Fatalf("old message over POP3 after the failure: %q", got)
	}
}

// dialIMAPInbox logs in over IMAP without TLS (loopback) and selects
// INBOX.
func dialIMAPInbox(t testing.TB, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// sendPlainSMTP sends msg over SMTP without TLS (loopback).
func sendPlainSMTP(t *testing.T, addr, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.Quit()
}

type pop3Conn struct {
	*textproto.Conn
}

func dialPOP3(t testing.TB, addr, user, pass string) *pop3Conn {
	t.Helper()
	tc, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &pop3Conn{tc}
	if l, err := p.ReadLine(); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("POP3 greeting: %q %v", l, err)
	}
	for _, c := range []string{"USER " + user, "PASS " + pass} {
		if l := p.cmd(t, c); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %s: %q", c, l)
		}
	}
	return p
}

func (p *pop3Conn) cmd(t testing.TB, c string) string {
	t.Helper()
	if err := p.PrintfLine("%s", c); err != nil {
		t.Fatal(err)
	}
	l, err := p.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// retr fetches message n and checks the announced size.
func (p *pop3Conn) retr(t testing.TB, n int) string {
	t.Helper()
	l := p.cmd(t, "RETR "+strconv.Itoa(n))
	var size int
	if _, err := fmt.Sscanf(l, "+OK %d octets", &size); err != nil {
		t.Fatalf("RETR %d: %q", n, l)
	}
	var b strings.Builder
	for {
		line, err := p.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if line == "." {
			break
		}
		b.WriteString(strings.TrimPrefix(line, ".") + "\r\n")
	}
	if b.Len() != size {
		t.Fatalf("RETR %d: announced %d octets, sent %d", n, size, b.Len())
	}
	return b.String()
}

type imapRaw struct {
	net.Conn
	r *bufio.Reader
}

func dialIMAPRaw(t *testing.T, addr, user, pass string) *imapRaw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &imapRaw{conn, bufio.NewReader(conn)}
	if _, err := c.r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if lines := c.cmd(t, "l", "LOGIN "+user+" "+pass); !strings.HasPrefix(lines[len(lines)-1], "l OK") {
		t.Fatalf("LOGIN: %q", lines)
	}
	if lines := c.cmd(t, "s", "SELECT INBOX"); !strings.HasPrefix(lines[len(lines)-1], "s OK") {
		t.Fatalf("SELECT: %q", lines)
	}
	return c
}

// cmd sends a command and returns the response lines up to the tagged one
// (literals are read as lines too; the tests only look for markers).
func (c *imapRaw) cmd(t *testing.T, tag, command string) []string {
	t.Helper()
	if _, err := io.WriteString(c, tag+" "+command+"\r\n"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v after %q", command, err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines
		}
	}
}
