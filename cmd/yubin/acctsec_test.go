package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mailstore"
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
func startLoginServers(t *testing.T, lim *limits.AuthLimiter) *loginServers {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Logger: log})
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
	w := &wiring{
		cfg: &config.Config{DataDir: dir, Hostname: "mail.beta.test", MaxMessageSize: 1 << 20, Filters: config.DefaultFilters,
			AdminEmail: "admin@beta.test", AdminPassword: "admin-password"},
		log:         log,
		store:       store,
		sup:         newSupervisor(log),
		authLimiter: lim,
		spoolDir:    t.TempDir(),
		bound:       map[string]bound{},
		metrics:     newMetrics(),
	}
	for _, p := range []struct{ name, tls string }{{"submission", "starttls"}, {"imap", "starttls"}, {"pop3", "starttls"}, {"http", ""}} {
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
	if err := w.newOutbound(); err != nil {
		t.Fatal(err)
	}
	if err := w.startSubmission(); err != nil {
		t.Fatal(err)
	}
	w.startIMAP()
	w.startPOP3()
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

var loginProtocols = []string{"submission", "imap", "pop3", "api"}

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
