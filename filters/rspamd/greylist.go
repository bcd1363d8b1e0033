package rspamd

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yubinmail/yubin/filters"
)

// Greylisting defaults.
const (
	// DefaultGreylistDelay is how long a greylisted sender must wait
	// before its retry is accepted (rspamd's default timeout).
	DefaultGreylistDelay = 5 * time.Minute
	// DefaultGreylistExpiry is how long a first attempt is remembered: a
	// retry after it counts as a new first attempt (rspamd's default).
	DefaultGreylistExpiry = 24 * time.Hour
	// maxGreylistEntries bounds the memory of first attempts.
	maxGreylistEntries = 100_000
)

// greylistSymbol is the symbol rspamd's greylist module adds when it
// greylists a message itself (with its own memory, in Redis).
const greylistSymbol = "GREYLIST"

// greylist remembers the first delivery attempt of each triplet (the
// client's network, the envelope sender, the recipients), so that only a
// triplet not seen before is deferred and its retry after the delay is
// accepted (RFC 6647). It is safe for concurrent use.
type greylist struct {
	delay, expiry time.Duration
	now           func() time.Time

	mu    sync.Mutex
	first map[string]time.Time
}

func newGreylist(delay, expiry time.Duration, now func() time.Time) *greylist {
	if delay <= 0 {
		delay = DefaultGreylistDelay
	}
	if expiry <= delay {
		expiry = max(DefaultGreylistExpiry, 2*delay)
	}
	if now == nil {
		now = time.Now
	}
	return &greylist{delay: delay, expiry: expiry, now: now, first: make(map[string]time.Time)}
}

// triplet returns the greylisting key of msg: the client's /24 (IPv4) or
// /64 (IPv6), as senders retry from other addresses of their pool, the
// envelope sender and the sorted recipients.
func triplet(msg *filters.Message) string {
	a := msg.Conn.RemoteAddr.Addr().Unmap()
	var network string
	if a.IsValid() {
		bits := 24
		if a.Is6() {
			bits = 64
		}
		p, _ := a.Prefix(bits)
		network = p.String()
	}
	rcpts := slices.Clone(msg.Envelope.Recipients)
	for i := range rcpts {
		rcpts[i] = strings.ToLower(rcpts[i])
	}
	slices.Sort(rcpts)
	return network + "\x00" + strings.ToLower(msg.Envelope.MailFrom) + "\x00" + strings.Join(rcpts, ",")
}

// check records an attempt of msg and reports whether it must be deferred
// (a first attempt, or a retry before the delay), and how long is left.
func (g *greylist) check(msg *filters.Message) (deferred bool, wait time.Duration) {
	key := triplet(msg)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	first, ok := g.first[key]
	if !ok || now.Sub(first) > g.expiry {
		if len(g.first) >= maxGreylistEntries {
			g.sweep(now)
		}
		g.first[key] = now
		return true, g.delay
	}
	if elapsed := now.Sub(first); elapsed < g.delay {
		return true, g.delay - elapsed
	}
	return false, 0
}

// sweep forgets expired attempts, and the oldest half if that is not
// enough. g.mu is held.
func (g *greylist) sweep(now time.Time) {
	for k, t := range g.first {
		if now.Sub(t) > g.expiry {
			delete(g.first, k)
		}
	}
	if len(g.first) < maxGreylistEntries {
		return
	}
	times := make([]time.Time, 0, len(g.first))
	for _, t := range g.first {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	cut := times[len(times)/2]
	for k, t := range g.first {
		if t.Before(cut) {
			delete(g.first, k)
		}
	}
}
