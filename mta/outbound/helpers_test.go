package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/queue"
)

const (
	ourHost = "mail.local.test"
	ann     = "ann@local.test" // a local sender
)

// testDB is a mailstore with the outbound queue in it.
type testDB struct {
	*mailstore.Store
	queue *queue.Queue
}

// testStore opens a store and its queue in a temporary folder with the
// domain local.test and the account ann@local.test.
func testStore(t *testing.T) *testDB {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "local.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, mailstore.NewUser{Address: ann, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(ctx, st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testDB{Store: st, queue: q}
}

// testLogger adapts t.Logf to mockdns.Logger.
type testLogger struct{ t *testing.T }

func (l testLogger) Printf(f string, args ...any) {
	if !strings.HasPrefix(f, "DNS TRACE") {
		l.t.Logf(f, args...)
	}
}

// testDNS serves the zones of the tests on loopback: remote.test has its
// MX on 127.0.0.1, nomx.test only an A record there, nullmx.test a null MX.
func testDNS(t *testing.T) *dnsresolve.Resolver {
	t.Helper()
	zones := map[string]mockdns.Zone{
		"remote.test.":     {MX: []net.MX{{Host: "mx.remote.test.", Pref: 10}}},
		"two.test.":        {MX: []net.MX{{Host: "dead.two.test.", Pref: 5}, {Host: "mx.remote.test.", Pref: 20}}},
		"dead.two.test.":   {A: []string{"127.0.0.2"}},
		"mx.remote.test.":  {A: []string{"127.0.0.1"}},
		"nomx.test.":       {A: []string{"127.0.0.1"}},
		"nullmx.test.":     {MX: []net.MX{{Host: ".", Pref: 0}}},
		"elsewhere.test.":  {MX: []net.MX{{Host: "mx.remote.test.", Pref: 10}}},
		"nonexistent.test": {},
	}
	srv, err := mockdns.NewServerWithLogger(zones, testLogger{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return dnsresolve.New(dnsresolve.Options{Server: srv.LocalAddr().String(), Timeout: 2 * time.Second, CacheSize: -1})
}

// sunk is a message the sink accepted.
type sunk struct {
	from string
	to   []string
	data string
	tls  bool
	user string // AUTH identity, if any
}

// sink is an SMTP server on loopback that keeps what it is sent.
type sink struct {
	t    *testing.T
	port int
	tls  *tls.Config

	mu   sync.Mutex
	msgs []sunk
	// rcpt, if set, answers RCPT TO (nil accepts).
	rcpt func(to string) error
	// data, if set, answers the end of DATA of message n (from 0), before
	// the message is kept (nil accepts).
	data func(n int) error
	// user and pass, if set, are required with AUTH PLAIN.
	user, pass string
	tries      int // DATA commands seen
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{t: t}
	conf, err := tlsutil.LoadOrCreate(t.TempDir(), "mx.remote.test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	s.tls = conf
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "mx.remote.test"
	srv.TLSConfig = conf
	srv.AllowInsecureAuth = false
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = sinkLog{t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

type sinkLog struct{ t *testing.T }

func (l sinkLog) Printf(f string, v ...any) { l.t.Logf("sink: "+f, v...) }
func (l sinkLog) Println(v ...any)          { l.t.Log(append([]any{"sink:"}, v...)...) }

func (s *sink) tried() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries
}

func (s *sink) got() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

type sinkSession struct {
	s    *sink
	c    *smtp.Conn
	from string
	to   []string
	user string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.user || password != ss.s.pass {
			return errors.New("bad credentials")
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	fn := ss.s.rcpt
	ss.s.mu.Unlock()
	if fn != nil {
		if err := fn(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	n := ss.s.tries
	ss.s.tries++
	if ss.s.data != nil {
		if err := ss.s.data(n); err != nil {
			return err
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.msgs = append(ss.s.msgs, sunk{from: ss.from, to: ss.to, data: string(b), tls: isTLS, user: ss.user})
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }

func (ss *sinkSession) Logout() error { return nil }

// clock is the real time moved forward by Add, for Options.Now.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// testWorker returns a worker delivering to the sink through the test DNS.
func testWorker(t *testing.T, st *testDB, snk *sink, clk *clock, mod func(*Options)) *Worker {
	t.Helper()
	opts := Options{
		Queue:    st.queue,
		Store:    st,
		Resolver: testDNS(t),
		Hostname: ourHost,
		Port:     snk.port,
		Backoff:  func(int) time.Duration { return time.Minute },
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      clk.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const testMessage = "From: Ann <ann@local.test>\r\n" +
	"To: someone@remote.test\r\n" +
	"Subject: Hello there\r\n" +
	"Message-ID: <hello.1@local.test>\r\n" +
	"\r\n" +
	"Hello.\r\n" +
	".leading dot\r\n"

func enqueue(t *testing.T, st *testDB, from string, to ...string) *queue.Message {
	t.Helper()
	m, err := st.queue.Enqueue(context.Background(), queue.Input{
		Body: strings.NewReader(testMessage), From: from, Recipients: to,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func process(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
}

// inbox returns the messages in the INBOX of addr.
func inbox(t *testing.T, st *testDB, addr string) []string {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUser(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	metas, err := st.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range metas {
		b, err := st.OpenMessage(ctx, &metas[i])
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.String())
	}
	return out
}

// queued returns the queue's messages.
func queued(t *testing.T, st *testDB) []queue.Item {
	t.Helper()
	items, err := st.queue.List(context.Background(), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return items
}
