package authn

import (
	"net/netip"
	"sync"
	"time"

	"blitiri.com.ar/go/spf"

	"github.com/yubinmail/yubin/filters"
)

// Bounds of the SPF memo: how long an outcome found at MAIL FROM is reused
// after DATA, and how many outcomes are kept (in two generations of at
// most spfMemoSize/2 each).
const (
	spfMemoTTL  = time.Minute
	spfMemoSize = 4096
)

// spfKey identifies an SPF check: the client address (as the connection
// gave it, port aside), the HELO name and the reverse path, compared
// exactly. Two checks with the same key ask the same question.
type spfKey struct {
	addr       netip.Addr
	helo, from string
}

// spfMemoEntry is a memoized outcome and when it goes stale.
type spfMemoEntry struct {
	outcome spfOutcome
	expires time.Time
}

// spfMemo remembers the SPF outcomes computed at MAIL FROM so that the
// check after DATA of the same identity does not evaluate the policy
// again. It is bounded and safe for concurrent use. Outcomes are kept for
// spfMemoTTL at most; temporary errors are not kept, so that they are
// retried.
//
// It holds two generations of entries: new ones go into cur; when cur is
// full (or older than the TTL) it becomes prev and a fresh cur starts, so
// that memory stays bounded without a per-entry eviction list.
type spfMemo struct {
	mu        sync.Mutex
	now       func() time.Time
	max       int // entries per generation
	cur, prev map[spfKey]spfMemoEntry
	started   time.Time // when cur was started
}

func newSPFMemo(now func() time.Time) *spfMemo {
	return &spfMemo{now: now, max: spfMemoSize / 2}
}

// spfKeyOf returns the memo key of the check of conn sending from from.
func spfKeyOf(conn filters.ConnInfo, from string) spfKey {
	return spfKey{addr: conn.RemoteAddr.Addr(), helo: conn.HELO, from: from}
}

// get returns the unexpired outcome memoized under k.
func (m *spfMemo) get(k spfKey) (spfOutcome, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.cur[k]
	if !ok {
		e, ok = m.prev[k]
	}
	if !ok || !m.now().Before(e.expires) {
		return spfOutcome{}, false
	}
	return e.outcome, true
}

// put memoizes o under k, unless it is a temporary error.
func (m *spfMemo) put(k spfKey, o spfOutcome) {
	if o.result == spf.TempError {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || len(m.cur) >= m.max || now.Sub(m.started) >= spfMemoTTL {
		if m.cur != nil && now.Sub(m.started) < 2*spfMemoTTL {
			// cur may hold unexpired entries: keep it one more
			// generation.
			m.prev = m.cur
		} else {
			m.prev = nil
		}
		m.cur = make(map[spfKey]spfMemoEntry, min(m.max, 64))
		m.started = now
	}
	m.cur[k] = spfMemoEntry{outcome: o, expires: now.Add(spfMemoTTL)}
}
