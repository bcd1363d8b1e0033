package mta

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/internal/testsmtp"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

const testHost = "mx.test.example"

// The accounts of the template store.
const (
	ann   = "ann@example.com"
	bob   = "bob@example.com"
	tiny  = "tiny@example.com"  // QuotaBytes: tinyQuota
	small = "small@example.com" // QuotaBytes: smallQuota
	utf8U = "用户@example.com"
	off   = "off@example.com"   // disabled account
	gone  = "gone@disabled.org" // in a disabled domain
)

const (
	tinyQuota  = 300
	smallQuota = 20_000
)

// templateOnce builds, once per test process, a closed mailstore holding
// the test accounts: hashing passwords (argon2id) for every test would make
// the suite slow, so each test copies the template instead.
// On PostgreSQL the template's database is a template database that each
// test's store copies (testdb.CloneIn).
type templateStore struct {
	once    sync.Once
	fixture storeFixture
	err     error
}

// storeFixture is the template: its folder and its database ("" for
// SQLite in the folder).
type storeFixture struct {
	dir, dsn string
}

func (ts *templateStore) get(tb testing.TB) storeFixture {
	ts.once.Do(func() {
		ts.fixture.dsn = testdb.NewTemplate(tb)
		ts.fixture.dir, ts.err = buildTemplate(ts.fixture.dsn)
	})
	if ts.err != nil {
		tb.Fatalf("build template store: %v", ts.err)
	}
	return ts.fixture
}

// clone returns the database of a copy of the template in store folder
// dir: a copy of the template's database dropped when tb ends, "" on
// SQLite (whose database copyTemplate copies with the folder).
func (f storeFixture) clone(tb testing.TB, dir string) string {
	tb.Helper()
	return testdb.CloneIn(tb, f.dsn, dir)
}

var template templateStore //nolint:gochecknoglobals // test fixture, built once per process

func buildTemplate(dsn string) (string, error) {
	dir, err := os.MkdirTemp("", "yubin-mta-template-*")
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: dsn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", err
	}
	for _, d := range []string{"example.com", "example.org", "disabled.org"} {
		if _, err := st.CreateDomain(ctx, d); err != nil {
			st.Close()
			return "", err
		}
	}
	users := []mailstore.NewUser{
		{Address: ann}, {Address: bob}, {Address: utf8U}, {Address: off}, {Address: gone},
		{Address: "carl@example.org"},
		{Address: tiny, QuotaBytes: tinyQuota},
		{Address: small, QuotaBytes: smallQuota},
	}
	for _, u := range users {
		u.Password = "correct horse battery"
		if _, err := st.CreateUser(ctx, u); err != nil {
			st.Close()
			return "", err
		}
	}
	// No quota warnings in example.com: the quota tests fill mailboxes to
	// the byte, which a warning would change (TestQuotaWarnings turns
	// them on).
	if _, err := st.UpdateDomain(ctx, "example.com", mailstore.DomainUpdate{QuotaWarningPercents: &mailstore.Percents{}}); err != nil {
		st.Close()
		return "", err
	}
	if _, err := st.SetDomainEnabled(ctx, "disabled.org", false); err != nil {
		st.Close()
		return "", err
	}
	disabled := false
	if _, err := st.UpdateUser(ctx, off, mailstore.UserUpdate{Enabled: &disabled}); err != nil {
		st.Close()
		return "", err
	}
	// The outbound queue's tables, so that each test's queue opens fast.
	if _, err := queue.Open(ctx, st, st, nil); err != nil {
		st.Close()
		return "", err
	}
	if err := st.Close(); err != nil {
		return "", err
	}
	return dir, nil
}

// copyTemplate copies the template store's folder into dst and opens the
// copy on database dsn (from storeFixture.clone).
func copyTemplate(tmpl storeFixture, dst, dsn string) (*mailstore.Store, error) {
	src := tmpl.dir
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		return nil, fmt.Errorf("copy template store: %w", err)
	}
	return mailstore.Open(context.Background(), mailstore.Options{Dir: dst, Database: dsn, Logger: slog.New(slog.DiscardHandler)})
}

// testServer is a running Server on 127.0.0.1.
type testServer struct {
	*Server
	addr  string
	store *mailstore.Store
	queue *queue.Queue // the outbound queue, in store
	logs  *syncBuffer
	done  chan error // Serve's result
	dir   string     // the server's folder: the store is dir/store
}

// syncBuffer is a bytes.Buffer safe for a slog handler and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer runs a server with a fresh store; edit adjusts the options.
// The test's cleanup stops it and checks that Serve returned nil.
func startServer(tb testing.TB, edit func(*Options)) *testServer {
	tb.Helper()
	logs := &syncBuffer{}
	dir := tb.TempDir()
	tmpl := template.get(tb)
	ts, stop, err := launch(tmpl, dir, tmpl.clone(tb, filepath.Join(dir, "store")), logs, edit)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Error(err)
		}
	})
	return ts
}

// launch starts a server on 127.0.0.1 with a copy of the template store in
// dir/store on database dsn (tmpl.clone of that folder), logging to logs.
// stop closes it and reports how Serve ended.
func launch(tmpl storeFixture, dir, dsn string, logs io.Writer, edit func(*Options)) (ts *testServer, stop func() error, err error) {
	st, err := copyTemplate(tmpl, filepath.Join(dir, "store"), dsn)
	if err != nil {
		return nil, nil, err
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		st.Close()
		return nil, nil, err
	}
	q, err := queue.Open(context.Background(), st, st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	opts := Options{
		Store:    st,
		Enqueue:  q.Enqueue,
		Hostname: testHost,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SpoolDir: spool,
		// As `yubin serve` does by default.
		SubaddressDelimiters: "+",
	}
	if edit != nil {
		edit(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	s := NewServer(opts)
	sb, _ := logs.(*syncBuffer)
	ts = &testServer{Server: s, addr: ln.Addr().String(), store: st, queue: q, logs: sb, done: make(chan error, 1), dir: dir}
	go func() { ts.done <- s.Serve(ln) }()
	stop = func() error {
		defer st.Close()
		s.Close()
		select {
		case err := <-ts.done:
			if err != nil {
				return fmt.Errorf("Serve returned %w", err)
			}
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("Serve did not return after Close")
		}
	}
	return ts, stop, nil
}

// dial connects a go-smtp client and says EHLO.
func (ts *testServer) dial(tb testing.TB) *smtp.Client {
	tb.Helper()
	c, err := smtp.Dial(ts.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test.example"); err != nil {
		tb.Fatal(err)
	}
	return c
}

// send sends one message through a new connection and returns the DATA
// reply text, or the first error.
func (ts *testServer) send(tb testing.TB, from string, rcpts []string, msg string) (string, error) {
	tb.Helper()
	c := ts.dial(tb)
	defer c.Quit()
	return sendOn(c, from, rcpts, msg, nil)
}

func sendOn(c *smtp.Client, from string, rcpts []string, msg string, mo *smtp.MailOptions) (string, error) {
	if err := c.Mail(from, mo); err != nil {
		return "", fmt.Errorf("MAIL: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return "", fmt.Errorf("RCPT %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return "", fmt.Errorf("DATA write: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// wantCode checks that err is an SMTP error with code and enhanced code.
func wantCode(tb testing.TB, err error, code int, enh smtp.EnhancedCode) {
	tb.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		tb.Fatalf("got %v, want SMTP error %d %v", err, code, enh)
	}
	if se.Code != code || se.EnhancedCode != enh {
		tb.Fatalf("got %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enh)
	}
}

// messages returns the bodies of the messages in a user's mailbox.
func messages(tb testing.TB, st *mailstore.Store, addr, mailbox string) []string {
	tb.Helper()
	ctx := context.Background()
	u, err := st.GetUser(ctx, addr)
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, u.ID, mailbox)
	if err != nil {
		tb.Fatal(err)
	}
	metas, err := st.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := range metas {
		b, err := st.OpenMessage(ctx, &metas[i])
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// metas returns the metadata of the messages in a user's mailbox.
func metas(tb testing.TB, st *mailstore.Store, addr, mailbox string) []mailstore.MessageMeta {
	tb.Helper()
	ctx := context.Background()
	u, err := st.GetUser(ctx, addr)
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, u.ID, mailbox)
	if err != nil {
		tb.Fatal(err)
	}
	ms, err := st.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// splitReceived splits a stored message into its first field (which must
// be Yubin's Received) and the rest.
func splitReceived(tb testing.TB, stored string) (received, rest string) {
	tb.Helper()
	stored = stripDelivery(tb, stored)
	if !strings.HasPrefix(stored, "Received: from ") {
		tb.Fatalf("stored message does not start with Received: %q", trunc(stored))
	}
	i := 0
	for {
		j := strings.Index(stored[i:], "\r\n")
		if j < 0 {
			tb.Fatalf("unterminated Received field")
		}
		i += j + 2
		if i >= len(stored) || (stored[i] != ' ' && stored[i] != '\t') {
			return stored[:i], stored[i:]
		}
	}
}

// stripDelivery removes the Return-Path field and the Delivered-To field
// (if any) that final delivery puts on top of a stored message.
func stripDelivery(tb testing.TB, stored string) string {
	tb.Helper()
	if !strings.HasPrefix(stored, "Return-Path: <") {
		tb.Fatalf("stored message does not start with Return-Path: %q", trunc(stored))
	}
	stored = stored[strings.Index(stored, "\r\n")+2:]
	if strings.HasPrefix(stored, "Delivered-To: ") {
		stored = stored[strings.Index(stored, "\r\n")+2:]
	}
	return stored
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// rawClient is a bare SMTP client, for what go-smtp's client will not do
// (pipelining by hand, BDAT, garbage).
type rawClient = testsmtp.Client

// raw connects to the server and reads its greeting.
func (ts *testServer) raw(tb testing.TB) *rawClient {
	tb.Helper()
	return testsmtp.Dial(tb, ts.addr)
}

// selfSignedTLS returns a server config with a fresh certificate for
// testHost, and a client config that trusts it.
func selfSignedTLS(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: testHost, MinVersion: tls.VersionTLS12}
	return server, client
}

// simpleMsg is a small, well-formed message.
func simpleMsg(subject string) string {
	return "From: Sender <sender@remote.example>\r\n" +
		"To: Ann <ann@example.com>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + subject + "@remote.example>\r\n" +
		"\r\n" +
		"Hello Ann,\r\n" +
		"..a line that starts with a dot\r\n" +
		".\tanother\r\n" +
		"bye\r\n"
}
