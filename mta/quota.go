package mta

import (
	"sync"
	"time"
)

// A message without SIZE= that pushes one of several local recipients over
// quota is refused as a whole, with 452 4.2.2 naming that recipient,
// before any copy is made (mailstore.Delivery.AllOrNothing): nothing is
// acknowledged that is not stored for every recipient, and the message
// stays with the sending server, which retries. Yubin does not accept it
// for the others and bounce for the full one instead: the intake has no
// way of its own to send mail, and a bounce to a forged sender is
// backscatter, whereas the sender's own server knows who sent it. So that
// the retry does not meet the same fate for every recipient, the size of
// the message that did not fit is remembered (quotaMisses) for that
// recipient and envelope sender, and the retry, which again declares no
// SIZE=, is refused at RCPT for that recipient alone (452 4.2.2, or 552
// 5.2.2 when the message is larger than the whole quota): the others get
// it then. Sending servers that declare SIZE= (as most do, Yubin
// advertises SIZE) get the per-recipient answer at once.

// quotaMissTTL is how long a quota miss is remembered: longer than the
// first retry intervals of common MTAs.
const quotaMissTTL = 2 * time.Hour

// maxQuotaMisses bounds the remembered misses.
const maxQuotaMisses = 10000

// quotaKey names a recipient (a user) and an envelope sender.
type quotaKey struct {
	user int64
	from string
}

// quotaMiss is the size of a message that did not fit, and when.
type quotaMiss struct {
	size int64
	at   time.Time
}

// quotaMisses remembers which messages did not fit in whose mailbox.
// It is safe for concurrent use.
type quotaMisses struct {
	mu sync.Mutex
	m  map[quotaKey]quotaMiss
}

// record remembers that a message of size bytes from from did not fit in
// user's mailbox.
func (q *quotaMisses) record(user int64, from string, size int64, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = make(map[quotaKey]quotaMiss)
	}
	if len(q.m) >= maxQuotaMisses {
		for k, v := range q.m {
			if now.Sub(v.at) >= quotaMissTTL {
				delete(q.m, k)
			}
		}
		if len(q.m) >= maxQuotaMisses {
			clear(q.m)
		}
	}
	q.m[quotaKey{user, from}] = quotaMiss{size: size, at: now}
}

// size returns the size of the last message from from that did not fit
// in user's mailbox, within quotaMissTTL, or 0.
func (q *quotaMisses) size(user int64, from string, now time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	v, ok := q.m[quotaKey{user, from}]
	if !ok {
		return 0
	}
	if now.Sub(v.at) >= quotaMissTTL {
		delete(q.m, quotaKey{user, from})
		return 0
	}
	return v.size
}
