package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const (
	testAddr = "alice@example.test"
	testPass = "correct horse battery"
	// updateTimeout bounds how long a test waits for an unsolicited
	// response that must come.
	updateTimeout = 2 * time.Second
)

// testEnv is a running server over a fresh store with one user.
type testEnv struct {
	store     *mailstore.Store
	user      *mailstore.User
	srv       *Server
	addr      string      // the plain listener (STARTTLS available)
	serverTLS *tls.Config // the server's TLS config
	clientTLS *tls.Config // trusts the server's self-signed certificate
	inboxID   int64
}

// newTestEnv starts a server on 127.0.0.1. mod, if not nil, adjusts the
// options before the server is created.
func newTestEnv(t testing.TB, mod func(*Options)) *testEnv {
	t.Helper()
	return newTestEnvStore(t, nil, mod)
}

// newTestEnvStore is newTestEnv with storeMod, if not nil, adjusting the
// store's options (e.g. a Sealer for encryption at rest).
func newTestEnvStore(t testing.TB, storeMod func(*mailstore.Options), mod func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	stOpts := mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: quietLogger()}
	if storeMod != nil {
		storeMod(&stOpts)
	}
	st, err := mailstore.Open(ctx, stOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, mailstore.NewUser{Address: testAddr, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := tlsutil.LoadOrCreate(dir, "mail.test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(serverTLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(leaf)
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "mail.test"}

	opts := Options{Backend: NewStoreBackend(st), Hostname: "mail.test", TLSConfig: serverTLS, Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	srv := NewServer(opts)
	env := &testEnv{store: st, user: u, srv: srv, serverTLS: serverTLS, clientTLS: clientTLS, inboxID: inbox.ID}
	env.addr = env.serve(t, listen(t))
	t.Cleanup(func() { srv.Close() })
	return env
}

// quietLogger drops the server's logs below warnings, which tests may
// provoke on purpose.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve runs srv.Serve(ln) until the test ends and returns ln's address.
func (e *testEnv) serve(t testing.TB, ln net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		e.srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ln.Addr().String()
}

// dial connects a client without logging in.
func (e *testEnv) dial(t testing.TB, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

// login connects and logs in as the test user.
func (e *testEnv) login(t testing.TB, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := e.dial(t, opts)
	if err := c.Login(testAddr, testPass).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return c
}

// selectInbox logs in and selects INBOX.
func (e *testEnv) selectInbox(t testing.TB, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := e.login(t, opts)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
	return c
}

// deliver delivers msg to the test user's INBOX and returns its UID.
func (e *testEnv) deliver(t testing.TB, msg string) uint32 {
	t.Helper()
	return e.deliverTo(t, "INBOX", msg)
}

func (e *testEnv) deliverTo(t testing.TB, mailbox, msg string) uint32 {
	t.Helper()
	res, err := e.store.Deliver(context.Background(), mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: e.user.ID, Mailbox: mailbox}},
		Body:    strings.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0].UID
}

// uids returns the UIDs of the test user's mailbox in the store.
func (e *testEnv) uids(t testing.TB, mailboxID int64) []uint32 {
	t.Helper()
	list, err := e.store.ListMessages(context.Background(), mailboxID, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(list))
	for i, m := range list {
		out[i] = m.UID
	}
	return out
}

// testMessage returns a small well-formed message with CRLF line endings.
func testMessage(subject, from, body string) string {
	return "From: " + from + "\r\n" +
		"To: Alice <" + testAddr + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		body + "\r\n"
}

// flagUpdate is an unsolicited FETCH response.
type flagUpdate struct {
	seq   uint32
	uid   imap.UID
	flags []imap.Flag
}

// recorder collects a client's unsolicited responses.
type recorder struct {
	exists  chan uint32
	expunge chan uint32
	fetch   chan flagUpdate
}

func newRecorder() *recorder {
	return &recorder{
		exists:  make(chan uint32, 1000),
		expunge: make(chan uint32, 1000),
		fetch:   make(chan flagUpdate, 1000),
	}
}

// options returns client options that feed r.
func (r *recorder) options() *imapclient.Options {
	return &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				r.exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { r.expunge <- seq },
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				return
			}
			r.fetch <- flagUpdate{seq: buf.SeqNum, uid: buf.UID, flags: buf.Flags}
		},
	}}
}

// wait receives from ch within updateTimeout.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(updateTimeout):
		t.Fatalf("no %s within %v", what, updateTimeout)
		panic("unreachable")
	}
}

// none checks that nothing is pending on ch. The caller makes sure that
// anything that could come has come (a NOOP round trip after it).
func none[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}

// rawConn is a line-level IMAP connection for exchanges imapclient does
// not make (malformed commands, LOGINDISABLED).
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

// line reads one response line, without CRLF.
func (r *rawConn) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

func (r *rawConn) send(line string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r.c, line+"\r\n"); err != nil {
		r.t.Fatal(err)
	}
}

// cmd sends "tag line" and returns the untagged lines and the tagged one.
func (r *rawConn) cmd(tag, line string) (untagged []string, tagged string) {
	r.t.Helper()
	r.send(tag + " " + line)
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// startTLS upgrades the raw connection.
func (r *rawConn) startTLS(cfg *tls.Config) {
	r.t.Helper()
	if _, tagged := r.cmd("st", "STARTTLS"); !strings.HasPrefix(tagged, "st OK") {
		r.t.Fatalf("STARTTLS: %s", tagged)
	}
	tc := tls.Client(r.c, cfg)
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.c = tc
	r.br = bufio.NewReader(tc)
}

// fetchOne fetches one message by UID and returns its buffer.
func fetchOne(t testing.TB, c *imapclient.Client, uid uint32, opts *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), opts).Collect()
	if err != nil {
		t.Fatalf("UID FETCH %d: %v", uid, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("UID FETCH %d: %d messages", uid, len(msgs))
	}
	return msgs[0]
}

// imapCode returns the response code of an IMAP error, "" if none.
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// wantCode fails unless err is an IMAP NO with code.
func wantCode(t testing.TB, err error, code imap.ResponseCode, what string) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Fatalf("%s: got %v, want NO [%s]", what, err, code)
	}
	if ie.Type != imap.StatusResponseTypeNo || ie.Code != code {
		t.Fatalf("%s: got %s [%s] %s, want NO [%s]", what, ie.Type, ie.Code, ie.Text, code)
	}
}

// hasFlag reports whether flags contains f.
func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, g := range flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

// noRecent drops \Recent, which a rev1 session sees on new messages.
func noRecent(flags []imap.Flag) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		if f != `\Recent` {
			out = append(out, f)
		}
	}
	return out
}

// shareProjects makes the owner's mailbox Projects, delivers the messages
// into it (subject and body each), adds bob and grants him rights on it:
// the set-up of the tests of shared mailboxes.
func (e *testEnv) shareProjects(t testing.TB, rights string, msgs ...[2]string) *mailstore.Mailbox {
	t.Helper()
	ctx := context.Background()
	e.addUser(t, bobAddr)
	mb, err := e.store.CreateMailbox(ctx, e.user.ID, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		e.deliverTo(t, "Projects", testMessage(m[0], "carol@example.org", m[1]))
	}
	if err := e.store.SetMailboxRights(ctx, mb.ID, bobAddr, rights); err != nil {
		t.Fatal(err)
	}
	return mb
}
