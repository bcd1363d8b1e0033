package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/queue"
)

// TestSubmissionWiring starts submission as serve does (shared filter
// chain, login limiter, DKIM keys made on first use) and sends one message
// to a remote address over a real socket.
func TestSubmissionWiring(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "submission", "starttls")
	if err := w.startSubmission(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})

	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Loopback may log in without TLS (insecureAuth).
	if err := c.Auth(sasl.NewPlainClient("", "ann@example.test", "ann-password")); err != nil {
		t.Fatal(err)
	}
	msg := "From: ann@example.test\r\nTo: bob@remote.example\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.SendMail("ann@example.test", []string{"bob@remote.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	items, err := w.queue.List(ctx, queue.Filter{})
	if err != nil || len(items) != 1 {
		t.Fatalf("queue: %v %v", items, err)
	}
	body, err := w.queue.OpenBody(ctx, &items[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(body, head); err != nil || string(head) != "DKIM-Signature: " {
		t.Fatalf("queued message starts with %q (%v), want a DKIM signature", head, err)
	}
}

// testWiring returns the wiring of a server on a fresh data folder with the
// domain example.test and its user ann@example.test (password
// "ann-password"), the default filter chain, and protocol listening on a
// free loopback port with the given TLS mode.
func testWiring(t *testing.T, protocol, tls string) (*wiring, net.Listener) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "ann-password"}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(ctx, store, store, log)
	if err != nil {
		t.Fatal(err)
	}
	return &wiring{
		cfg:         &config.Config{DataDir: dir, Hostname: "mail.example.test", MaxMessageSize: 1 << 20, Filters: config.DefaultFilters},
		log:         log,
		store:       store,
		queue:       q,
		sup:         newSupervisor(log),
		authLimiter: limits.NewAuthLimiter(limits.AuthLimiterConfig{}),
		spoolDir:    t.TempDir(),
		bound:       map[string]bound{protocol: {Listener: config.Listener{Name: protocol, Addr: ln.Addr().String(), TLS: tls}, ln: ln}},
		metrics:     newMetrics(),
	}, ln
}

// TestSubmissionLocalCountsAsSent submits a message to a local recipient
// over a real socket: it is delivered at once, never queued, and the
// overview's "Sent" counts it like a remote delivery.
func TestSubmissionLocalCountsAsSent(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "submission", "starttls")
	store := w.store
	if _, err := store.CreateUser(ctx, mailstore.NewUser{Address: "bob@example.test", Password: "bob-password"}); err != nil {
		t.Fatal(err)
	}
	if err := w.startSubmission(); err != nil {
		t.Fatal(err)
	}
	w.startStats()
	stop := stopOnce(t, w)

	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "ann@example.test", "ann-password")); err != nil {
		t.Fatal(err)
	}
	msg := "From: ann@example.test\r\nTo: bob@example.test, ann@example.test\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.SendMail("ann@example.test", []string{"bob@example.test", "ann@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop() // records the counters a last time

	st, err := service.New(store, slog.New(slog.DiscardHandler)).Stats(ctx, service.System(), "24h")
	if err != nil {
		t.Fatal(err)
	}
	if st.Today.Sent != 2 {
		t.Errorf("today's sent = %d, want 2 (two local recipients)", st.Today.Sent)
	}
	var delivered int64
	for _, p := range st.Series {
		delivered += p.Delivered
	}
	if delivered != 2 {
		t.Errorf("the series delivered %d, want 2", delivered)
	}
}
