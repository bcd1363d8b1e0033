// Package outbound delivers the mail of the outbound queue (mta/queue) to
// the world: to the MX hosts of each recipient domain (RFC 5321
// §5), or to one smarthost that relays everything.
//
// A Worker claims due (message, destination domain) pairs from the queue
// with a lease, delivers them over SMTP and records the outcome of every
// recipient: delivered, failed for good, or to be retried after a backoff.
// Permanent failures and expired messages are reported to the sender with
// a delivery status notification (RFC 3464); a message still undelivered
// after WarnAfter gets one "delayed" notification. Notifications go straight
// into the sender's INBOX when the sender is local, and through the queue
// otherwise; messages with a null sender (notifications themselves) are
// never reported on.
//
// # Delivery semantics
//
// SMTP is at-least-once. A recipient counts as delivered when the peer
// answers 250 to the end of DATA, and that is recorded in the queue right
// after. A worker that dies between the two (the process is killed, the
// disk is full) leaves the claim to expire: after the lease another worker
// claims it and the peer receives the message a second time. That window
// is unavoidable without an extension SMTP does not have; the worker keeps
// it small by recording each transaction's outcome as soon as it is known,
// even when it is being stopped. A worker stopped or killed at any earlier
// point (while connecting, before the end of DATA) leaves nothing
// delivered: the peer discards a transaction whose DATA did not end, and
// the message is sent again once the lease has run out.
package outbound

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// Defaults for Options.
const (
	DefaultPort      = 25
	DefaultWorkers   = 4
	DefaultPerDomain = 2
	DefaultLifetime  = 5 * 24 * time.Hour
	DefaultWarnAfter = 4 * time.Hour
	// DefaultLease is how long a claim is ours: a worker that dies leaves
	// its claims to be taken again after this long. It bounds one whole
	// delivery (every MX host tried, each command with its own timeout).
	DefaultLease = 30 * time.Minute
	// PollInterval is how often Run looks for due mail when not kicked.
	PollInterval = 5 * time.Second
)

// SMTP timeouts. RFC 5321 §4.5.3.2 recommends minutes per command; these
// are shorter but still generous, and the whole delivery is bounded by the
// lease.
const (
	dialTimeout       = 30 * time.Second
	commandTimeout    = 5 * time.Minute
	submissionTimeout = 10 * time.Minute
	// maxHosts bounds the addresses tried for one delivery.
	maxHosts = 10
)

// Smarthost TLS modes.
const (
	TLSStartTLS = "starttls" // STARTTLS required, certificate verified
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain text
)

// Options configure a Worker.
type Options struct {
	// Queue is the outbound queue. Required.
	Queue Queue
	// Store holds the local mailboxes that notifications to local senders
	// go to. Required.
	Store Mailboxes
	// Resolver looks up MX and address records. Required unless
	// Smarthost is set.
	Resolver *dnsresolve.Resolver
	// Hostname is our name in EHLO and in notifications. Required.
	Hostname string
	// NodeID names the server (its data folder) in the claims of this
	// worker, which are NodeID + "/" + a random suffix, so that a restarted
	// server can take back the claims of the process it replaces (see
	// queue.Queue.Reclaim). Empty means Hostname.
	NodeID string
	// Port is the port of remote MX hosts. 0 means DefaultPort.
	Port int
	// Smarthost ("host:port") receives all outbound mail instead of the
	// MX hosts. Without a port, 25 is used (465 in implicit TLS mode).
	Smarthost string
	// SmarthostUser and SmarthostPassword, if set, authenticate with
	// AUTH PLAIN (only over TLS, unless SmarthostTLS is "none").
	SmarthostUser     string
	SmarthostPassword string
	// SmarthostTLS is "starttls" (the default), "implicit" or "none".
	SmarthostTLS string
	// SmarthostRootCAs verify the smarthost's certificate; nil means the
	// system's roots.
	SmarthostRootCAs *x509.CertPool
	// TLSPolicy finds the recipient domains' MTA-STS policies (RFC 8461);
	// nil delivers with opportunistic TLS only.
	TLSPolicy TLSPolicy
	// MXRootCAs verify the certificates of MX hosts whose domain's MTA-STS
	// policy enforces TLS; nil means the system's roots.
	MXRootCAs *x509.CertPool
	// Workers is how many deliveries run at once. 0 means DefaultWorkers.
	Workers int
	// PerDomain is how many deliveries to one destination domain run at
	// once. 0 means DefaultPerDomain.
	PerDomain int
	// ReuseMessages is how many messages one SMTP connection carries
	// before it is closed (pool.go); 0 means DefaultReuseMessages, 1 or
	// less (negative) turns reuse off.
	ReuseMessages int
	// ReuseIdle is how long a connection waits for the next message to
	// its host; 0 means DefaultReuseIdle.
	ReuseIdle time.Duration
	// Lifetime is how long the notifications this worker queues are
	// retried. 0 means DefaultLifetime.
	Lifetime time.Duration
	// WarnAfter is how long a message waits before its sender is told it
	// is delayed. 0 means DefaultWarnAfter; negative means never.
	WarnAfter time.Duration
	// Lease is how long a claim lasts. 0 means DefaultLease.
	Lease time.Duration
	// PollInterval is how often Run looks for due mail when not kicked.
	// 0 means PollInterval.
	PollInterval time.Duration
	// Backoff returns the wait before attempt number attempt+1, after
	// attempt failed attempts (attempt ≥ 1). nil means DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// SignDKIM returns the DKIM-Signature fields of msg for domain (an
	// error wrapping core.ErrNotFound when there are no keys for it); the
	// notifications this worker sends elsewhere are signed with it (see
	// signReport). nil sends them unsigned.
	SignDKIM func(ctx context.Context, domain string, msg io.Reader) (string, error)
	// SubaddressDelimiters are as in mta.Options, for notifications to a
	// local sender who sent as ann+shop@: they reach ann. "" = off.
	SubaddressDelimiters string
	// Logger receives the log; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Worker delivers the outbound queue. Create it with New.
type Worker struct {
	opts  Options
	queue Queue
	store Mailboxes
	log   *slog.Logger
	id    string // names our claims in the queue
	kick  chan struct{}

	stats counters
	pool  pool // idle connections kept for reuse

	mu       sync.Mutex
	busy     int            // deliveries running
	byDomain map[string]int // deliveries running per domain
	free     *sync.Cond     // signalled when a delivery ends
}

// New returns a Worker configured by opts.
func New(opts Options) (*Worker, error) {
	if opts.Queue == nil {
		return nil, errors.New("outbound: no queue")
	}
	if opts.Store == nil {
		return nil, errors.New("outbound: no store")
	}
	if opts.Hostname == "" {
		return nil, errors.New("outbound: no hostname")
	}
	if opts.Smarthost == "" && opts.Resolver == nil {
		return nil, errors.New("outbound: no resolver")
	}
	switch opts.SmarthostTLS {
	case "":
		opts.SmarthostTLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, errors.New("outbound: smarthost TLS mode must be starttls, implicit or none")
	}
	if opts.Port <= 0 {
		opts.Port = DefaultPort
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PerDomain <= 0 {
		opts.PerDomain = DefaultPerDomain
	}
	if opts.ReuseMessages == 0 {
		opts.ReuseMessages = DefaultReuseMessages
	}
	if opts.ReuseIdle <= 0 {
		opts.ReuseIdle = DefaultReuseIdle
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.WarnAfter == 0 {
		opts.WarnAfter = DefaultWarnAfter
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = PollInterval
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	w := &Worker{
		opts:     opts,
		queue:    opts.Queue,
		store:    opts.Store,
		log:      opts.Logger.With("component", "outbound"),
		id:       cmp.Or(opts.NodeID, opts.Hostname) + "/" + hex.EncodeToString(b[:]),
		kick:     make(chan struct{}, 1),
		byDomain: map[string]int{},
	}
	w.free = sync.NewCond(&w.mu)
	return w, nil
}

// Kick makes Run look for due mail now, e.g. right after new mail was
// queued. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends: it claims what is due (when kicked,
// when a delivery ends, and every Options.PollInterval), delivers it and
// records the outcome; every poll it also expires what is too old and
// warns senders of delays. When ctx ends, deliveries under way are
// abandoned (see the package comment) and Run returns nil once they have
// stopped.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer w.closeIdle()
	defer wg.Wait()
	tick := time.NewTicker(w.opts.PollInterval)
	defer tick.Stop()
	w.log.Info("outbound delivery started", "workers", w.opts.Workers, "per_domain", w.opts.PerDomain, "smarthost", w.opts.Smarthost)
	w.housekeeping(ctx)
	for {
		_, _, _ = w.claimAndStart(ctx, &wg, w.Kick)
		select {
		case <-ctx.Done():
			w.log.Info("outbound delivery stopping")
			return nil
		case <-w.kick:
		case <-tick.C:
			w.housekeeping(ctx)
		}
	}
}

// ProcessDue expires and warns, then claims and delivers everything due
// now, including what those deliveries queue (bounces to remote senders),
// and returns when it is all done.
func (w *Worker) ProcessDue(ctx context.Context) error {
	var wg sync.WaitGroup
	defer w.closeIdle()
	defer wg.Wait()
	w.housekeeping(ctx)
	ended := make(chan struct{}, 1)
	signal := func() {
		select {
		case ended <- struct{}{}:
		default:
		}
	}
	for {
		n, drained, err := w.claimAndStart(ctx, &wg, signal)
		if err != nil {
			return err
		}
		if drained {
			if n == 0 {
				return nil
			}
			wg.Wait() // then look again: they may have queued more
			continue
		}
		select { // every worker is busy: wait for one
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// claimAndStart claims as many due jobs as there are idle workers and
// starts their deliveries; done, if set, is called after each delivery.
// It returns how many it started, and drained if the queue had nothing
// more due.
func (w *Worker) claimAndStart(ctx context.Context, wg *sync.WaitGroup, done func()) (started int, drained bool, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return started, false, err
		}
		w.mu.Lock()
		idle := w.opts.Workers - w.busy
		w.mu.Unlock()
		if idle <= 0 {
			return started, false, nil
		}
		jobs, err := w.claim(ctx, idle)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("claiming due mail failed", "err", err)
			}
			return started, false, err
		}
		for _, j := range jobs {
			w.mu.Lock()
			w.busy++
			w.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run(ctx, j)
				w.mu.Lock()
				w.busy--
				w.mu.Unlock()
				if done != nil {
					done()
				}
			}()
		}
		started += len(jobs)
		if len(jobs) < idle {
			return started, true, nil
		}
	}
}

// run delivers one job within the per-domain limit and records the
// outcome.
func (w *Worker) run(ctx context.Context, j *job) {
	// Finish well before the lease ends, lest another worker claim the
	// job while it is still being delivered here.
	dctx, cancel := context.WithDeadline(ctx, j.deadline)
	defer cancel()
	if !w.acquireDomain(dctx, j.domain) {
		if ctx.Err() != nil {
			return // stopping: the claim runs out and the job is retried
		}
		results := failAll(j.rcpts, tempFailure("451 4.4.5 too many deliveries to the domain; will try again"))
		for i := range results {
			results[i].retryNow = true
		}
		w.finish(ctx, j, results)
		return
	}
	defer w.releaseDomain(j.domain)
	results := w.deliver(ctx, dctx, j)
	if results == nil {
		return // abandoned: stopped before an outcome was known
	}
	w.finish(ctx, j, results)
}

// acquireDomain waits for a delivery slot for domain; it returns false if
// ctx ended first.
func (w *Worker) acquireDomain(ctx context.Context, domain string) bool {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.free.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.byDomain[domain] >= w.opts.PerDomain {
		if ctx.Err() != nil {
			return false
		}
		w.free.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	w.byDomain[domain]++
	return true
}

func (w *Worker) releaseDomain(domain string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byDomain[domain]--; w.byDomain[domain] <= 0 {
		delete(w.byDomain, domain)
	}
	w.free.Broadcast()
}

// housekeeping bounces expired recipients and warns of delays.
func (w *Worker) housekeeping(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if err := w.expire(ctx); err != nil && ctx.Err() == nil {
		w.log.Error("expiring old mail failed", "err", err)
	}
	if w.opts.WarnAfter > 0 {
		if err := w.warn(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("warning of delayed mail failed", "err", err)
		}
	}
}
