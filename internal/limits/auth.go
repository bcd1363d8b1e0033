package limits

import (
	"container/list"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/yubinmail/yubin/core"
)

// Defaults for AuthLimiterConfig fields left at zero.
const (
	DefaultAuthWindow     = 15 * time.Minute
	DefaultFreeFailures   = 3
	DefaultMaxDelay       = 5 * time.Second
	DefaultBlockAfter     = 10
	DefaultBlockAfterIP   = 30
	DefaultIPv6Prefix     = 64
	DefaultMaxAuthEntries = 100_000
)

const (
	firstDelay       = 250 * time.Millisecond // first non-zero delay returned by Delay
	maxAccountKeyLen = 320                    // longer names are truncated; no valid address is that long
	expiryWindows    = 2                      // a counter is empty 2 windows after its last failure
)

// AuthLimiterConfig configures an AuthLimiter. Zero values select the
// defaults documented on each field.
type AuthLimiterConfig struct {
	// Window is the period over which failures are counted. Default 15
	// minutes. The count approximates a sliding window with two buckets of
	// one Window each: failures in the current bucket count fully, those in
	// the previous one with a weight that decreases linearly to zero over
	// the current bucket. A burst of failures is thus forgotten one to two
	// windows later (the larger the burst, the later).
	Window time.Duration
	// FreeFailures is the number of failures in Window before Delay starts
	// returning non-zero delays. Default 3; a negative value means none.
	FreeFailures int
	// MaxDelay caps the delay returned by Delay. Default 5 seconds.
	MaxDelay time.Duration
	// BlockAfter is the number of failures for one account in Window after
	// which Check refuses further attempts on that account. Default 10.
	BlockAfter int
	// BlockAfterIP is the number of failures from one IP address (or IPv6
	// prefix, see IPv6Prefix) in Window after which Check refuses further
	// attempts from it. Default 30.
	BlockAfterIP int
	// IPv6Prefix is the prefix length by which IPv6 addresses are grouped,
	// since a single client usually controls at least a /64. Default 64;
	// 128 counts each IPv6 address separately. IPv4 addresses are always
	// counted individually.
	IPv6Prefix int
	// MaxEntries caps the number of tracked IP addresses and, separately,
	// the number of tracked accounts. When full, the entry with the oldest
	// failure is evicted. Default 100000.
	MaxEntries int
	// Store, if set, keeps the failures where every node on a shared
	// database sees them (see FailureStore): Check and Delay go by its
	// counts. Each node keeps its own counts as well, which apply when
	// the store fails.
	Store FailureStore
	// Logger receives the Store's failures; nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns cfg with zero (or out of range) fields replaced by
// their defaults.
func (cfg AuthLimiterConfig) withDefaults() AuthLimiterConfig {
	if cfg.Window <= 0 {
		cfg.Window = DefaultAuthWindow
	}
	switch {
	case cfg.FreeFailures == 0:
		cfg.FreeFailures = DefaultFreeFailures
	case cfg.FreeFailures < 0:
		cfg.FreeFailures = 0
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.BlockAfter <= 0 {
		cfg.BlockAfter = DefaultBlockAfter
	}
	if cfg.BlockAfterIP <= 0 {
		cfg.BlockAfterIP = DefaultBlockAfterIP
	}
	if cfg.IPv6Prefix <= 0 {
		cfg.IPv6Prefix = DefaultIPv6Prefix
	}
	cfg.IPv6Prefix = min(cfg.IPv6Prefix, 128)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxAuthEntries
	}
	return cfg
}

// AuthLimiter slows down and then blocks repeated failed logins per IP
// address and per account. Accounts are counted under their canonical
// name, the one the mailstore looks them up by (core.NormalizeAddress:
// lower case, IDNA mapping of the domain, so fullwidth or mathematical
// letters and a trailing dot name the same account), so that no other
// spelling of an address escapes its count.
//
// Typical use by a protocol server:
//
//	if !l.Check(ctx, ip, user) {
//		// refuse without checking the password
//	}
//	if !passwordOK {
//		l.Failed(ctx, ip, user)
//		time.Sleep(l.Delay(ctx, ip, user)) // or a context-aware wait
//		// answer with a failure
//	} else {
//		l.Succeeded(ctx, ip, user)
//	}
//
// Memory is bounded by AuthLimiterConfig.MaxEntries; expired entries are
// removed lazily, so no background goroutine is used and nothing needs to be
// closed. It is safe for concurrent use.
type AuthLimiter struct {
	cfg AuthLimiterConfig
	now func() time.Time // injectable clock for tests

	mu       sync.Mutex
	ips      failureTable[netip.Addr]
	accounts failureTable[string]
	// pairs counts the failures of one IP address against one account, so
	// that a success forgives the IP address only the failures it made
	// against that account, not those against others.
	pairs failureTable[pairKey]
}

// pairKey names the failures of one IP address (or IPv6 prefix) against
// one account.
type pairKey struct {
	ip      netip.Addr
	account string
}

// NewAuthLimiter returns an AuthLimiter configured by cfg.
func NewAuthLimiter(cfg AuthLimiterConfig) *AuthLimiter {
	cfg = cfg.withDefaults()
	return &AuthLimiter{
		cfg:      cfg,
		now:      time.Now,
		ips:      newFailureTable[netip.Addr](cfg.MaxEntries),
		accounts: newFailureTable[string](cfg.MaxEntries),
		pairs:    newFailureTable[pairKey](cfg.MaxEntries),
	}
}

// Check reports whether a login attempt from ip for account may proceed.
// When it returns false the attempt must be refused without checking the
// password. An empty account or an invalid ip is not checked.
func (l *AuthLimiter) Check(ctx context.Context, ip netip.Addr, account string) bool {
	if ipN, accountN, ok := l.sharedCounts(ctx, ip, account); ok {
		return ipN < float64(l.cfg.BlockAfterIP) && accountN < float64(l.cfg.BlockAfter)
	}
	return l.checkLocal(ip, account)
}

// checkLocal is Check on this node's own counts.
func (l *AuthLimiter) checkLocal(ip netip.Addr, account string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if k, ok := l.ipKey(ip); ok && l.ips.count(k, now, l.cfg.Window) >= float64(l.cfg.BlockAfterIP) {
		return false
	}
	if k, ok := accountKey(account); ok && l.accounts.count(k, now, l.cfg.Window) >= float64(l.cfg.BlockAfter) {
		return false
	}
	return true
}

// Delay returns how long to wait before answering a failed login from ip for
// account. It is meant to be called after Failed: it is 0 while neither the
// account nor the IP address has more than FreeFailures failures in the
// window, then 250ms, doubling with each further failure up to MaxDelay.
func (l *AuthLimiter) Delay(ctx context.Context, ip netip.Addr, account string) time.Duration {
	now := l.now()
	l.mu.Lock()
	var n float64
	if k, ok := l.ipKey(ip); ok {
		n = l.ips.count(k, now, l.cfg.Window)
	}
	if k, ok := accountKey(account); ok {
		n = max(n, l.accounts.count(k, now, l.cfg.Window))
	}
	l.mu.Unlock()
	if ipN, accountN, ok := l.sharedCounts(ctx, ip, account); ok {
		n = max(ipN, accountN)
	}

	excess := int(n) - l.cfg.FreeFailures
	if excess <= 0 {
		return 0
	}
	d := firstDelay
	for i := 1; i < excess && d < l.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// Failed records a failed login from ip for account. An empty account or an
// invalid ip is not recorded.
func (l *AuthLimiter) Failed(ctx context.Context, ip netip.Addr, account string) {
	l.failedLocal(ip, account)
	l.sharedRecord(ctx, ip, account, false)
}

// failedLocal is Failed on this node's own counts.
func (l *AuthLimiter) failedLocal(ip netip.Addr, account string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	ik, ipOK := l.ipKey(ip)
	ak, accountOK := accountKey(account)
	if ipOK {
		l.ips.add(ik, now, l.cfg.Window)
	}
	if accountOK {
		l.accounts.add(ak, now, l.cfg.Window)
	}
	if ipOK && accountOK {
		l.pairs.add(pairKey{ik, ak}, now, l.cfg.Window)
	}
}

// Penalize records a failed login (Failed) and then waits the delay it
// earns (Delay), or until ctx ends: what a protocol server does before it
// answers a wrong password.
func (l *AuthLimiter) Penalize(ctx context.Context, ip netip.Addr, account string) {
	l.Failed(ctx, ip, account)
	d := l.Delay(ctx, ip, account)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Succeeded records a successful login from ip for account: the failures
// of the account are forgotten, and so are the IP address's failures
// against this account. Its failures against other accounts still count: a
// login to an account of one's own must not reset a guessing attack on
// someone else's.
func (l *AuthLimiter) Succeeded(ctx context.Context, ip netip.Addr, account string) {
	l.sharedRecord(ctx, ip, account, true)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ak, accountOK := accountKey(account)
	if !accountOK {
		return
	}
	l.accounts.remove(ak)
	ik, ipOK := l.ipKey(ip)
	if !ipOK {
		return
	}
	pk := pairKey{ik, ak}
	forgiven := l.pairs.count(pk, now, l.cfg.Window)
	l.pairs.remove(pk)
	l.ips.subtract(ik, uint32(forgiven), now, l.cfg.Window)
}

// prune drops counters that have fully decayed. l.mu must be held.
func (l *AuthLimiter) prune(now time.Time) {
	ttl := expiryWindows * l.cfg.Window
	l.ips.prune(now, ttl)
	l.accounts.prune(now, ttl)
	l.pairs.prune(now, ttl)
}

// ipKey returns the counter key of ip: the address itself for IPv4, its
// prefix for IPv6.
func (l *AuthLimiter) ipKey(ip netip.Addr) (netip.Addr, bool) {
	ip = normalizeAddr(ip)
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() && l.cfg.IPv6Prefix < 128 {
		p, err := ip.Prefix(l.cfg.IPv6Prefix)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = p.Addr()
	}
	return ip, true
}

// accountKey returns the counter key of account: its canonical form, so
// that every spelling the mailstore accepts for an account counts against
// that account, truncated so that an attacker cannot make the limiter store
// huge keys.
func accountKey(account string) (string, bool) {
	account = strings.TrimSpace(account)
	if account == "" {
		return "", false
	}
	if len(account) > 4*maxAccountKeyLen {
		account = account[:4*maxAccountKeyLen]
	}
	account = CanonicalAccount(account)
	if len(account) > maxAccountKeyLen {
		account = account[:maxAccountKeyLen]
	}
	return account, true
}

// CanonicalAccount returns the canonical spelling of a login name: for an
// address, the form the mailstore stores and looks it up by
// (core.NormalizeAddress); for anything else, its NFKC compatibility form
// in lower case without a trailing dot, so that fullwidth or mathematical
// letters and case name the same thing.
func CanonicalAccount(name string) string {
	if a, err := core.NormalizeAddress(name); err == nil {
		return a
	}
	return strings.TrimRight(strings.ToLower(norm.NFKC.String(name)), ".")
}

// failureCounter counts failures for one key in two consecutive buckets of
// one window each; the count over the last window is approximated by
// weighting the previous bucket by how much of it still overlaps the window.
type failureCounter[K comparable] struct {
	key   K
	start time.Time // start of the current bucket
	last  time.Time // time of the last failure
	cur   uint32    // failures in the current bucket
	prev  uint32    // failures in the previous bucket
}

// count returns the approximate number of failures in the window ending at
// now.
func (c *failureCounter[K]) count(now time.Time, window time.Duration) float64 {
	elapsed := now.Sub(c.start)
	cur, prev := c.cur, c.prev
	switch {
	case elapsed >= 2*window:
		return 0
	case elapsed >= window:
		cur, prev = 0, cur
		elapsed -= window
	case elapsed < 0: // clock went backwards
		elapsed = 0
	}
	return float64(cur) + float64(prev)*float64(window-elapsed)/float64(window)
}

// roll moves the counter's buckets forward so that the current one holds
// now.
func (c *failureCounter[K]) roll(now time.Time, window time.Duration) {
	switch elapsed := now.Sub(c.start); {
	case elapsed >= 2*window:
		c.start, c.cur, c.prev = now, 0, 0
	case elapsed >= window:
		c.start, c.cur, c.prev = c.start.Add(window), 0, c.cur
	}
}

// add records one failure at now.
func (c *failureCounter[K]) add(now time.Time, window time.Duration) {
	c.roll(now, window)
	if c.cur < ^uint32(0) {
		c.cur++
	}
	c.last = now
}

// failureTable holds failure counters by key, bounded in size, ordered by
// the time of their last failure (most recent first).
type failureTable[K comparable] struct {
	max   int
	byKey map[K]*list.Element // values are *failureCounter[K]
	order *list.List
}

func newFailureTable[K comparable](maxEntries int) failureTable[K] {
	return failureTable[K]{
		max:   maxEntries,
		byKey: make(map[K]*list.Element),
		order: list.New(),
	}
}

func (t *failureTable[K]) count(k K, now time.Time, window time.Duration) float64 {
	e, ok := t.byKey[k]
	if !ok {
		return 0
	}
	return e.Value.(*failureCounter[K]).count(now, window)
}

func (t *failureTable[K]) add(k K, now time.Time, window time.Duration) {
	if e, ok := t.byKey[k]; ok {
		e.Value.(*failureCounter[K]).add(now, window)
		t.order.MoveToFront(e)
		return
	}
	for t.order.Len() >= t.max {
		t.removeElement(t.order.Back())
	}
	c := &failureCounter[K]{key: k, start: now}
	c.add(now, window)
	t.byKey[k] = t.order.PushFront(c)
}

// subtract takes n failures away from k's counter, the most recent first;
// a counter left empty is removed.
func (t *failureTable[K]) subtract(k K, n uint32, now time.Time, window time.Duration) {
	e, ok := t.byKey[k]
	if !ok || n == 0 {
		return
	}
	c := e.Value.(*failureCounter[K])
	c.roll(now, window)
	take := min(n, c.cur)
	c.cur -= take
	c.prev -= min(n-take, c.prev)
	if c.cur == 0 && c.prev == 0 {
		t.removeElement(e)
	}
}

func (t *failureTable[K]) remove(k K) {
	if e, ok := t.byKey[k]; ok {
		t.removeElement(e)
	}
}

func (t *failureTable[K]) removeElement(e *list.Element) {
	c := t.order.Remove(e).(*failureCounter[K])
	delete(t.byKey, c.key)
}

// prune removes the counters whose last failure is at least ttl old.
func (t *failureTable[K]) prune(now time.Time, ttl time.Duration) {
	for e := t.order.Back(); e != nil; e = t.order.Back() {
		if now.Sub(e.Value.(*failureCounter[K]).last) < ttl {
			return
		}
		t.removeElement(e)
	}
}
