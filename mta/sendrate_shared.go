package mta

import (
	"context"
	"log/slog"
	"time"
)

// SendRateStore keeps the recipients users sent to where every node on a
// shared database counts them (package limits/limitsdb), so that a user's
// hourly budget is one budget however many nodes they send through.
type SendRateStore interface {
	// Count returns how many recipients user sent to since since.
	Count(ctx context.Context, user int64, since time.Time) (int, error)
	// Reserve counts n recipients for user at at if, with those counted
	// since since, they stay within limit, and reports whether they did;
	// concurrent reservations of one user, on any node, are serialized.
	Reserve(ctx context.Context, user int64, n int, at, since time.Time, limit int) (bool, error)
	// Release takes back n recipients reserved for user at at.
	Release(ctx context.Context, user int64, n int, at time.Time) error
}

// NewSharedSendRate is NewSendRate counting in store: for several nodes on
// one database. When the store fails, the node's own counts apply.
func NewSharedSendRate(perHour int, store SendRateStore, log *slog.Logger) *SendRate {
	r := NewSendRate(perHour)
	r.r.store, r.r.log = store, log
	if r.r.log == nil {
		r.r.log = slog.Default()
	}
	return r
}

// sendRateTimeout bounds one call to the SendRateStore.
const sendRateTimeout = 5 * time.Second

// sharedRemaining is remaining from the store; ok is false without one or
// when it fails.
func (r *sendRate) sharedRemaining(user int64) (left int, ok bool) {
	if r.store == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendRateTimeout)
	defer cancel()
	n, err := r.store.Count(ctx, user, r.now().Add(-r.window))
	if err != nil {
		r.log.Warn("sending rate: count in the shared database; this node's own count applies", "err", err)
		return 0, false
	}
	return max(r.limit-n, 0), true
}

// sharedReserve is reserve in the store; ok is false without one or when
// it fails.
func (r *sendRate) sharedReserve(user int64, n int, now time.Time) (fits, ok bool) {
	if r.store == nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendRateTimeout)
	defer cancel()
	fits, err := r.store.Reserve(ctx, user, n, now, now.Add(-r.window), r.limit)
	if err != nil {
		r.log.Warn("sending rate: reserve in the shared database; this node's own count applies", "err", err)
		return false, false
	}
	return fits, true
}

// sharedRelease is release in the store.
func (r *sendRate) sharedRelease(user int64, n int, at time.Time) {
	if r.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendRateTimeout)
	defer cancel()
	if err := r.store.Release(ctx, user, n, at); err != nil {
		r.log.Warn("sending rate: release in the shared database", "err", err)
	}
}
