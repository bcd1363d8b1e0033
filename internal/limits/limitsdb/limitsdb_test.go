package limitsdb

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
)

// nodeLimiter is one node's limiter, on a store of the data folder dir
// that every node of the test shares.
func nodeLimiter(t *testing.T, dir string) *limits.AuthLimiter {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs, err := Open(context.Background(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	return limits.NewAuthLimiter(limits.AuthLimiterConfig{Store: fs, Logger: quiet})
}

func TestThrottleHoldsAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	a, b := nodeLimiter(t, dir), nodeLimiter(t, dir)
	attacker := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("198.51.100.9")

	// Failures on A delay the next one on B.
	for range limits.DefaultFreeFailures + 1 {
		a.Failed(context.Background(), attacker, "alice@example.test")
	}
	if d := b.Delay(context.Background(), attacker, "alice@example.test"); d <= 0 {
		t.Fatal("B does not slow down a client that failed on A")
	}
	// Up to the block: the account is refused on B, under any spelling,
	// from any address.
	for range limits.DefaultBlockAfter - limits.DefaultFreeFailures - 1 {
		a.Failed(context.Background(), attacker, "alice@example.test")
	}
	for _, name := range []string{"alice@example.test", "ALICE@Example.TEST", "alice@ｅｘａｍｐｌｅ.test."} {
		if b.Check(context.Background(), other, name) {
			t.Errorf("B lets %q in after %d failures on A", name, limits.DefaultBlockAfter)
		}
	}
	if !b.Check(context.Background(), other, "bob@example.test") {
		t.Error("B blocks another account")
	}
	// A successful login on B (the owner, from their address) ends the
	// account's block on A too.
	b.Succeeded(context.Background(), other, "alice@example.test")
	if !a.Check(context.Background(), other, "alice@example.test") {
		t.Error("A still blocks the account after its owner logged in on B")
	}
}

func TestIPBlockHoldsAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	a, b := nodeLimiter(t, dir), nodeLimiter(t, dir)
	attacker := netip.MustParseAddr("2001:db8::1")
	for i := range limits.DefaultBlockAfterIP {
		(map[bool]*limits.AuthLimiter{true: a, false: b})[i%2 == 0].Failed(context.Background(), attacker, "user"+strconv.Itoa(i)+"@example.test")
	}
	// Same /64, another account: refused on both nodes.
	for name, l := range map[string]*limits.AuthLimiter{"A": a, "B": b} {
		if l.Check(context.Background(), netip.MustParseAddr("2001:db8::99"), "new@example.test") {
			t.Errorf("%s lets a client in after %d failures from its /64 spread over two nodes", name, limits.DefaultBlockAfterIP)
		}
	}
	if !b.Check(context.Background(), netip.MustParseAddr("192.0.2.1"), "new@example.test") {
		t.Error("B blocks another address")
	}
}

func TestOldFailuresAreRemoved(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := Open(context.Background(), st, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	if err := fs.Record(ctx, "192.0.2.1", "a@example.test", old); err != nil {
		t.Fatal(err)
	}
	if err := fs.Record(ctx, "192.0.2.1", "a@example.test", time.Now()); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := st.ReadDB(ctx).Model(&failureRow{}).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want the recent failure only", n, err)
	}
	ipN, accountN, err := fs.Counts(ctx, "", "a@example.test", old.Add(-time.Minute))
	if err != nil || ipN != 0 || accountN != 1 {
		t.Fatalf("Counts without an IP: %d %d %v, want 0 1", ipN, accountN, err)
	}
}

func TestSendRateHoldsAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*SendRates
	for range 2 {
		st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sr, err := OpenSendRates(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, sr)
	}
	ctx := context.Background()
	now := time.Now()
	since := now.Add(-time.Hour)
	// 6 on node A and 4 on node B fill a budget of 10.
	if ok, err := nodes[0].Reserve(ctx, 7, 6, now, since, 10); !ok || err != nil {
		t.Fatalf("A: %v %v", ok, err)
	}
	at := now.Add(time.Millisecond)
	if ok, err := nodes[1].Reserve(ctx, 7, 4, at, since, 10); !ok || err != nil {
		t.Fatalf("B: %v %v", ok, err)
	}
	if ok, err := nodes[0].Reserve(ctx, 7, 1, now.Add(2*time.Millisecond), since, 10); ok || err != nil {
		t.Fatalf("A lets one more through after 10 on two nodes: %v %v", ok, err)
	}
	if n, err := nodes[0].Count(ctx, 7, since); n != 10 || err != nil {
		t.Fatalf("count %d %v, want 10", n, err)
	}
	// B gives back 3 (a message not sent after all): A has room again.
	if err := nodes[1].Release(ctx, 7, 3, at); err != nil {
		t.Fatal(err)
	}
	if ok, err := nodes[0].Reserve(ctx, 7, 3, now.Add(3*time.Millisecond), since, 10); !ok || err != nil {
		t.Fatalf("A after B's release: %v %v", ok, err)
	}
	// Another user has a budget of their own; an hour later it is free.
	if ok, _ := nodes[1].Reserve(ctx, 8, 10, now, since, 10); !ok {
		t.Fatal("another user's budget is taken")
	}
	if ok, _ := nodes[1].Reserve(ctx, 7, 10, now.Add(time.Hour+time.Second), now.Add(time.Second), 10); !ok {
		t.Fatal("the budget is not free an hour later")
	}
}

// TestFailureOfAHungUpClientCounts: a client that hangs up right after a
// wrong password (its session's context ended) still has the failure
// recorded where the other nodes see it.
func TestFailureOfAHungUpClientCounts(t *testing.T) {
	dir := t.TempDir()
	a, b := nodeLimiter(t, dir), nodeLimiter(t, dir)
	attacker := netip.MustParseAddr("192.0.2.8")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for range limits.DefaultBlockAfter {
		a.Failed(gone, attacker, "carol@example.test")
	}
	if b.Check(context.Background(), attacker, "carol@example.test") {
		t.Fatalf("B lets the account in after %d failures on A by clients that hung up", limits.DefaultBlockAfter)
	}
}

// writeCounter is the store's database, counting write transactions.
type writeCounter struct {
	Database
	writes atomic.Int64
}

func (w *writeCounter) WriteTx(ctx context.Context, bodies bool, fn func(tx *gorm.DB, afterCommit func(func())) error) error {
	w.writes.Add(1)
	return w.Database.WriteTx(ctx, bodies, fn)
}

// TestForgiveWritesOnlyAfterFailures: a login with no failures to forgive
// costs no write transaction; one after a failure does, and ends its count.
func TestForgiveWritesOnlyAfterFailures(t *testing.T) {
	dir := t.TempDir()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	wc := &writeCounter{Database: st}
	fs, err := Open(context.Background(), wc, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := fs.Forgive(ctx, "192.0.2.1", "erin@example.test"); err != nil {
		t.Fatal(err)
	}
	if n := wc.writes.Load(); n != 0 {
		t.Fatalf("a login with nothing to forgive made %d write transactions", n)
	}
	if err := fs.Record(ctx, "192.0.2.1", "erin@example.test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := fs.Forgive(ctx, "192.0.2.1", "erin@example.test"); err != nil {
		t.Fatal(err)
	}
	if n := wc.writes.Load(); n != 2 {
		t.Fatalf("record and forgive made %d write transactions, want 2", n)
	}
	if ipN, acctN, err := fs.Counts(ctx, "192.0.2.1", "erin@example.test", time.Now().Add(-time.Hour)); err != nil || ipN != 0 || acctN != 0 {
		t.Fatalf("after forgiving: ip %d, account %d, err %v", ipN, acctN, err)
	}
}
