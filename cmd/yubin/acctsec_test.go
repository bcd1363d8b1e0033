package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/queue"
)

// loginServers is a server wired as serve wires it, with submission,
// IMAP, POP3 and HTTP on loopback sharing one login limiter.
type loginServers struct {
	w     *wiring
	addrs map[string]string
}

// startLoginServers starts submission, IMAP, POP3 and the HTTP API on a
// fresh data folder with the domain beta.test and its users carol and
// mallory (passwords "carol-password", "mallory-password"), throttled by
// lim.
func startLoginServers(t *testing.T, lim *limits.AuthLimiter, mods ...func(*config.Config)) *loginServers {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateDomain(ctx, "beta.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"carol", "mallory"} {
		if _, err := store.CreateUser(ctx, mailstore.NewUser{Address: u + "@beta.test", Password: u + "-password"}); err != nil {
			t.Fatal(err)
		}
	}
	ls := &loginServers{addrs: map[string]string{}}
	q, err := queue.Open(ctx, store, store, log)
	if err != nil {
		t.Fatal(err)
	}
	w := &wiring{
		cfg: &config.Config{DataDir: dir, Hostname: "mail.beta.test", MaxMessageSize: 1 << 20, Filters: config.DefaultFilters,
			AdminEmail: "admin@beta.test", AdminPassword: "admin-password"},
		log:         log,
		store:       store,
		queue:       q,
		tlsConf:     testTLSConfig(t, dir),
		sup:         newSupervisor(log),
		authLimiter: lim,
		spoolDir:    t.TempDir(),
		bound:       map[string]bound{},
		metrics:     newMetrics(),
	}
	for _, m := range mods {
		m(w.cfg)
	}
	for _, p := range []struct{ name, tls string }{{"submission", "starttls"}, {"imap", "starttls"}, {"pop3", "starttls"}, {"http", "none"}, {"https", "implicit"}, {"managesieve", "starttls"}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		w.bound[p.name] = bound{Listener: config.Listener{Name: p.name, Addr: ln.Addr().String(), TLS: p.tls}, ln: ln}
		ls.addrs[p.name] = ln.Addr().String()
	}
	ready := &atomic.Bool{}
	h, err := w.newAPI(ctx, ready)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.newOutbound(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.startSubmission(); err != nil {
		t.Fatal(err)
	}
	w.startIMAP()
	w.startPOP3()
	w.startManageSieve()
	w.startHTTP(h)
	ready.Store(true)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})
	ls.w = w
	return ls
}

// login tries user and password over protocol ("submission", "imap",
// "pop3" or "api") and reports whether it was accepted.
func (ls *loginServers) login(t *testing.T, protocol, user, password string) bool {
	t.Helper()
	addr := ls.addrs[protocol]
	switch protocol {
	case "submission":
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", user, password)) == nil
	case "imap":
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(user, password).Wait() == nil
	case "pop3":
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		line := func() string {
			s, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("POP3: %v", err)
			}
			return s
		}
		line() // greeting
		fmt.Fprintf(conn, "USER %s\r\n", user)
		if !strings.HasPrefix(line(), "+OK") {
			return false
		}
		fmt.Fprintf(conn, "PASS %s\r\n", password)
		ok := strings.HasPrefix(line(), "+OK")
		fmt.Fprintf(conn, "QUIT\r\n")
		line()
		return ok
	case "managesieve":
		return manageSieveLogin(t, addr, user, password)
	case "api":
		body, _ := json.Marshal(map[string]string{"email": user, "password": password})
		resp, err := http.Post("http://"+ls.addrs["http"]+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	t.Fatalf("unknown protocol %s", protocol)
	return false
}

var loginProtocols = []string{"submission", "imap", "pop3", "api", "managesieve"}

// TestLoginThrottleCanonicalSpelling guesses carol's password under other
// spellings of her address that the store accepts (trailing dot, fullwidth
// and mathematical letters, upper case): every one counts against carol,
// so that after BlockAfter guesses even her right password is refused,
// under any spelling, over every protocol.
func TestLoginThrottleCanonicalSpelling(t *testing.T) {
	spellings := []string{"carol@beta.test.", "carol@ｂeta.test", "carol@𝐛eta.test", "CAROL@BETA.TEST", "carol@ＢＥＴＡ.ｔｅｓｔ"}
	for _, proto := range loginProtocols {
		t.Run(proto, func(t *testing.T) {
			ls := startLoginServers(t, limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: len(spellings), BlockAfterIP: 1000}))
			if !ls.login(t, proto, "carol@ｂeta.test", "carol-password") {
				t.Fatal("the fullwidth spelling does not log in at all: nothing to test")
			}
			for _, s := range spellings {
				if ls.login(t, proto, s, "wrong-password") {
					t.Fatalf("wrong password accepted for %q", s)
				}
			}
			for _, s := range append([]string{"carol@beta.test"}, spellings...) {
				if ls.login(t, proto, s, "carol-password") {
					t.Errorf("%s: %q logged in after %d failed guesses against carol under other spellings", proto, s, len(spellings))
				}
			}
			if !ls.login(t, proto, "mallory@beta.test", "mallory-password") {
				t.Errorf("%s: another account is blocked too", proto)
			}
		})
	}
}

// TestLoginSuccessKeepsIPCount logs into the attacker's own account
// between guesses against carol: the IP address's failures against carol
// must still count, and block it once they reach BlockAfterIP.
func TestLoginSuccessKeepsIPCount(t *testing.T) {
	const blockAfterIP = 4
	for _, proto := range loginProtocols {
		t.Run(proto, func(t *testing.T) {
			ls := startLoginServers(t, limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: 1000, BlockAfterIP: blockAfterIP}))
			for i := range blockAfterIP {
				if ls.login(t, proto, "carol@beta.test", "wrong-password") {
					t.Fatal("wrong password accepted")
				}
				if i < blockAfterIP-1 && !ls.login(t, proto, "mallory@beta.test", "mallory-password") {
					t.Fatalf("guess %d: the attacker's own account was refused before the IP reached the limit", i)
				}
			}
			if ls.login(t, proto, "carol@beta.test", "carol-password") {
				t.Errorf("%s: the IP address guessed %d times against carol, logging into its own account in between, and is not blocked", proto, blockAfterIP)
			}
		})
	}
}

// testTLSConfig returns the server TLS configuration serve makes: a
// self-signed certificate in dir.
func testTLSConfig(t *testing.T, dir string) *tls.Config {
	t.Helper()
	c, err := tlsutil.LoadOrCreate(dir, "mail.beta.test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHTTPSRedirectUsesHostname: a client that is not allowed plain HTTP
// is sent to YUBIN_HOSTNAME's HTTPS port whatever Host it sent, over a
// real socket (issue 11 item 12).
func TestHTTPSRedirectUsesHostname(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(redirectToHTTPS(h, func(net.Addr) bool { return false }, "mail.example.com", 8443))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, host := range []string{"evil.example", "evil.example:8080", "mail.example.com.evil.example"} {
		req, _ := http.NewRequest("GET", srv.URL+"/admin/?x=1", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://mail.example.com:8443/admin/?x=1" {
			t.Errorf("Host %q: %d %q, want 308 to https://mail.example.com:8443/admin/?x=1", host, resp.StatusCode, loc)
		}
	}
}

// TestHTTPConnectionCaps: the HTTP and HTTPS listeners cap connections per
// IP address (half-sent requests hold none beyond it), and refuse request
// headers over httpMaxHeaderBytes (issue 11 item 18).
func TestHTTPConnectionCaps(t *testing.T) {
	const perIP = 3
	ls := startLoginServers(t, limits.NewAuthLimiter(limits.AuthLimiterConfig{}), func(c *config.Config) {
		c.MaxConnections, c.MaxConnectionsPerIP = 100, perIP
	})
	for _, proto := range []string{"http", "https"} {
		var held []net.Conn
		for range perIP {
			c, err := net.Dial("tcp", ls.addrs[proto])
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			if proto == "http" {
				io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // half-sent
			}
		}
		// One more is refused at once.
		c, err := net.Dial("tcp", ls.addrs[proto])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if proto == "http" && !strings.HasPrefix(string(b), "HTTP/1.1 503 ") {
			t.Errorf("%s: connection over the per-IP cap got %q, want a 503", proto, b)
		}
		if proto == "https" && len(b) != 0 {
			t.Errorf("%s: connection over the per-IP cap got %q, want it closed", proto, b)
		}
		for _, c := range held {
			c.Close()
		}
	}
	// Once they are closed, requests are served again (the limiter
	// releases a slot when the server has closed its side).
	waitForHTTP(t, "http://"+ls.addrs["http"]+"/healthz")

	req, _ := http.NewRequest("GET", "http://"+ls.addrs["http"]+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*httpMaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header: %d, want 431", 2*httpMaxHeaderBytes, resp.StatusCode)
	}
}

// waitForHTTP polls url until it answers 200; each attempt is one request,
// so the wait ends as soon as the server serves again.
func waitForHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if i == 3000 {
			t.Fatalf("%s never answered 200: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCredentialCacheFollowsChanges: the mail protocols remember recent
// successful logins (so that IMAP clients opening several connections do
// not pay for argon2id each time); a password change, disabling and
// deleting the account end that at once over submission, IMAP and POP3,
// and a new account at the same address with the same password is a new
// login (issue 11 item 5).
func TestCredentialCacheFollowsChanges(t *testing.T) {
	ls := startLoginServers(t, limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: 1000, BlockAfterIP: 1000}))
	ctx := context.Background()
	st := ls.w.store
	protos := []string{"submission", "imap", "pop3"}
	expect := func(step, password string, want bool) {
		t.Helper()
		for _, p := range protos {
			if got := ls.login(t, p, "carol@beta.test", password); got != want {
				t.Errorf("%s: %s login with %q = %v, want %v", step, p, password, got, want)
			}
		}
	}
	expect("before", "carol-password", true) // now cached
	if err := st.SetPassword(ctx, "carol@beta.test", "carol-new-password"); err != nil {
		t.Fatal(err)
	}
	expect("after a password change", "carol-password", false)
	expect("after a password change", "carol-new-password", true)
	off, on := false, true
	if _, err := st.UpdateUser(ctx, "carol@beta.test", mailstore.UserUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	expect("disabled", "carol-new-password", false)
	if _, err := st.UpdateUser(ctx, "carol@beta.test", mailstore.UserUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	expect("enabled again", "carol-new-password", true)
	if err := st.DeleteUser(ctx, "carol@beta.test"); err != nil {
		t.Fatal(err)
	}
	expect("deleted", "carol-new-password", false)
}
