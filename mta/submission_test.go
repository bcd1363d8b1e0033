package mta

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

const testPassword = "correct horse battery"

// testKeys is a DKIMSource with an Ed25519 and an RSA key for every
// domain, and the TXT records that publish them.
type testKeys struct {
	ed      ed25519.PrivateKey
	rsa     *rsa.PrivateKey
	records map[string]string // selector → TXT value
}

var (
	keysOnce sync.Once //nolint:gochecknoglobals // test fixture
	keys     *testKeys //nolint:gochecknoglobals // test fixture
)

func dkimKeys(tb testing.TB) *testKeys {
	tb.Helper()
	keysOnce.Do(func() {
		pub, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
		if err != nil {
			panic(err)
		}
		keys = &testKeys{ed: ed, rsa: rk, records: map[string]string{
			"ed":  "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub),
			"rsa": "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der),
		}}
	})
	return keys
}

func (k *testKeys) Signers(context.Context, string) ([]crypto.Signer, []string, error) {
	return []crypto.Signer{k.ed, k.rsa}, []string{"ed", "rsa"}, nil
}

// lookupTXT answers the DKIM key queries for example.com.
func (k *testKeys) lookupTXT(name string) ([]string, error) {
	sel, ok := strings.CutSuffix(name, "._domainkey.example.com")
	if !ok || k.records[sel] == "" {
		return nil, fmt.Errorf("no TXT record for %s", name)
	}
	return []string{k.records[sel]}, nil
}

// startSubmission runs a submission server on 127.0.0.1 with a fresh
// store, DKIM keys, TLS and the default (loopback) InsecureAuth; edit
// adjusts the options. implicit serves implicit TLS.
func startSubmission(tb testing.TB, implicit bool, edit func(*SubmissionOptions)) (*testServer, *tls.Config) {
	tb.Helper()
	dir := tb.TempDir()
	tmpl := template.get(tb)
	st, err := copyTemplate(tmpl, filepath.Join(dir, "store"), tmpl.clone(tb, filepath.Join(dir, "store")))
	if err != nil {
		tb.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		tb.Fatal(err)
	}
	srvTLS, cliTLS := selfSignedTLS(tb)
	logs := &syncBuffer{}
	q, err := queue.Open(context.Background(), st, st, nil)
	if err != nil {
		tb.Fatal(err)
	}
	opts := SubmissionOptions{
		Store:     st,
		Enqueue:   q.Enqueue,
		Filters:   acceptAll(),
		Hostname:  testHost,
		TLSConfig: srvTLS,
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SpoolDir:  spool,
		DKIM:      dkimKeys(tb),

		SubaddressDelimiters: "+",
	}
	if edit != nil {
		edit(&opts)
	}
	var ln net.Listener
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if implicit {
		ln = tls.NewListener(ln, srvTLS)
	}
	s := NewSubmissionServer(opts)
	ts := &testServer{Server: s, addr: addr, store: st, queue: q, logs: logs, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		defer st.Close()
		s.Close()
		select {
		case err := <-ts.done:
			if err != nil {
				tb.Errorf("Serve returned %v", err)
			}
		case <-time.After(5 * time.Second):
			tb.Error("Serve did not return after Close")
		}
		if tb.Failed() {
			tb.Logf("server logs:\n%s", logs.String())
		}
	})
	return ts, cliTLS
}

// login dials, says EHLO and logs in with PLAIN as user.
func login(tb testing.TB, ts *testServer, user string) *smtp.Client {
	tb.Helper()
	c := ts.dial(tb)
	if err := c.Auth(sasl.NewPlainClient("", user, testPassword)); err != nil {
		tb.Fatalf("AUTH PLAIN %s: %v", user, err)
	}
	return c
}

func msgFrom(from, to, subject string) string {
	return "From: " + from + "\r\n" +
		"To: " + to + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello,\r\n" +
		"  some   spaces  \r\n" +
		"bye\r\n"
}

// untilInboxHas waits for n messages in a user's INBOX (delivery is done
// before the 250; this only guards against reading a stale snapshot).
func inbox(tb testing.TB, st *mailstore.Store, addr string) []string {
	tb.Helper()
	return messages(tb, st, addr, "INBOX")
}

func queued(tb testing.TB, q *queue.Queue) []queue.Item {
	tb.Helper()
	items, err := q.List(context.Background(), queue.Filter{})
	if err != nil {
		tb.Fatal(err)
	}
	return items
}

func TestSubmissionAuthNeedsTLS(t *testing.T) {
	ts, cliTLS := startSubmission(t, false, func(o *SubmissionOptions) {
		o.InsecureAuth = func(net.Addr) bool { return false }
	})
	c := ts.dial(t)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	wantCode(t, c.Mail(ann, nil), 530, smtp.EnhancedCode{5, 7, 0})
	wantCode(t, c.Auth(sasl.NewPlainClient("", ann, testPassword)), 538, smtp.EnhancedCode{5, 7, 11})

	c, err := smtp.DialStartTLS(ts.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ok, mechs := c.Extension("AUTH")
	if !ok || !strings.Contains(mechs, "PLAIN") || !strings.Contains(mechs, "LOGIN") {
		t.Fatalf("AUTH after STARTTLS: %v %q", ok, mechs)
	}
	wantCode(t, c.Mail(ann, nil), 530, smtp.EnhancedCode{5, 7, 0})
	if err := c.Auth(sasl.NewPlainClient("", ann, testPassword)); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(c, ann, []string{bob}, msgFrom(ann, bob, "after STARTTLS"), nil); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, ts.store, bob)
	if len(got) != 1 || !strings.Contains(got[0], "with ESMTPSA") {
		t.Fatalf("bob's INBOX: %q", got)
	}
}

func TestSubmissionImplicitTLS(t *testing.T) {
	ts, cliTLS := startSubmission(t, true, func(o *SubmissionOptions) {
		o.InsecureAuth = func(net.Addr) bool { return false }
	})
	c, err := smtp.DialTLS(ts.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered under implicit TLS")
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		t.Fatal("AUTH not offered under implicit TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", ann, testPassword)); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(c, ann, []string{bob}, msgFrom(ann, bob, "implicit"), nil); err != nil {
		t.Fatal(err)
	}
	if got := inbox(t, ts.store, bob); len(got) != 1 || !strings.Contains(got[0], "with ESMTPSA") {
		t.Fatalf("bob's INBOX: %q", got)
	}
}

func TestSubmissionLoopbackMayAuthWithoutTLS(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := ts.dial(t)
	if ok, _ := c.Extension("AUTH"); !ok {
		t.Fatal("AUTH not offered to a loopback client")
	}
	if err := c.Auth(sasl.NewPlainClient("", ann, testPassword)); err != nil {
		t.Fatal(err)
	}
}

func TestSubmissionAuthLogin(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)

	// go-sasl's client sends the user name as the initial response.
	c := ts.dial(t)
	if err := c.Auth(sasl.NewLoginClient(ann, testPassword)); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(c, ann, []string{bob}, msgFrom(ann, bob, "login"), nil); err != nil {
		t.Fatal(err)
	}

	// Outlook's way: no initial response.
	b64 := base64.StdEncoding.EncodeToString
	rc := ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	if got := rc.Cmd("AUTH LOGIN", 334); got != b64([]byte("Username:")) {
		t.Fatalf("first challenge %q", got)
	}
	if got := rc.Cmd(b64([]byte(bob)), 334); got != b64([]byte("Password:")) {
		t.Fatalf("second challenge %q", got)
	}
	rc.Cmd(b64([]byte(testPassword)), 235)
	rc.Cmd("MAIL FROM:<"+bob+">", 250)

	// And a wrong password the same way.
	rc = ts.raw(t)
	rc.Cmd("EHLO client.test.example", 250)
	rc.Cmd("AUTH LOGIN "+b64([]byte(bob)), 334)
	rc.Cmd(b64([]byte("wrong")), 535)
}

// countingLimiter blocks after max failures.
type countingLimiter struct {
	mu        sync.Mutex
	max       int
	failed    int
	succeeded int
}

func (l *countingLimiter) Check(context.Context, netip.Addr, string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed < l.max
}
func (l *countingLimiter) Delay(context.Context, netip.Addr, string) time.Duration { return 0 }
func (l *countingLimiter) Failed(context.Context, netip.Addr, string) {
	l.mu.Lock()
	l.failed++
	l.mu.Unlock()
}
func (l *countingLimiter) Succeeded(context.Context, netip.Addr, string) {
	l.mu.Lock()
	l.succeeded++
	l.mu.Unlock()
}

func TestSubmissionWrongPassword(t *testing.T) {
	lim := &countingLimiter{max: 2}
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) { o.AuthLimiter = lim })
	for i := range 2 {
		c := ts.dial(t)
		wantCode(t, c.Auth(sasl.NewPlainClient("", ann, "wrong"+fmt.Sprint(i))), 535, smtp.EnhancedCode{5, 7, 8})
		wantCode(t, c.Mail(ann, nil), 530, smtp.EnhancedCode{5, 7, 0})
	}
	// Unknown users fail the same way; and now the limiter blocks, even
	// the right password.
	c := ts.dial(t)
	wantCode(t, c.Auth(sasl.NewPlainClient("", ann, testPassword)), 454, smtp.EnhancedCode{4, 7, 0})
	lim.mu.Lock()
	lim.max = 100
	lim.mu.Unlock()
	c = ts.dial(t)
	wantCode(t, c.Auth(sasl.NewPlainClient("", "nobody@example.com", testPassword)), 535, smtp.EnhancedCode{5, 7, 8})
	// Logging in as someone else (authorization identity) is refused.
	c = ts.dial(t)
	wantCode(t, c.Auth(sasl.NewPlainClient(bob, ann, testPassword)), 535, smtp.EnhancedCode{5, 7, 8})
	login(t, ts, ann)
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.failed != 4 || lim.succeeded != 1 {
		t.Errorf("limiter saw %d failures and %d successes, want 4 and 1", lim.failed, lim.succeeded)
	}
}

func TestSubmissionSenders(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	ctx := context.Background()
	if _, err := ts.store.CreateAlias(ctx, "sales@example.com", []string{ann, bob}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.CreateAlias(ctx, "bobonly@example.com", []string{bob}); err != nil {
		t.Fatal(err)
	}
	c := login(t, ts, ann)

	// MAIL FROM someone else's address, an alias not for ann, another
	// domain, the null sender: 553 5.7.1.
	for _, from := range []string{bob, "bobonly@example.com", "ann@remote.example", "nobody@example.com", ""} {
		wantCode(t, c.Mail(from, nil), 553, smtp.EnhancedCode{5, 7, 1})
	}

	// Her own address in another case, and an alias that includes her.
	for _, from := range []string{"Ann@Example.COM", "sales@example.com"} {
		if _, err := sendOn(c, from, []string{bob}, msgFrom(from, bob, "as "+from), nil); err != nil {
			t.Fatalf("MAIL FROM %s: %v", from, err)
		}
	}

	// A forged From field: 553 5.7.1 at DATA, nothing delivered.
	before := len(inbox(t, ts.store, bob))
	for _, from := range []string{bob, "Boss <boss@remote.example>", ann + ", " + bob, "bobonly@example.com"} {
		_, err := sendOn(c, ann, []string{bob}, msgFrom(from, bob, "forged"), nil)
		wantCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})
	}
	// No From field at all.
	_, err := sendOn(c, ann, []string{bob}, "Subject: no from\r\n\r\nbody\r\n", nil)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 6, 0})
	if got := len(inbox(t, ts.store, bob)); got != before {
		t.Fatalf("bob got %d messages, want %d", got, before)
	}
}

func TestSubmissionLocalDeliverySigned(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	msg := msgFrom("Ann <ann@example.com>", "Bob <bob@example.com>", "signed")
	if _, err := sendOn(c, ann, []string{bob, "BOB@example.com", ann}, msg, nil); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, ts.store, bob)
	if len(got) != 1 {
		t.Fatalf("bob has %d messages", len(got))
	}
	if n := len(inbox(t, ts.store, ann)); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
	if !strings.HasPrefix(got[0], "Return-Path: <ann@example.com>\r\nDelivered-To: bob@example.com\r\nDKIM-Signature: ") {
		t.Errorf("no Return-Path on top: %q", trunc(got[0]))
	}
	stored := stripDelivery(t, got[0])
	if !strings.HasPrefix(stored, "DKIM-Signature: ") {
		t.Fatalf("no DKIM-Signature on top: %q", trunc(stored))
	}
	for _, f := range []string{"\r\nDate: ", "\r\nMessage-ID: <", "@" + testHost + ">\r\n", "with ESMTPA"} {
		if !strings.Contains(stored, f) {
			t.Errorf("stored message lacks %q: %q", f, trunc(stored))
		}
	}
	if !strings.HasSuffix(stored, "\r\n\r\nHello,\r\n  some   spaces  \r\nbye\r\n") {
		t.Errorf("body changed: %q", stored)
	}

	k := dkimKeys(t)
	vs, err := dkim.VerifyWithOptions(strings.NewReader(stored), &dkim.VerifyOptions{LookupTXT: k.lookupTXT})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "example.com" {
			t.Errorf("signature %s: domain %q, err %v", strings.Join(v.HeaderKeys, ":"), v.Domain, v.Err)
		}
		for _, h := range []string{"from", "subject", "date", "message-id", "to"} {
			if !containsFold(v.HeaderKeys, h) {
				t.Errorf("signature does not cover %s: %v", h, v.HeaderKeys)
			}
		}
	}
	// A message that has its own Date and Message-ID keeps them.
	own := "Date: Mon, 02 Jan 2006 15:04:05 -0700\r\nMessage-ID: <own@example.com>\r\n" + msg
	if _, err := sendOn(c, ann, []string{bob}, own, nil); err != nil {
		t.Fatal(err)
	}
	got = inbox(t, ts.store, bob)
	if strings.Count(got[1], "\r\nMessage-ID: ") != 1 || strings.Count(got[1], "\r\nDate: ") != 1 || !strings.Contains(got[1], "<own@example.com>") {
		t.Errorf("fields duplicated: %q", trunc(got[1]))
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func TestSubmissionRemoteRecipientsQueued(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	ctx := context.Background()
	if _, err := ts.store.CreateAlias(ctx, "fwd@example.com", []string{"far@elsewhere.example", bob}); err != nil {
		t.Fatal(err)
	}
	c := login(t, ts, ann)
	rcpts := []string{"carl@remote.example", "Dan@Other.example", bob, "fwd@example.com"}
	if _, err := sendOn(c, ann, rcpts, msgFrom(ann, "carl@remote.example", "remote"), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(inbox(t, ts.store, bob)); n != 1 {
		t.Fatalf("bob has %d messages, want 1", n)
	}
	items := queued(t, ts.queue)
	if len(items) != 1 {
		t.Fatalf("%d queued messages, want 1", len(items))
	}
	var addrs []string
	for _, r := range items[0].Recipients {
		addrs = append(addrs, r.Address)
	}
	if strings.Join(addrs, ",") != "carl@remote.example,Dan@other.example,far@elsewhere.example" {
		t.Errorf("queued recipients %v", addrs)
	}
	m := items[0].Message
	if m.From != ann || m.Domain != "example.com" {
		t.Errorf("queued from %q domain %q", m.From, m.Domain)
	}
	rc, err := ts.queue.OpenBody(ctx, &m)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(string(body)), &dkim.VerifyOptions{LookupTXT: dkimKeys(t).lookupTXT})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("queued message signatures: %v %v", vs, err)
	}
	if local := stripDelivery(t, inbox(t, ts.store, bob)[0]); local != string(body) {
		t.Errorf("local and queued copies differ")
	}
}

func TestSubmissionPartialLocalFailureQueuesNothing(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	big := msgFrom(ann, tiny, "too big for tiny") + strings.Repeat("x", tinyQuota) + "\r\n"
	_, err := sendOn(c, ann, []string{bob, tiny, "carl@remote.example"}, big, nil)
	// Issue 13 item 2: all or nothing, and the reply says whose mailbox
	// is full (the sender's client showed "Mailbox full").
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	if !strings.Contains(err.Error(), "<tiny@example.com>: recipient's mailbox is full") {
		t.Errorf("reply does not say it is the recipient's mailbox: %v", err)
	}
	if items := queued(t, ts.queue); len(items) != 0 {
		t.Fatalf("%d messages queued after a failed local delivery", len(items))
	}
	if n := len(inbox(t, ts.store, bob)); n != 0 {
		t.Fatalf("bob got a copy of a message answered 452 (the retry would duplicate it)")
	}
}

func TestSubmissionFiltersApply(t *testing.T) {
	var seen filters.ConnInfo
	var mu sync.Mutex
	virus := checkFunc(func(_ context.Context, m *filters.Message) (filters.Verdict, error) {
		mu.Lock()
		seen = m.Conn
		mu.Unlock()
		b, err := io.ReadAll(m.Open())
		if err != nil {
			return filters.Verdict{}, err
		}
		if strings.Contains(string(b), "EICAR") {
			return filters.Verdict{Action: filters.Reject, Reason: "virus found"}, nil
		}
		return filters.Verdict{}, nil
	})
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) { o.Filters = fakeChain(t, virus) })
	c := login(t, ts, ann)
	_, err := sendOn(c, ann, []string{"carl@remote.example"}, msgFrom(ann, "carl@remote.example", "EICAR"), nil)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	if items := queued(t, ts.queue); len(items) != 0 {
		t.Fatalf("rejected message queued")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen.AuthUser != ann {
		t.Errorf("filters saw AuthUser %q", seen.AuthUser)
	}
}

func TestSubmissionRateLimit(t *testing.T) {
	ts, _ := startSubmission(t, false, func(o *SubmissionOptions) { o.RatePerHour = 2 })
	c := login(t, ts, ann)
	for i := range 2 {
		if _, err := sendOn(c, ann, []string{bob}, msgFrom(ann, bob, fmt.Sprint("rate ", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Mail(ann, nil), 450, smtp.EnhancedCode{4, 7, 1})
	// Other users have their own budget.
	c2 := login(t, ts, bob)
	if _, err := sendOn(c2, bob, []string{ann}, msgFrom(bob, ann, "bob's"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestSendRateWindow(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := newSendRate(3, time.Hour)
	r.now = func() time.Time { return now }
	if _, ok := r.reserve(1, 2); !ok {
		t.Fatal("two of three refused")
	}
	now = now.Add(30 * time.Minute)
	at, ok := r.reserve(1, 1)
	if !ok || r.remaining(1) != 0 {
		t.Fatalf("third: %v, remaining %d", ok, r.remaining(1))
	}
	if _, ok := r.reserve(1, 1); ok {
		t.Fatal("fourth recipient within the hour allowed")
	}
	r.release(1, 1, at)
	if r.remaining(1) != 1 {
		t.Fatalf("released recipient not given back: %d", r.remaining(1))
	}
	if _, ok := r.reserve(1, 2); ok {
		t.Fatal("two recipients reserved with room for one")
	}
	if r.remaining(2) != 3 {
		t.Fatal("another user blocked")
	}
	now = now.Add(31 * time.Minute)
	if r.remaining(1) != 3 {
		t.Fatalf("not allowed once the first left the window: %d", r.remaining(1))
	}
	now = now.Add(time.Hour)
	if r.remaining(1) != 3 || len(r.sent) != 0 {
		t.Fatalf("window not pruned: %v", r.sent)
	}
	unlimited := newSendRate(-1, time.Hour)
	for range 10 {
		unlimited.reserve(1, 100)
	}
	if unlimited.remaining(1) != -1 {
		t.Fatal("unlimited rate blocked")
	}
}
