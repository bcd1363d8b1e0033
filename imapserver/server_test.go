package imapserver

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/yubinmail/yubin/internal/limits"
)

func TestLogin(t *testing.T) {
	env := newTestEnv(t, nil)

	c := env.dial(t, nil)
	err := c.Login(testAddr, "wrong password").Wait()
	wantCode(t, err, imap.ResponseCodeAuthenticationFailed, "LOGIN with a wrong password")
	err = c.Login("nobody@example.test", testPass).Wait()
	wantCode(t, err, imap.ResponseCodeAuthenticationFailed, "LOGIN of an unknown user")
	if err := c.Login(testAddr, testPass).Wait(); err != nil {
		t.Fatalf("LOGIN after failures: %v", err)
	}
	// (imapclient updates its state just after Wait returns: NOOP first.)
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v after LOGIN", c.State())
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}
}

func TestAuthenticatePlain(t *testing.T) {
	env := newTestEnv(t, nil)

	c := env.dial(t, nil)
	err := c.Authenticate(sasl.NewPlainClient("", testAddr, "wrong password"))
	wantCode(t, err, imap.ResponseCodeAuthenticationFailed, "AUTHENTICATE PLAIN with a wrong password")
	if err := c.Authenticate(sasl.NewPlainClient("", testAddr, testPass)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after AUTHENTICATE: %v", err)
	}
}

// noInsecure requires TLS from every client, loopback included.
func noInsecure(o *Options) { o.InsecureAuth = func(net.Addr) bool { return false } }

func TestLoginRequiresTLS(t *testing.T) {
	env := newTestEnv(t, noInsecure)

	r := dialRaw(t, env.addr)
	untagged, tagged := r.cmd("c1", "CAPABILITY")
	if !strings.HasPrefix(tagged, "c1 OK") || len(untagged) != 1 {
		t.Fatalf("CAPABILITY: %q %q", untagged, tagged)
	}
	caps := strings.Fields(untagged[0])
	for _, want := range []string{"LOGINDISABLED", "STARTTLS"} {
		if !contains(caps, want) {
			t.Errorf("CAPABILITY before TLS lacks %s: %s", want, untagged[0])
		}
	}
	if contains(caps, "AUTH=PLAIN") {
		t.Errorf("CAPABILITY before TLS offers AUTH=PLAIN: %s", untagged[0])
	}
	if _, tagged := r.cmd("l1", "LOGIN "+testAddr+" \""+testPass+"\""); !strings.HasPrefix(tagged, "l1 NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN without TLS: %q", tagged)
	}
	if _, tagged := r.cmd("a1", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNlIGJhdHRlcnk="); !strings.HasPrefix(tagged, "a1 NO [PRIVACYREQUIRED]") {
		t.Fatalf("AUTHENTICATE without TLS: %q", tagged)
	}

	r.startTLS(env.clientTLS)
	untagged, _ = r.cmd("c2", "CAPABILITY")
	if len(untagged) != 1 || strings.Contains(untagged[0], "LOGINDISABLED") || strings.Contains(untagged[0], "STARTTLS") {
		t.Errorf("CAPABILITY after STARTTLS: %q", untagged)
	}
	if _, tagged := r.cmd("l2", "LOGIN "+testAddr+" \""+testPass+"\""); !strings.HasPrefix(tagged, "l2 OK") {
		t.Fatalf("LOGIN after STARTTLS: %q", tagged)
	}

	// The same through imapclient.
	c, err := imapclient.DialStartTLS(env.addr, &imapclient.Options{TLSConfig: env.clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testAddr, testPass).Wait(); err != nil {
		t.Fatalf("LOGIN after DialStartTLS: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestLoopbackMayLogInWithoutTLS(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	untagged, _ := r.cmd("c1", "CAPABILITY")
	if len(untagged) != 1 || strings.Contains(untagged[0], "LOGINDISABLED") || !strings.Contains(untagged[0], "AUTH=PLAIN") {
		t.Fatalf("CAPABILITY on loopback: %q", untagged)
	}
}

func TestImplicitTLS(t *testing.T) {
	env := newTestEnv(t, noInsecure)
	addr := env.serve(t, tls.NewListener(listen(t), env.serverTLS))

	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: env.clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapLoginDisabled) || caps.Has(imap.CapStartTLS) {
		t.Errorf("implicit TLS CAPABILITY: %v", caps)
	}
	if err := c.Login(testAddr, testPass).Wait(); err != nil {
		t.Fatalf("LOGIN over implicit TLS: %v", err)
	}
	env.deliver(t, testMessage("over tls", "bob@example.org", "hello"))
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 1 {
		t.Fatalf("EXISTS %d, want 1", data.NumMessages)
	}
}

func TestAuthLimiter(t *testing.T) {
	lim := limits.NewAuthLimiter(limits.AuthLimiterConfig{BlockAfter: 3, BlockAfterIP: 100, FreeFailures: 100})
	env := newTestEnv(t, func(o *Options) { o.AuthLimiter = lim })

	c := env.dial(t, nil)
	for i := 0; i < 3; i++ {
		err := c.Login(testAddr, "wrong password").Wait()
		wantCode(t, err, imap.ResponseCodeAuthenticationFailed, "bad LOGIN")
	}
	// Blocked now, even with the right password, on any connection.
	err := c.Login(testAddr, testPass).Wait()
	wantCode(t, err, imap.ResponseCodeUnavailable, "LOGIN after too many failures")
	c2 := env.dial(t, nil)
	err = c2.Login(testAddr, testPass).Wait()
	wantCode(t, err, imap.ResponseCodeUnavailable, "LOGIN on a new connection after too many failures")
	// Other accounts are not blocked by the account limit.
	err = c2.Login("other@example.test", "whatever password").Wait()
	wantCode(t, err, imap.ResponseCodeAuthenticationFailed, "LOGIN of another account")
}

func TestCapabilitiesAfterLogin(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.AppendLimit = 12345 })
	c := env.login(t, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{
		imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapMove, imap.CapUIDPlus, imap.CapESearch,
		imap.CapSearchRes, imap.CapSpecialUse, imap.CapListStatus, imap.CapListExtended,
		imap.CapStatusSize, imap.CapBinary, imap.CapChildren, imap.CapCreateSpecialUse,
		imap.CapLiteralMinus, imap.CapIdle, imap.CapNamespace, imap.CapUnselect, "APPENDLIMIT=12345",
	} {
		if !caps.Has(want) {
			t.Errorf("CAPABILITY lacks %s", want)
		}
	}
	if caps.Has(imap.CapLoginDisabled) {
		t.Errorf("CAPABILITY after login has LOGINDISABLED")
	}
}

func TestShutdown(t *testing.T) {
	env := newTestEnv(t, nil)

	// An idle client in the selected state, and one that never logged in.
	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\""); !strings.HasPrefix(tagged, "l OK") {
		t.Fatal(tagged)
	}
	if _, tagged := r.cmd("s", "SELECT INBOX"); !strings.HasPrefix(tagged, "s OK") {
		t.Fatal(tagged)
	}
	anon := dialRaw(t, env.addr)
	// And one in IDLE.
	idler := dialRaw(t, env.addr)
	idler.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	idler.cmd("s", "SELECT INBOX")
	idler.send("i IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.srv.Shutdown(ctx) }()

	for _, rc := range []*rawConn{r, anon, idler} {
		if l := rc.line(); !strings.HasPrefix(l, "* BYE") {
			t.Errorf("got %q, want BYE", l)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	// New connections are refused.
	if c, err := net.DialTimeout("tcp", env.addr, time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Close()
		if strings.HasPrefix(string(buf[:n]), "* OK") {
			t.Fatalf("server still greets after Shutdown: %q", buf[:n])
		}
	}
	// Serve after Shutdown returns at once.
	if err := env.srv.Serve(listen(t)); err != ErrServerClosed {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestMalformedCommands(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "body"))
	other := env.selectInbox(t, nil)

	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\""); !strings.HasPrefix(tagged, "l OK") {
		t.Fatal(tagged)
	}
	for i, line := range []string{
		"FROBNICATE",
		"SELECT",
		"FETCH 1 FLAGS", // not selected
		"SELECT INBOX",
		"FETCH 1:* (BODY[",
		"FETCH abc FLAGS",
		"FETCH 1 (FLAGS",
		"STORE 1 +FLAGS (\\Seen",
		"STORE 1 XFLAGS \\Seen",
		"SEARCH FROM",
		"SEARCH NOSUCHKEY",
		"COPY 1",
		"LIST",
		"STATUS INBOX (NOSUCHITEM)",
		"APPEND INBOX {abc}",
		"UID FROB 1",
	} {
		tag := "m" + string(rune('a'+i))
		untagged, tagged := r.cmd(tag, line)
		if line == "SELECT INBOX" {
			if !strings.HasPrefix(tagged, tag+" OK") {
				t.Fatalf("%s: %q", line, tagged)
			}
			continue
		}
		if !strings.HasPrefix(tagged, tag+" BAD") && !strings.HasPrefix(tagged, tag+" NO") {
			t.Errorf("%s: %q %q, want BAD", line, untagged, tagged)
		}
		if _, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") {
			t.Fatalf("NOOP after %q: %q", line, tagged)
		}
	}
	untagged, tagged := r.cmd("f", "FETCH 1 (UID FLAGS)")
	if !strings.HasPrefix(tagged, "f OK") || len(untagged) != 1 {
		t.Fatalf("FETCH after malformed commands: %q %q", untagged, tagged)
	}
	// The other client did not notice.
	if err := other.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if msgs, err := other.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect(); err != nil || len(msgs) != 1 {
		t.Fatalf("other client FETCH: %v %v", msgs, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
