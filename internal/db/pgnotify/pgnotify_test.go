package pgnotify

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
)

// waitFor bounds how long a test waits for an event that must come.
const waitFor = 20 * time.Second

// testDSN returns a fresh PostgreSQL database for the test, or skips.
func testDSN(t testing.TB) string {
	t.Helper()
	return testdb.Postgres(t)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// node opens a notifier on dsn and subscribes a channel to it.
func node(t testing.TB, dsn string) (*Notifier, chan mailstore.Event) {
	t.Helper()
	n, err := Open(context.Background(), dsn, Options{Logger: quiet(), RetryWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ch := make(chan mailstore.Event, 1000)
	n.Subscribe(func(ev mailstore.Event) { ch <- ev })
	return n, ch
}

func next(t testing.TB, ch chan mailstore.Event, what string) mailstore.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(waitFor):
		t.Fatalf("no event: %s", what)
		return mailstore.Event{}
	}
}

// terminate ends the server side of a's connections in role (listen,
// notify), as a lost link would.
func terminate(t testing.TB, dsn string, n *Notifier, role string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var ended int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		"yubin-"+role+"-"+n.Node()).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended != 1 {
		t.Fatalf("ended %d %s connections, want 1", ended, role)
	}
}

func TestEventsCrossNodes(t *testing.T) {
	dsn := testDSN(t)
	a, fromA := node(t, dsn)
	b, fromB := node(t, dsn)

	ev := mailstore.Event{Kind: mailstore.FlagsChanged, UserID: 7, MailboxID: 9, ModSeq: 12, UIDs: []uint32{3, 4},
		Flags: [][]string{{`\Seen`}, {`\Flagged`, "$Work"}}, Origin: "imap-1", SeenUser: 7}
	a.Publish([]mailstore.Event{ev})

	// Node A's own subscribers get it at once, and once.
	if got := next(t, fromA, "A's own"); got.Origin != "imap-1" || got.ModSeq != 12 {
		t.Fatalf("A got %+v", got)
	}
	got := next(t, fromB, "A's event on B")
	if got.Origin != a.Node()+"/imap-1" {
		t.Errorf("origin %q: a session on B must not take it for its own", got.Origin)
	}
	got.Origin = ev.Origin
	if got.Kind != ev.Kind || got.UserID != 7 || got.MailboxID != 9 || got.ModSeq != 12 || got.SeenUser != 7 ||
		!slices.Equal(got.UIDs, ev.UIDs) || len(got.Flags) != 2 || !slices.Equal(got.Flags[1], ev.Flags[1]) {
		t.Errorf("B got %+v, want %+v", got, ev)
	}
	// An event B publishes comes to A; had A heard its own again, that
	// would have come first (notifications arrive in the order sent).
	b.Publish([]mailstore.Event{{Kind: mailstore.MailboxesChanged, UserID: 7}})
	if got := next(t, fromA, "B's event on A"); got.Kind != mailstore.MailboxesChanged {
		t.Fatalf("A got %+v, want B's MailboxesChanged", got)
	}
	if got := next(t, fromB, "B's own"); got.Kind != mailstore.MailboxesChanged {
		t.Fatalf("B got %+v", got)
	}
}

func TestLargeBatchGoesThroughTheTable(t *testing.T) {
	dsn := testDSN(t)
	a, _ := node(t, dsn)
	_, fromB := node(t, dsn)

	uids := make([]uint32, 5000)
	flags := make([][]string, len(uids))
	for i := range uids {
		uids[i] = uint32(i + 1)
		flags[i] = []string{`\Seen`, "$label" + strings.Repeat("x", 10)}
	}
	a.Publish([]mailstore.Event{
		{Kind: mailstore.FlagsChanged, UserID: 1, MailboxID: 2, ModSeq: 3, UIDs: uids, Flags: flags},
		{Kind: mailstore.MessagesExpunged, UserID: 1, MailboxID: 2, ModSeq: 4, UIDs: []uint32{1}},
	})
	got := next(t, fromB, "the large event")
	if got.Kind != mailstore.FlagsChanged || !slices.Equal(got.UIDs, uids) || len(got.Flags) != len(uids) {
		t.Fatalf("B got %v with %d UIDs", got.Kind, len(got.UIDs))
	}
	if got := next(t, fromB, "the event after it"); got.Kind != mailstore.MessagesExpunged || got.ModSeq != 4 {
		t.Fatalf("B got %+v", got)
	}
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var rows int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM yubin_notify_payloads`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d rows in the payload table (%v), want 1", rows, err)
	}
}

func TestLostListenerResyncs(t *testing.T) {
	dsn := testDSN(t)
	a, _ := node(t, dsn)
	b, fromB := node(t, dsn)

	terminate(t, dsn, b, "listen")
	// What A sent while B was away is gone: B's readers are told to reload.
	if got := next(t, fromB, "Resync after the lost connection"); got.Kind != mailstore.Resync {
		t.Fatalf("B got %+v, want Resync", got)
	}
	a.Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, MailboxID: 5, ModSeq: 2, UIDs: []uint32{8}}})
	for {
		got := next(t, fromB, "A's event after B listens again")
		if got.Kind == mailstore.MessagesAdded {
			if got.MailboxID != 5 || !slices.Equal(got.UIDs, []uint32{8}) {
				t.Fatalf("B got %+v", got)
			}
			break
		}
	}
}

func TestLostSenderMakesOthersResync(t *testing.T) {
	dsn := testDSN(t)
	a, _ := node(t, dsn)
	_, fromB := node(t, dsn)

	a.Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, MailboxID: 5, ModSeq: 2, UIDs: []uint32{1}}})
	if got := next(t, fromB, "the first event"); got.Kind != mailstore.MessagesAdded {
		t.Fatalf("B got %+v", got)
	}
	terminate(t, dsn, a, "notify")
	// This batch is sent on a dead connection: B is told to resync instead.
	a.Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, MailboxID: 5, ModSeq: 3, UIDs: []uint32{2}}})
	if got := next(t, fromB, "Resync after A's lost sender"); got.Kind != mailstore.Resync {
		t.Fatalf("B got %+v, want Resync", got)
	}
	a.Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, MailboxID: 5, ModSeq: 4, UIDs: []uint32{3}}})
	if got := next(t, fromB, "the event after"); got.Kind != mailstore.MessagesAdded || got.UIDs[0] != 3 {
		t.Fatalf("B got %+v", got)
	}
}

func TestQuietListenerStaysConnected(t *testing.T) {
	dsn := testDSN(t)
	a, _ := node(t, dsn)
	b, err := Open(context.Background(), dsn, Options{Logger: quiet(), Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fromB := make(chan mailstore.Event, 100)
	b.Subscribe(func(ev mailstore.Event) { fromB <- ev })
	// Several heartbeats pass without a notification: each pings, none
	// loses the connection (which would make B resync).
	time.Sleep(300 * time.Millisecond)
	a.Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, MailboxID: 1, ModSeq: 2, UIDs: []uint32{1}}})
	if got := next(t, fromB, "A's event after quiet heartbeats"); got.Kind != mailstore.MessagesAdded {
		t.Fatalf("B got %+v, want A's event (a Resync means the heartbeat broke the connection)", got)
	}
}
