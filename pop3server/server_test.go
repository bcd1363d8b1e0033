package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const (
	testHost  = "pop.example.com"
	alice     = "alice@example.com"
	bob       = "bob@example.com"
	alicePass = "correct horse battery"
	bobPass   = "battery staple horse"
	ioTimeout = 10 * time.Second
)

// testEnv is a server over a real mailstore, listening on loopback TCP.
type testEnv struct {
	t       testing.TB
	store   *mailstore.Store
	srv     *Server
	addr    string
	aliceID int64
	inboxID int64
	tlsConf *tls.Config // the server's, when STLS is enabled
	served  chan error  // Serve's result
}

func newTestStore(t testing.TB, mods ...func(*mailstore.Options)) (*mailstore.Store, int64, int64) {
	t.Helper()
	ctx := context.Background()
	opts := mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: slog.New(slog.DiscardHandler)}
	for _, mod := range mods {
		mod(&opts)
	}
	st, err := mailstore.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, mailstore.NewUser{Address: alice, Password: alicePass})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, mailstore.NewUser{Address: bob, Password: bobPass}); err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, u.ID, mailstore.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return st, u.ID, inbox.ID
}

func testTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	cfg, err := tlsutil.LoadOrCreate(t.TempDir(), "localhost", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientTLSConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} //nolint:gosec // self-signed test certificate
}

// newTestEnv starts a server with STLS enabled; configure adjusts its
// options. wrap, if set, wraps the listener (implicit TLS).
func newTestEnv(t testing.TB, configure func(*Options), wrap func(net.Listener) net.Listener) *testEnv {
	t.Helper()
	st, uid, inboxID := newTestStore(t)
	return startTestEnv(t, st, uid, inboxID, configure, wrap)
}

// startTestEnv serves the store of newTestStore.
func startTestEnv(t testing.TB, st *mailstore.Store, uid, inboxID int64, configure func(*Options), wrap func(net.Listener) net.Listener) *testEnv {
	t.Helper()
	e := &testEnv{t: t, store: st, aliceID: uid, inboxID: inboxID, tlsConf: testTLSConfig(t), served: make(chan error, 1)}
	opts := Options{
		Backend:   NewStoreBackend(st),
		Hostname:  testHost,
		TLSConfig: e.tlsConf,
		Logger:    slog.New(slog.DiscardHandler),
	}
	if configure != nil {
		configure(&opts)
	}
	e.srv = NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	go func() { e.served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		e.srv.Close()
		select {
		case err := <-e.served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(ioTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return e
}

// add appends a message to alice's INBOX and returns its UID.
func (e *testEnv) add(body string) uint32 {
	e.t.Helper()
	res, err := e.store.Append(context.Background(), e.aliceID, mailstore.Inbox, strings.NewReader(body), nil, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return res.UID
}

// uids returns the UIDs in alice's INBOX.
func (e *testEnv) uids() []uint32 {
	e.t.Helper()
	msgs, err := e.store.ListMessages(context.Background(), e.inboxID, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

// waitIdle waits until the server has no session left.
func (e *testEnv) waitIdle() {
	e.t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		n := e.srv.sessions.Active()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d sessions still open", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a minimal POP3 client that sees the exact bytes on the wire.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dialRaw() *client {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return newClient(e.t, c)
}

func newClient(t testing.TB, c net.Conn) *client {
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

// dial connects and checks the greeting.
func (e *testEnv) dial() *client {
	e.t.Helper()
	c := e.dialRaw()
	c.expect("+OK " + testHost + " POP3 server ready")
	return c
}

// login dials and logs in as alice.
func (e *testEnv) login() *client {
	e.t.Helper()
	c := e.dial()
	c.cmdOK("USER " + alice)
	c.cmdOK("PASS " + alicePass)
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one CRLF-terminated line, without the CRLF.
func (c *client) line() string {
	c.t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v (got %q)", err, s)
	}
	if !strings.HasSuffix(s, "\r\n") {
		c.t.Fatalf("line %q does not end with CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	got := c.line()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

// cmd sends line and returns the one-line response.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

func (c *client) cmdOK(line string) string {
	c.t.Helper()
	resp := c.cmd(line)
	if !strings.HasPrefix(resp, "+OK") {
		c.t.Fatalf("%s: got %q, want +OK", line, resp)
	}
	return resp
}

func (c *client) cmdErr(line, prefix string) string {
	c.t.Helper()
	resp := c.cmd(line)
	if !strings.HasPrefix(resp, prefix) {
		c.t.Fatalf("%s: got %q, want %q", line, resp, prefix)
	}
	return resp
}

// body reads a multi-line body up to its terminator and returns it as sent
// (dot-stuffed, with the terminator).
func (c *client) body() string {
	c.t.Helper()
	var b strings.Builder
	for {
		s, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read body: %v (got %q so far)", err, b.String()+s)
		}
		if !strings.HasSuffix(s, "\r\n") {
			c.t.Fatalf("body line %q does not end with CRLF", s)
		}
		b.WriteString(s)
		if s == ".\r\n" {
			return b.String()
		}
	}
}

// multi sends line, expects +OK and returns the first line and the body
// lines (unstuffed, without CRLF).
func (c *client) multi(line string) (string, []string) {
	c.t.Helper()
	first := c.cmdOK(line)
	data, err := unstuff(c.body())
	if err != nil {
		c.t.Fatal(err)
	}
	lines := strings.Split(data, "\r\n")
	return first, lines[:len(lines)-1]
}

// expectEOF checks that the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	if s, err := c.r.ReadString('\n'); err == nil || s != "" {
		c.t.Fatalf("got %q, %v; want the connection closed", s, err)
	}
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func TestGreetingAndCapa(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	c := e.dial()
	_, capa := c.multi("CAPA")
	for _, want := range []string{"TOP", "USER", "UIDL", "SASL PLAIN", "STLS", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"} {
		if !slices.Contains(capa, want) {
			t.Errorf("CAPA %q lacks %q", capa, want)
		}
	}
	c.cmdErr("CAPA x", "-ERR")
	_, mechs := c.multi("AUTH")
	if !slices.Equal(mechs, []string{"PLAIN"}) {
		t.Errorf("AUTH lists %q", mechs)
	}
	c.cmdErr("STAT", "-ERR [AUTH]")
	c.cmdErr("APOP alice 0123456789abcdef", "-ERR")
	c.cmdErr("FOO", "-ERR unknown command")
	c.cmdErr("", "-ERR empty command")
	c.cmdErr("NO\x01OP", "-ERR malformed command")
	c.cmdOK("capa") // keywords are case-insensitive
	c.body()
	c.cmd("QUIT")
	c.expectEOF()
}

func TestUserPass(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.add("Subject: one\r\n\r\nhello\r\n")
	c := e.dial()
	c.cmdErr("PASS "+alicePass, "-ERR") // no USER
	c.cmdErr("USER", "-ERR")
	c.cmdErr("USER a b", "-ERR")
	c.cmdOK("USER " + alice) // the name is not checked yet
	c.cmdErr("PASS wrong password", "-ERR [AUTH]")
	c.cmdErr("PASS "+alicePass, "-ERR") // the failed PASS used up the USER
	c.cmdOK("USER nobody@example.com")
	c.cmdErr("PASS "+alicePass, "-ERR [AUTH]")
	c.cmdOK("USER " + alice)
	c.cmdErr("NOOP", "-ERR [AUTH]")
	c.cmdErr("PASS "+alicePass, "-ERR") // another command came between USER and PASS
	c.cmdOK("USER " + alice)
	c.cmdErr("PASS", "-ERR")
	c.cmdOK("USER " + alice)
	if got, want := c.cmd("PASS "+alicePass), "+OK maildrop has 1 messages (23 octets)"; got != want {
		t.Fatalf("PASS: got %q, want %q", got, want)
	}
	c.cmdErr("USER "+alice, "-ERR already logged in")
	c.cmdErr("PASS "+alicePass, "-ERR already logged in")
	c.cmdErr("AUTH PLAIN", "-ERR already logged in")
	c.cmdErr("STLS", "-ERR already logged in")
	_, capa := c.multi("CAPA")
	if slices.Contains(capa, "STLS") {
		t.Errorf("CAPA in TRANSACTION offers STLS: %q", capa)
	}
	c.cmdOK("NOOP")
	c.cmdOK("QUIT")
	c.expectEOF()
}

func TestAuthPlain(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	c := e.dial()
	c.cmdErr("AUTH PLAIN "+plain("", alice, "wrong"), "-ERR [AUTH]")
	c.cmdErr("AUTH PLAIN "+plain(bob, alice, alicePass), "-ERR [AUTH]")
	c.cmdErr("AUTH PLAIN !!!", "-ERR")
	c.cmdErr("AUTH PLAIN =", "-ERR") // empty initial response: no credentials
	c.cmdErr("AUTH CRAM-MD5", "-ERR unsupported")
	c.cmdErr("AUTH PLAIN a b", "-ERR")

	// A continuation, cancelled.
	if got := c.cmd("AUTH PLAIN"); got != "+ " {
		t.Fatalf("AUTH PLAIN: got %q, want %q", got, "+ ")
	}
	c.cmdErr("*", "-ERR authentication cancelled")
	// A continuation with wrong credentials.
	c.cmd("AUTH plain")
	c.cmdErr(plain("", alice, "nope"), "-ERR [AUTH]")
	// A continuation with good credentials.
	c.cmd("AUTH PLAIN")
	c.cmdOK(plain("", alice, alicePass))
	c.cmdOK("STAT")
	c.cmdOK("QUIT")
	c.expectEOF()

	// An initial response, with an authorization identity equal to the
	// authentication identity.
	c = e.dial()
	c.cmdOK("AUTH PLAIN " + plain(alice, alice, alicePass))
	c.cmdOK("QUIT")
	c.expectEOF()
}

// inbox holds three messages; the second has lines starting with dots.
var inbox = []string{
	"From: a@example.org\r\nSubject: one\r\n\r\nfirst\r\n",
	"From: b@example.org\r\nSubject: dots\r\n\r\n.\r\n..two dots\r\n.one dot\r\nmiddle . dot\r\n.\r\n",
	"From: c@example.org\r\nSubject: three\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n",
}

func (e *testEnv) addInbox() []uint32 {
	var uids []uint32
	for _, m := range inbox {
		uids = append(uids, e.add(m))
	}
	return uids
}

func TestStatListUidl(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.addInbox()
	total := 0
	for _, m := range inbox {
		total += len(m)
	}
	c := e.login()
	if got, want := c.cmd("STAT"), fmt.Sprintf("+OK 3 %d", total); got != want {
		t.Errorf("STAT = %q, want %q", got, want)
	}
	first, list := c.multi("LIST")
	if want := fmt.Sprintf("+OK 3 messages (%d octets)", total); first != want {
		t.Errorf("LIST = %q, want %q", first, want)
	}
	wantList := []string{
		fmt.Sprintf("1 %d", len(inbox[0])),
		fmt.Sprintf("2 %d", len(inbox[1])),
		fmt.Sprintf("3 %d", len(inbox[2])),
	}
	if !slices.Equal(list, wantList) {
		t.Errorf("LIST = %q, want %q", list, wantList)
	}
	if got, want := c.cmd("LIST 2"), "+OK "+wantList[1]; got != want {
		t.Errorf("LIST 2 = %q, want %q", got, want)
	}
	c.cmdErr("LIST 4", "-ERR no such message")
	c.cmdErr("LIST 0", "-ERR no such message")
	c.cmdErr("LIST x", "-ERR no such message")
	c.cmdErr("LIST 1 2", "-ERR syntax error")
	c.cmdErr("STAT 1", "-ERR syntax error")

	_, uidl := c.multi("UIDL")
	if len(uidl) != 3 {
		t.Fatalf("UIDL = %q", uidl)
	}
	uidlRE := regexp.MustCompile(`^([1-3]) ([\x21-\x7e]{1,70})$`)
	ids := map[string]bool{}
	for i, l := range uidl {
		m := uidlRE.FindStringSubmatch(l)
		if m == nil || m[1] != fmt.Sprint(i+1) {
			t.Fatalf("bad UIDL line %q", l)
		}
		if ids[m[2]] {
			t.Fatalf("duplicate UIDL %q", m[2])
		}
		ids[m[2]] = true
	}
	if got, want := c.cmd("UIDL 2"), "+OK "+uidl[1]; got != want {
		t.Errorf("UIDL 2 = %q, want %q", got, want)
	}
	c.cmdErr("UIDL 9", "-ERR")
	c.cmdOK("QUIT")
	c.expectEOF()

	// UIDLs are the same in the next session, and a message's UIDL stays the
	// same when an earlier one is deleted.
	c = e.login()
	_, again := c.multi("UIDL")
	if !slices.Equal(again, uidl) {
		t.Errorf("UIDL changed across sessions: %q, then %q", uidl, again)
	}
	c.cmdOK("DELE 1")
	c.cmdOK("QUIT")
	c.expectEOF()
	c = e.login()
	_, after := c.multi("UIDL")
	wantAfter := []string{"1 " + strings.Fields(uidl[1])[1], "2 " + strings.Fields(uidl[2])[1]}
	if !slices.Equal(after, wantAfter) {
		t.Errorf("UIDL after deleting message 1 = %q, want %q", after, wantAfter)
	}
	c.cmdOK("QUIT")
}

func TestRetr(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.addInbox()
	c := e.login()
	for i, m := range inbox {
		c.send(fmt.Sprintf("RETR %d", i+1))
		c.expect(fmt.Sprintf("+OK %d octets", len(m)))
		raw := c.body()
		got, err := unstuff(raw)
		if err != nil {
			t.Fatalf("RETR %d: %v", i+1, err)
		}
		if got != m {
			t.Errorf("RETR %d = %q, want %q", i+1, got, m)
		}
		if i == 1 {
			wantRaw := "From: b@example.org\r\nSubject: dots\r\n\r\n..\r\n...two dots\r\n..one dot\r\nmiddle . dot\r\n..\r\n.\r\n"
			if raw != wantRaw {
				t.Errorf("RETR 2 on the wire = %q, want %q", raw, wantRaw)
			}
		}
	}
	c.cmdErr("RETR", "-ERR syntax error")
	c.cmdErr("RETR 4", "-ERR no such message")
	// The message can be retrieved again.
	c.cmdOK("RETR 1")
	if got, _ := unstuff(c.body()); got != inbox[0] {
		t.Errorf("second RETR 1 = %q", got)
	}
	c.cmdOK("QUIT")
}

func TestTop(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.addInbox()
	c := e.login()
	header := "From: c@example.org\r\nSubject: three\r\n\r\n"
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, header},
		{2, header + "l1\r\nl2\r\n"},
		{4, inbox[2]},
		{99, inbox[2]},
	} {
		c.send(fmt.Sprintf("TOP 3 %d", tt.n))
		c.expect("+OK top of message follows")
		got, err := unstuff(c.body())
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("TOP 3 %d = %q, want %q", tt.n, got, tt.want)
		}
	}
	c.cmdOK("TOP 2 2")
	if got, want := c.body(), "From: b@example.org\r\nSubject: dots\r\n\r\n..\r\n...two dots\r\n.\r\n"; got != want {
		t.Errorf("TOP 2 2 on the wire = %q, want %q", got, want)
	}
	c.cmdErr("TOP 1", "-ERR syntax error")
	c.cmdErr("TOP 1 -1", "-ERR syntax error")
	c.cmdErr("TOP 1 x", "-ERR syntax error")
	c.cmdErr("TOP 5 1", "-ERR no such message")
	c.cmdOK("QUIT")
}

func TestDeleRset(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	c.cmdErr("DELE 1", "-ERR message 1 already deleted")
	c.cmdErr("RETR 1", "-ERR message 1 already deleted")
	c.cmdErr("TOP 1 0", "-ERR message 1 already deleted")
	c.cmdErr("LIST 1", "-ERR message 1 already deleted")
	c.cmdErr("UIDL 1", "-ERR message 1 already deleted")
	if got, want := c.cmd("STAT"), fmt.Sprintf("+OK 2 %d", len(inbox[1])+len(inbox[2])); got != want {
		t.Errorf("STAT after DELE = %q, want %q", got, want)
	}
	_, list := c.multi("LIST")
	if len(list) != 2 || !strings.HasPrefix(list[0], "2 ") || !strings.HasPrefix(list[1], "3 ") {
		t.Errorf("LIST after DELE 1 = %q", list)
	}
	_, uidl := c.multi("UIDL")
	if len(uidl) != 2 || !strings.HasPrefix(uidl[0], "2 ") {
		t.Errorf("UIDL after DELE 1 = %q", uidl)
	}
	c.cmdOK("RSET")
	if got := c.cmd("STAT"); !strings.HasPrefix(got, "+OK 3 ") {
		t.Errorf("STAT after RSET = %q", got)
	}
	c.cmdOK("RETR 1")
	c.body()
	c.cmdOK("QUIT")
	c.expectEOF()
	e.waitIdle()
	if got := e.uids(); !slices.Equal(got, uids) {
		t.Errorf("after DELE, RSET, QUIT the INBOX has %v, want %v", got, uids)
	}
}

func TestDeleQuitRemoves(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	c.cmdOK("DELE 3")
	if got, want := c.cmd("QUIT"), "+OK "+testHost+" POP3 server signing off (1 messages left)"; got != want {
		t.Errorf("QUIT = %q, want %q", got, want)
	}
	c.expectEOF()
	// The +OK comes after the deletion.
	if got := e.uids(); !slices.Equal(got, uids[1:2]) {
		t.Errorf("after QUIT the INBOX has %v, want %v", got, uids[1:2])
	}
}

func TestDeleDropRemovesNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	c.cmdOK("DELE 2")
	c.conn.Close()
	e.waitIdle()
	if got := e.uids(); !slices.Equal(got, uids) {
		t.Errorf("after a dropped connection the INBOX has %v, want %v", got, uids)
	}
	// The lock was released.
	c = e.login()
	c.cmdOK("QUIT")
}

func TestInUse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.addInbox()
	c1 := e.login()
	c2 := e.dial()
	c2.cmdOK("USER " + alice)
	c2.cmdErr("PASS "+alicePass, "-ERR [IN-USE]")
	c2.cmdErr("AUTH PLAIN "+plain("", alice, alicePass), "-ERR [IN-USE]")
	// Another user is not affected.
	c3 := e.dial()
	c3.cmdOK("AUTH PLAIN " + plain("", bob, bobPass))
	c3.cmdOK("QUIT")
	// Once the first session quits, the second can log in.
	c1.cmdOK("QUIT")
	c1.expectEOF()
	e.waitForUnlock(alice)
	c2.cmdOK("USER " + alice)
	c2.cmdOK("PASS " + alicePass)
	c2.cmdOK("QUIT")
}

// waitForUnlock waits until no session holds the lock of the maildrop of
// user (alice's maildrop ID is her user ID).
func (e *testEnv) waitForUnlock(user string) {
	e.t.Helper()
	id := fmt.Sprint(e.aliceID)
	deadline := time.Now().Add(ioTimeout)
	for {
		e.srv.mu.Lock()
		_, locked := e.srv.locked[id]
		e.srv.mu.Unlock()
		if !locked {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("maildrop of %s still locked", user)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noInsecureAuth makes the server treat loopback clients like remote ones.
func noInsecureAuth(o *Options) { o.InsecureAuth = func(net.Addr) bool { return false } }

func TestSTLS(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, noInsecureAuth, nil)
	e.addInbox()
	c := e.dial()
	_, capa := c.multi("CAPA")
	if slices.Contains(capa, "USER") || slices.Contains(capa, "SASL PLAIN") || !slices.Contains(capa, "STLS") {
		t.Errorf("CAPA without TLS = %q, want STLS and neither USER nor SASL", capa)
	}
	_, mechs := c.multi("AUTH")
	if len(mechs) != 0 {
		t.Errorf("AUTH without TLS lists %q", mechs)
	}
	c.cmdErr("USER "+alice, "-ERR [AUTH]")
	c.cmdErr("PASS "+alicePass, "-ERR [AUTH]")
	c.cmdErr("AUTH PLAIN "+plain("", alice, alicePass), "-ERR [AUTH]")
	c.cmdErr("AUTH PLAIN", "-ERR [AUTH]")
	c.cmdErr("STLS now", "-ERR syntax error")
	c.cmdOK("STLS")
	if c.r.Buffered() != 0 {
		t.Fatal("data after the STLS response")
	}
	tc := tls.Client(c.conn, clientTLSConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, tc)
	_, capa = c.multi("CAPA")
	if !slices.Contains(capa, "USER") || !slices.Contains(capa, "SASL PLAIN") || slices.Contains(capa, "STLS") {
		t.Errorf("CAPA with TLS = %q, want USER and SASL and no STLS", capa)
	}
	c.cmdErr("STLS", "-ERR already using TLS")
	c.cmdOK("USER " + alice)
	c.cmdOK("PASS " + alicePass)
	c.cmdOK("RETR 2")
	if got, _ := unstuff(c.body()); got != inbox[1] {
		t.Errorf("RETR 2 over TLS = %q", got)
	}
	c.cmdOK("QUIT")
	c.expectEOF()
}

func TestSTLSNotConfigured(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.TLSConfig = nil }, nil)
	c := e.dial()
	_, capa := c.multi("CAPA")
	if slices.Contains(capa, "STLS") {
		t.Errorf("CAPA = %q offers STLS without a TLS configuration", capa)
	}
	c.cmdErr("STLS", "-ERR")
	c.cmdOK("QUIT")
}

// TestSTLSDiscardsInjectedCommands checks that commands sent in clear text
// together with STLS are not run after the handshake (CVE-2011-0411 style).
func TestSTLSDiscardsInjectedCommands(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, noInsecureAuth, nil)
	c := e.dial()
	c.send("STLS\r\nCAPA")
	c.expect("+OK begin TLS negotiation")
	tc := tls.Client(c.conn, clientTLSConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, tc)
	// The first response must be to NOOP, not to the injected CAPA.
	c.cmdErr("NOOP", "-ERR [AUTH]")
	c.cmdOK("QUIT")
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	var srvTLS *tls.Config
	e := newTestEnv(t, func(o *Options) {
		noInsecureAuth(o)
		srvTLS = o.TLSConfig
	}, func(ln net.Listener) net.Listener { return tls.NewListener(ln, srvTLS) })
	e.addInbox()
	conn, err := tls.Dial("tcp", e.addr, clientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := newClient(t, conn)
	c.expect("+OK " + testHost + " POP3 server ready")
	_, capa := c.multi("CAPA")
	if !slices.Contains(capa, "USER") || slices.Contains(capa, "STLS") {
		t.Errorf("CAPA with implicit TLS = %q", capa)
	}
	c.cmdErr("STLS", "-ERR already using TLS")
	c.cmdOK("AUTH PLAIN " + plain("", alice, alicePass))
	if got := c.cmd("STAT"); !strings.HasPrefix(got, "+OK 3 ") {
		t.Errorf("STAT = %q", got)
	}
	c.cmdOK("QUIT")
	c.expectEOF()
}

func TestLineTooLong(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.MaxLineLength = 100 }, nil)
	c := e.dial()
	c.cmdErr("USER "+strings.Repeat("a", 5000), "-ERR line too long")
	c.cmdOK("USER " + strings.Repeat("a", 90)) // fits
	c.cmdOK("USER " + alice)
	c.cmdOK("PASS " + alicePass)
	c.cmdErr("NOOP "+strings.Repeat("x", 200), "-ERR line too long")
	c.cmdOK("NOOP")
	// A long AUTH continuation line.
	c.cmdOK("QUIT")
	c.expectEOF()
}

func TestTooManyBadCommands(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.MaxBadCommands = 3 }, nil)
	c := e.dial()
	c.cmdErr("XYZY", "-ERR unknown command")
	c.cmdOK("CAPA") // good commands do not count
	c.body()
	c.cmdErr("STAT", "-ERR")
	c.cmdErr("FOO", "-ERR too many bad commands")
	c.expectEOF()
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	e.addInbox()
	c := e.dial()
	c.send(strings.Join([]string{
		"USER " + alice, "PASS " + alicePass, "STAT", "LIST", "UIDL 1", "RETR 2",
		"BOGU", "DELE 1", "TOP 3 1", "NOOP", "QUIT",
	}, "\r\n"))
	c.expectPrefix("+OK send your password")
	c.expect("+OK maildrop has 3 messages (" + fmt.Sprint(len(inbox[0])+len(inbox[1])+len(inbox[2])) + " octets)")
	c.expectPrefix("+OK 3 ")
	c.expectPrefix("+OK 3 messages")
	if _, err := unstuff(c.body()); err != nil {
		t.Fatal(err)
	}
	c.expectPrefix("+OK 1 ")
	c.expectPrefix("+OK " + fmt.Sprint(len(inbox[1])) + " octets")
	if got, _ := unstuff(c.body()); got != inbox[1] {
		t.Errorf("pipelined RETR 2 = %q", got)
	}
	c.expect("-ERR unknown command")
	c.expectPrefix("+OK message 1 deleted")
	c.expect("+OK top of message follows")
	if got, _ := unstuff(c.body()); got != "From: c@example.org\r\nSubject: three\r\n\r\nl1\r\n" {
		t.Errorf("pipelined TOP 3 1 = %q", got)
	}
	c.expect("+OK")
	c.expectPrefix("+OK " + testHost + " POP3 server signing off (2 messages left)")
	c.expectEOF()
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond }, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	start := time.Now()
	c.expectPrefix("-ERR autologout")
	c.expectEOF()
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("autologout after %v, want about 200ms", d)
	}
	e.waitIdle()
	if got := e.uids(); !slices.Equal(got, uids) {
		t.Errorf("after autologout the INBOX has %v, want %v", got, uids)
	}
}

func TestAuthLimiter(t *testing.T) {
	t.Parallel()
	lim := limits.NewAuthLimiter(limits.AuthLimiterConfig{BlockAfter: 2, FreeFailures: 100})
	e := newTestEnv(t, func(o *Options) { o.AuthLimiter = lim }, nil)
	c := e.dial()
	c.cmdErr("AUTH PLAIN "+plain("", alice, "wrong one"), "-ERR [AUTH]")
	c.cmdOK("USER " + alice)
	c.cmdErr("PASS wrong two", "-ERR [AUTH]")
	// Blocked now, even with the right password.
	c.cmdOK("USER " + alice)
	c.cmdErr("PASS "+alicePass, "-ERR [SYS/TEMP]")
	c.cmdErr("AUTH PLAIN "+plain("", alice, alicePass), "-ERR [SYS/TEMP]")
	// Another account is not blocked.
	c.cmdOK("AUTH PLAIN " + plain("", bob, bobPass))
	c.cmdOK("QUIT")
}

// failingBackend wraps a Backend and fails Authenticate with a temporary
// error.
type failingBackend struct{}

func (failingBackend) Authenticate(context.Context, string, string) (Maildrop, error) {
	return nil, errors.New("database unavailable")
}

func TestBackendFailure(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.Backend = failingBackend{} }, nil)
	c := e.dial()
	c.cmdOK("USER " + alice)
	c.cmdErr("PASS "+alicePass, "-ERR [SYS/TEMP]")
	c.cmdOK("QUIT")
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	c.cmdOK("NOOP") // the session is now waiting for a command
	c2 := e.dial()  // not logged in
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	c.expect("-ERR [SYS/TEMP] server shutting down")
	c.expectEOF()
	c2.expect("-ERR [SYS/TEMP] server shutting down")
	c2.expectEOF()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return")
	}
	select {
	case err := <-e.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		e.served <- err // for the cleanup
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
	}
	if got := e.uids(); !slices.Equal(got, uids) {
		t.Errorf("after Shutdown the INBOX has %v, want %v", got, uids)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("the listener still accepts connections after Shutdown")
	}
	if err := e.srv.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func mustListen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestClose(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	c.cmdOK("DELE 1")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	c.expectEOF()
	e.waitIdle()
	if got := e.uids(); !slices.Equal(got, uids) {
		t.Errorf("after Close the INBOX has %v, want %v", got, uids)
	}
}

func TestMessageExpungedElsewhere(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	uids := e.addInbox()
	c := e.login()
	_, list := c.multi("LIST")
	if len(list) != 3 {
		t.Fatalf("LIST = %q", list)
	}
	if err := e.store.DeleteMessages(context.Background(), e.inboxID, uids[:1]); err != nil {
		t.Fatal(err)
	}
	// The store keeps an expunged body readable for a grace time (as
	// IMAP's RFC 2180 asks): the session still lists it and gets it.
	c.cmdOK("RETR 1")
	if got, _ := unstuff(c.body()); got != inbox[0] {
		t.Errorf("RETR 1 of the message expunged elsewhere = %q", got)
	}
	// Once released, it is gone.
	if _, err := e.store.ReleaseExpunged(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.cmdErr("RETR 1", "-ERR message 1 was removed")
	c.cmdErr("TOP 1 0", "-ERR message 1 was removed")
	c.cmdOK("NOOP")
	c.cmdOK("RETR 2")
	if got, _ := unstuff(c.body()); got != inbox[1] {
		t.Errorf("RETR 2 = %q", got)
	}
	// Deleting a message that is already gone is not an error.
	c.cmdOK("DELE 1")
	c.cmdOK("DELE 3")
	c.cmdOK("QUIT")
	c.expectEOF()
	if got := e.uids(); !slices.Equal(got, uids[1:2]) {
		t.Errorf("INBOX = %v, want %v", got, uids[1:2])
	}
}

// waitSessions waits until the server tracks n sessions.
func (e *testEnv) waitSessions(n int) {
	e.t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		got := e.srv.sessions.Active()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d sessions, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shutdownPromptly runs Shutdown with a deadline far below the handshake
// timeout and checks that it returns without needing it.
func (e *testEnv) shutdownPromptly() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown = %v, want nil", err)
	}
}

// TestShutdownDuringTLSHandshake checks that a client that connects to an
// implicit-TLS listener and sends nothing does not hold up Shutdown.
func TestShutdownDuringTLSHandshake(t *testing.T) {
	t.Parallel()
	var srvTLS *tls.Config
	e := newTestEnv(t, func(o *Options) { srvTLS = o.TLSConfig }, func(ln net.Listener) net.Listener { return tls.NewListener(ln, srvTLS) })
	c := e.dialRaw()
	e.waitSessions(1)
	e.shutdownPromptly()
	c.expectEOF()
}

// TestShutdownDuringSTLSHandshake is the same after STLS.
func TestShutdownDuringSTLSHandshake(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	c := e.dial()
	c.cmdOK("STLS")
	e.shutdownPromptly()
	c.expectEOF()
}

// TestShutdownDuringAuthContinuation checks that a session waiting for an
// AUTH continuation line is told about the shutdown like an idle one.
func TestShutdownDuringAuthContinuation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	c := e.dial()
	if got := c.cmd("AUTH PLAIN"); got != "+ " {
		t.Fatalf("AUTH PLAIN = %q", got)
	}
	e.shutdownPromptly()
	c.expect("-ERR [SYS/TEMP] server shutting down")
	c.expectEOF()
}

// TestRetrLarge sends a message larger than the session's buffers, whose
// dot lines straddle their boundaries.
func TestRetrLarge(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil, nil)
	msg := benchMessage(300 << 10)
	e.add(msg)
	c := e.login()
	c.send("RETR 1")
	c.expect(fmt.Sprintf("+OK %d octets", len(msg)))
	if got, err := unstuff(c.body()); err != nil || got != msg {
		t.Fatalf("RETR of %d bytes: %d bytes back, err %v", len(msg), len(got), err)
	}
	c.cmdOK("TOP 1 3")
	if got, _ := unstuff(c.body()); !strings.HasPrefix(msg, got) || strings.Count(got, "\r\n") != 4+3 {
		t.Errorf("TOP 1 3 = %q", got)
	}
	c.cmdOK("QUIT")
}
