package limits

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestAuthLimiter(cfg AuthLimiterConfig) (*AuthLimiter, *fakeClock) {
	l := NewAuthLimiter(cfg)
	clk := newFakeClock()
	l.now = clk.now
	return l, clk
}

// op is one step of a table-driven AuthLimiter scenario.
type op struct {
	do   string // "fail", "fail-ips", "fail-accounts", "succeed", "check", "delay", "advance"
	ip   string
	acct string
	n    int           // fail*: repetitions (default 1)
	d    time.Duration // advance: how much; delay: expected delay
	want bool          // check: expected result
}

func fail(ip, acct string, n int) op { return op{do: "fail", ip: ip, acct: acct, n: n} }
func check(ip, acct string, want bool) op {
	return op{do: "check", ip: ip, acct: acct, want: want}
}
func delay(ip, acct string, d time.Duration) op { return op{do: "delay", ip: ip, acct: acct, d: d} }
func advance(d time.Duration) op                { return op{do: "advance", d: d} }

func parseIP(t *testing.T, s string) netip.Addr {
	t.Helper()
	if s == "" {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("bad test address %q: %v", s, err)
	}
	return ip
}

// nthIP returns a distinct address for i, within 198.18.0.0/15 for IPv4 or
// the given IPv6 /64 prefix (e.g. "2001:db8:1:2").
func nthIP(base string, i int) string {
	if strings.Contains(base, ":") {
		return fmt.Sprintf("%s::%x", base, i+1)
	}
	return fmt.Sprintf("198.%d.%d.%d", 18+(i>>16)&1, (i>>8)&0xff, i&0xff)
}

func runOps(t *testing.T, l *AuthLimiter, clk *fakeClock, ops []op) {
	t.Helper()
	for i, o := range ops {
		n := max(o.n, 1)
		switch o.do {
		case "fail":
			for range n {
				l.Failed(context.Background(), parseIP(t, o.ip), o.acct)
			}
		case "fail-ips": // n failures for acct from n distinct addresses derived from o.ip
			for j := range n {
				l.Failed(context.Background(), parseIP(t, nthIP(o.ip, j)), o.acct)
			}
		case "fail-accounts": // n failures from ip for n distinct accounts
			for j := range n {
				l.Failed(context.Background(), parseIP(t, o.ip), fmt.Sprintf("user%d@example.com", j))
			}
		case "succeed":
			l.Succeeded(context.Background(), parseIP(t, o.ip), o.acct)
		case "check":
			if got := l.Check(context.Background(), parseIP(t, o.ip), o.acct); got != o.want {
				t.Fatalf("step %d: Check(%q, %q) = %v, want %v", i, o.ip, o.acct, got, o.want)
			}
		case "delay":
			if got := l.Delay(context.Background(), parseIP(t, o.ip), o.acct); got != o.d {
				t.Fatalf("step %d: Delay(%q, %q) = %v, want %v", i, o.ip, o.acct, got, o.d)
			}
		case "advance":
			clk.advance(o.d)
		default:
			t.Fatalf("step %d: unknown op %q", i, o.do)
		}
	}
}

func TestAuthLimiterBlocking(t *testing.T) {
	const (
		ip1   = "192.0.2.1"
		ip2   = "192.0.2.2"
		alice = "alice@example.com"
		bob   = "bob@example.com"
		w     = DefaultAuthWindow
	)
	tests := []struct {
		name string
		cfg  AuthLimiterConfig
		ops  []op
	}{
		{"fresh limiter allows", AuthLimiterConfig{}, []op{
			check(ip1, alice, true),
		}},
		{"account blocked after BlockAfter failures", AuthLimiterConfig{}, []op{
			fail(ip1, alice, 9),
			check(ip1, alice, true),
			fail(ip1, alice, 1),
			check(ip1, alice, false),
			check(ip2, alice, false),
			check(ip1, bob, true),
			check(ip2, bob, true),
		}},
		{"account blocked even from distinct IPs", AuthLimiterConfig{}, []op{
			{do: "fail-ips", ip: "203.0.113.0", acct: alice, n: 10},
			check(ip1, alice, false),
			check(ip1, bob, true),
		}},
		{"account names are case-insensitive", AuthLimiterConfig{}, []op{
			fail(ip1, "Alice@Example.COM", 10),
			check(ip2, " alice@example.com", false),
		}},
		{"IP blocked after BlockAfterIP failures", AuthLimiterConfig{}, []op{
			{do: "fail-accounts", ip: ip1, n: 29},
			check(ip1, alice, true),
			{do: "fail-accounts", ip: ip1, n: 1},
			check(ip1, alice, false),
			check(ip1, "", false),
			check(ip2, alice, true),
		}},
		{"IPv4-mapped IPv6 is the IPv4 address", AuthLimiterConfig{BlockAfterIP: 2}, []op{
			{do: "fail-accounts", ip: "::ffff:192.0.2.1", n: 2},
			check(ip1, alice, false),
		}},
		{"IPv6 grouped by /64", AuthLimiterConfig{BlockAfterIP: 5}, []op{
			{do: "fail-ips", ip: "2001:db8:1:2", acct: "", n: 5},
			check("2001:db8:1:2:ffff::1", alice, false),
			check("2001:db8:1:3::1", alice, true),
		}},
		{"IPv6 per address with prefix 128", AuthLimiterConfig{BlockAfterIP: 5, IPv6Prefix: 128}, []op{
			{do: "fail-ips", ip: "2001:db8:1:2", acct: "", n: 5},
			check("2001:db8:1:2:ffff::1", alice, true),
			fail("2001:db8:1:2::9", "", 5),
			check("2001:db8:1:2::9", alice, false),
		}},
		{"custom BlockAfter", AuthLimiterConfig{BlockAfter: 2}, []op{
			fail(ip1, alice, 1),
			check(ip1, alice, true),
			fail(ip2, alice, 1),
			check(ip1, alice, false),
		}},
		{"success clears account and IP", AuthLimiterConfig{BlockAfter: 3, BlockAfterIP: 3}, []op{
			fail(ip1, alice, 3),
			check(ip1, bob, false),
			check(ip2, alice, false),
			{do: "succeed", ip: ip1, acct: alice},
			check(ip1, alice, true),
			check(ip1, bob, true),
			check(ip2, alice, true),
		}},
		{"every spelling of an address counts against its canonical form", AuthLimiterConfig{BlockAfter: 4}, []op{
			fail(ip1, "alice@example.com.", 1),
			fail(ip1, "alice@ｅxample.com", 1),
			fail(ip2, "alice@𝐞xample.com", 1),
			fail(ip2, "ALICE@EXAMPLE.COM", 1),
			check(ip1, alice, false),
			check(ip1, "alice@ｅｘａｍｐｌｅ.ｃｏｍ", false),
			check(ip1, bob, true),
		}},
		{"a success forgives the IP only its failures against that account", AuthLimiterConfig{BlockAfter: 100, BlockAfterIP: 4}, []op{
			fail(ip1, alice, 3),
			fail(ip1, bob, 1),
			{do: "succeed", ip: ip1, acct: bob},
			check(ip1, alice, true),
			fail(ip1, alice, 1),
			check(ip1, alice, false),
			check(ip1, bob, false),
		}},
		{"success clears only its own account and IP", AuthLimiterConfig{BlockAfter: 3, BlockAfterIP: 100}, []op{
			fail(ip1, alice, 3),
			fail(ip2, bob, 3),
			{do: "succeed", ip: ip1, acct: alice},
			check(ip2, bob, false),
		}},
		{"empty account and invalid IP are not counted", AuthLimiterConfig{BlockAfter: 1, BlockAfterIP: 1}, []op{
			fail("", "", 5),
			fail("", alice, 1),
			check(ip1, bob, true),
			check("", alice, false),
			fail(ip1, "", 1),
			check(ip1, bob, false),
			check("", "", true),
		}},
		{"block lifts after the window", AuthLimiterConfig{}, []op{
			fail(ip1, alice, 10),
			advance(w / 2),
			check(ip1, alice, false),
			advance(w/2 - time.Second),
			check(ip1, alice, false),
			advance(2 * time.Second), // all failures are now older than the window
			check(ip1, alice, true),
			fail(ip1, alice, 1), // previous failures still weigh in at first
			check(ip1, alice, false),
			advance(w),
			check(ip1, alice, true),
		}},
		{"previous window's failures decay linearly", AuthLimiterConfig{}, []op{
			fail(ip1, alice, 5),
			advance(w - time.Minute),
			fail(ip1, alice, 5), // 10 within the window
			check(ip1, alice, false),
			advance(2 * time.Minute), // 10 weighted by 14/15 = 9.33
			check(ip1, alice, true),
			fail(ip1, alice, 1), // 1 + 9.33
			check(ip1, alice, false),
			advance(20 * time.Second), // 1 + 10*(13m40s/15m) = 10.11
			check(ip1, alice, false),
			advance(40 * time.Second), // 1 + 10*13/15 = 9.67
			check(ip1, alice, true),
			advance(13 * time.Minute), // only the last failure is left
			check(ip1, alice, true),
			fail(ip1, alice, 8),
			check(ip1, alice, true),
			fail(ip1, alice, 1),
			check(ip1, alice, false),
		}},
		{"more failures block for longer", AuthLimiterConfig{}, []op{
			fail(ip1, alice, 20),
			advance(w + w/2 - time.Second), // 20 * (w/2+1s)/w > 10
			check(ip1, alice, false),
			advance(2 * time.Second),
			check(ip1, alice, true),
		}},
		{"everything forgotten after two windows", AuthLimiterConfig{}, []op{
			fail(ip1, alice, 100),
			advance(2 * w),
			check(ip1, alice, true),
			delay(ip1, alice, 0),
		}},
		{"custom window", AuthLimiterConfig{Window: time.Minute, BlockAfter: 2}, []op{
			fail(ip1, alice, 2),
			check(ip1, alice, false),
			advance(2 * time.Minute),
			check(ip1, alice, true),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newTestAuthLimiter(tt.cfg)
			runOps(t, l, clk, tt.ops)
		})
	}
}

func TestAuthLimiterDelay(t *testing.T) {
	const ip, acct = "192.0.2.1", "alice@example.com"
	ms := time.Millisecond
	tests := []struct {
		name     string
		cfg      AuthLimiterConfig
		failures int
		want     time.Duration
	}{
		{"none", AuthLimiterConfig{}, 0, 0},
		{"1", AuthLimiterConfig{}, 1, 0},
		{"3 free", AuthLimiterConfig{}, 3, 0},
		{"4", AuthLimiterConfig{}, 4, 250 * ms},
		{"5", AuthLimiterConfig{}, 5, 500 * ms},
		{"6", AuthLimiterConfig{}, 6, time.Second},
		{"7", AuthLimiterConfig{}, 7, 2 * time.Second},
		{"8", AuthLimiterConfig{}, 8, 4 * time.Second},
		{"9 capped", AuthLimiterConfig{}, 9, 5 * time.Second},
		{"1000 capped", AuthLimiterConfig{}, 1000, 5 * time.Second},
		{"no free failures", AuthLimiterConfig{FreeFailures: -1}, 1, 250 * ms},
		{"one free failure", AuthLimiterConfig{FreeFailures: 1}, 2, 250 * ms},
		{"custom max", AuthLimiterConfig{MaxDelay: 300 * ms}, 5, 300 * ms},
		{"max below first delay", AuthLimiterConfig{MaxDelay: 100 * ms}, 4, 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newTestAuthLimiter(tt.cfg)
			runOps(t, l, clk, []op{
				fail(ip, acct, tt.failures),
				delay(ip, acct, tt.want),
			})
		})
	}
}

func TestAuthLimiterDelayUsesWorseOfIPAndAccount(t *testing.T) {
	l, clk := newTestAuthLimiter(AuthLimiterConfig{})
	runOps(t, l, clk, []op{
		{do: "fail-accounts", ip: "192.0.2.1", n: 5}, // IP: 5 failures, each account 1
		delay("192.0.2.1", "new@example.com", 500*time.Millisecond),
		delay("192.0.2.2", "user0@example.com", 0),
		{do: "fail-ips", ip: "203.0.113.0", acct: "bob", n: 6}, // account: 6 failures
		delay("192.0.2.3", "BOB", time.Second),
	})
}

func TestAuthLimiterConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   AuthLimiterConfig
		want AuthLimiterConfig
	}{
		{"zero", AuthLimiterConfig{}, AuthLimiterConfig{
			Window: 15 * time.Minute, FreeFailures: 3, MaxDelay: 5 * time.Second,
			BlockAfter: 10, BlockAfterIP: 30, IPv6Prefix: 64, MaxEntries: 100_000,
		}},
		{"negative", AuthLimiterConfig{Window: -1, FreeFailures: -5, MaxDelay: -1, BlockAfter: -1, BlockAfterIP: -1, IPv6Prefix: -1, MaxEntries: -1}, AuthLimiterConfig{
			Window: 15 * time.Minute, FreeFailures: 0, MaxDelay: 5 * time.Second,
			BlockAfter: 10, BlockAfterIP: 30, IPv6Prefix: 64, MaxEntries: 100_000,
		}},
		{"custom", AuthLimiterConfig{Window: time.Hour, FreeFailures: 1, MaxDelay: time.Second, BlockAfter: 5, BlockAfterIP: 50, IPv6Prefix: 200, MaxEntries: 10}, AuthLimiterConfig{
			Window: time.Hour, FreeFailures: 1, MaxDelay: time.Second,
			BlockAfter: 5, BlockAfterIP: 50, IPv6Prefix: 128, MaxEntries: 10,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Fatalf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAuthLimiterMemoryBounded(t *testing.T) {
	const maxEntries = 100
	l, clk := newTestAuthLimiter(AuthLimiterConfig{MaxEntries: maxEntries, BlockAfter: 1, BlockAfterIP: 1})

	// A victim fails first, then an attacker sprays many distinct IPs and
	// accounts.
	runOps(t, l, clk, []op{fail("192.0.2.1", "victim", 1)})
	for i := range 10_000 {
		clk.advance(time.Millisecond)
		l.Failed(context.Background(), netip.MustParseAddr(nthIP("10.0.0.0", i)), fmt.Sprintf("spray%d@%s", i, strings.Repeat("x", 1000)))
	}
	if n := l.ips.order.Len(); n != maxEntries || len(l.ips.byKey) != maxEntries {
		t.Fatalf("IP table holds %d/%d entries, want %d", n, len(l.ips.byKey), maxEntries)
	}
	if n := l.accounts.order.Len(); n != maxEntries || len(l.accounts.byKey) != maxEntries {
		t.Fatalf("account table holds %d/%d entries, want %d", n, len(l.accounts.byKey), maxEntries)
	}
	for k := range l.accounts.byKey {
		if len(k) > maxAccountKeyLen {
			t.Fatalf("account key of %d bytes stored", len(k))
		}
	}
	// The oldest entries were evicted, the most recent ones kept.
	runOps(t, l, clk, []op{
		check("192.0.2.1", "victim", true),
		check(nthIP("10.0.0.0", 9_999), "", false),
		check(nthIP("10.0.0.0", 0), "", true),
	})

	// Everything expires eventually and is pruned lazily.
	clk.advance(2 * DefaultAuthWindow)
	l.Check(context.Background(), netip.Addr{}, "")
	if l.ips.order.Len() != 0 || len(l.ips.byKey) != 0 || l.accounts.order.Len() != 0 || len(l.accounts.byKey) != 0 {
		t.Fatalf("expired entries not pruned: %d IPs, %d accounts", l.ips.order.Len(), l.accounts.order.Len())
	}
}

func TestAuthLimiterPruneKeepsRecent(t *testing.T) {
	l, clk := newTestAuthLimiter(AuthLimiterConfig{BlockAfter: 1})
	l.Failed(context.Background(), netip.Addr{}, "old")
	clk.advance(DefaultAuthWindow)
	l.Failed(context.Background(), netip.Addr{}, "recent")
	clk.advance(DefaultAuthWindow)
	l.Check(context.Background(), netip.Addr{}, "")
	if _, ok := l.accounts.byKey["old"]; ok {
		t.Fatal("expired entry kept")
	}
	if _, ok := l.accounts.byKey["recent"]; !ok {
		t.Fatal("recent entry pruned")
	}
}

func TestFailureCounterClockBackwards(t *testing.T) {
	l, clk := newTestAuthLimiter(AuthLimiterConfig{BlockAfter: 2})
	runOps(t, l, clk, []op{
		fail("", "alice", 2),
		advance(-time.Hour),
		check("", "alice", false),
		fail("", "alice", 1),
		check("", "alice", false),
	})
}

func TestAuthLimiterConcurrent(t *testing.T) {
	l := NewAuthLimiter(AuthLimiterConfig{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				ip := netip.MustParseAddr(nthIP("10.0.0.0", (g*2000+i)%300))
				acct := fmt.Sprintf("user%d", i%70)
				if l.Check(context.Background(), ip, acct) {
					l.Failed(context.Background(), ip, acct)
				}
				_ = l.Delay(context.Background(), ip, acct)
				if i%97 == 0 {
					l.Succeeded(context.Background(), ip, acct)
				}
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ips.order.Len() > 50 || l.accounts.order.Len() > 50 {
		t.Fatalf("tables over capacity: %d IPs, %d accounts", l.ips.order.Len(), l.accounts.order.Len())
	}
	if l.ips.order.Len() != len(l.ips.byKey) || l.accounts.order.Len() != len(l.accounts.byKey) {
		t.Fatal("list and map out of sync")
	}
}

// TestAuthLimiterPenalize checks that Penalize counts the failure and
// waits no longer than its context allows.
func TestAuthLimiterPenalize(t *testing.T) {
	l := NewAuthLimiter(AuthLimiterConfig{FreeFailures: 0, MaxDelay: time.Hour, BlockAfter: 2})
	ip := netip.MustParseAddr("192.0.2.1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	l.Penalize(ctx, ip, "ann@example.com")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Penalize waited %v past its context", d)
	}
	l.Penalize(ctx, ip, "ann@example.com") // ctx is done: returns at once
	if l.Check(context.Background(), ip, "ann@example.com") {
		t.Error("two penalized failures did not block the account (BlockAfter 2)")
	}
}

// ctxStore is a FailureStore that refuses calls whose context has ended,
// as a database driver does.
type ctxStore struct {
	mu       sync.Mutex
	failures int
}

func (s *ctxStore) Record(ctx context.Context, ip, account string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.failures++
	s.mu.Unlock()
	return nil
}

func (s *ctxStore) Counts(ctx context.Context, ip, account string, since time.Time) (int, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures, s.failures, nil
}

func (s *ctxStore) Forgive(ctx context.Context, ip, account string) error { return ctx.Err() }

// TestSharedRecordOutlivesTheSession: the failure of a client that hung up
// (its context ended) still reaches the shared store.
func TestSharedRecordOutlivesTheSession(t *testing.T) {
	st := &ctxStore{}
	l := NewAuthLimiter(AuthLimiterConfig{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	l.Failed(gone, netip.MustParseAddr("192.0.2.9"), "dave@example.test")
	if st.failures != 1 {
		t.Fatalf("the shared store holds %d failures, want 1", st.failures)
	}
}
