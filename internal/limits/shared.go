package limits

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// FailureStore keeps the failed logins where every node on a shared
// database sees them (package limits/limitsdb), so that a throttle earned
// on one node holds on the others. Keys are an AuthLimiter's: the IP
// address (or IPv6 prefix) as text and the canonical account name; either
// may be empty.
type FailureStore interface {
	// Record stores one failed login from ip for account at at.
	Record(ctx context.Context, ip, account string, at time.Time) error
	// Counts returns the failures from ip and those of account (not
	// forgiven) since since.
	Counts(ctx context.Context, ip, account string, since time.Time) (ipFailures, accountFailures int, err error)
	// Forgive records a successful login of account from ip: the
	// account's failures no longer count against it, and ip's failures
	// against account no longer count against ip.
	Forgive(ctx context.Context, ip, account string) error
}

// storeTimeout bounds one call to the FailureStore: the limiter's callers
// wait for it before they answer a login. The call runs on the caller's
// context without its cancellation: a client that hangs up right after a
// wrong password must not keep its failure out of the shared counts.
const storeTimeout = 5 * time.Second

// sharedKeys returns the store's keys of ip and account ("" for one the
// limiter does not count).
func (l *AuthLimiter) sharedKeys(ip netip.Addr, account string) (ipKey, accountName string) {
	if k, ok := l.ipKey(ip); ok {
		ipKey = k.String()
	}
	if k, ok := accountKey(account); ok {
		accountName = k
	}
	return ipKey, accountName
}

// sharedCounts returns the failures of ip and account the store holds;
// ok is false without a store or when it fails (the limiter then goes by
// this node's own counts).
func (l *AuthLimiter) sharedCounts(ctx context.Context, ip netip.Addr, account string) (ipN, accountN float64, ok bool) {
	if l.cfg.Store == nil {
		return 0, 0, false
	}
	ipKey, acct := l.sharedKeys(ip, account)
	if ipKey == "" && acct == "" {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	i, a, err := l.cfg.Store.Counts(ctx, ipKey, acct, l.now().Add(-l.cfg.Window))
	if err != nil {
		l.storeFailed("count failed logins", err)
		return 0, 0, false
	}
	return float64(i), float64(a), true
}

// sharedRecord stores a failure, or a success with forgive.
func (l *AuthLimiter) sharedRecord(ctx context.Context, ip netip.Addr, account string, forgive bool) {
	if l.cfg.Store == nil {
		return
	}
	ipKey, acct := l.sharedKeys(ip, account)
	if ipKey == "" && acct == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	var err error
	if forgive {
		if acct == "" {
			return
		}
		err = l.cfg.Store.Forgive(ctx, ipKey, acct)
	} else {
		err = l.cfg.Store.Record(ctx, ipKey, acct, l.now())
	}
	if err != nil {
		l.storeFailed("record a login", err)
	}
}

// storeFailed logs a failing FailureStore; the limiter goes on with its
// own counts.
func (l *AuthLimiter) storeFailed(what string, err error) {
	log := l.cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("login throttle: "+what+" in the shared database; this node's own counts apply", "err", err)
}
