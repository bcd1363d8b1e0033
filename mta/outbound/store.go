package outbound

import (
	"context"
	"io"
	"time"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

// Queue is the outbound queue as the worker uses it (queue.Queue).
type Queue interface {
	// Enqueue queues a message (the worker's notifications to remote
	// senders).
	Enqueue(ctx context.Context, in queue.Input) (*queue.Message, error)
	// OpenBody opens a queued message's bytes.
	OpenBody(ctx context.Context, msg *queue.Message) (io.ReadCloser, error)
	// ClaimDue leases due recipients to worker.
	ClaimDue(ctx context.Context, worker string, now time.Time, limit int, lease time.Duration) ([]queue.Claim, error)
	// RecordAttempts records the outcome of claimed recipients.
	RecordAttempts(ctx context.Context, messageID int64, results []queue.AttemptResult) error
	// ExpireDue gives up recipients past their message's lifetime.
	ExpireDue(ctx context.Context, now time.Time) ([]queue.ExpiredRecipient, error)
	// AckExpired says the senders of expired recipients were told.
	AckExpired(ctx context.Context, recipientIDs []int64) error
	// DueWarnings returns the messages whose senders are due a delay
	// warning.
	DueWarnings(ctx context.Context, now time.Time, after time.Duration) ([]queue.Item, error)
	// MarkWarned records that a message's sender was warned.
	MarkWarned(ctx context.Context, id int64) error
}

// Mailboxes are the local mailboxes notifications to local senders go to
// (mailstore.Store).
type Mailboxes interface {
	// Resolve returns the local recipients an address reaches.
	Resolve(ctx context.Context, address string, opts mailstore.ResolveOptions) ([]mailstore.Recipient, error)
	// IsLocalDomain reports whether mail for domain is ours.
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	// Deliver stores a message in local mailboxes.
	Deliver(ctx context.Context, d mailstore.Delivery) ([]mailstore.DeliveryResult, error)
}

// recordTimeout bounds recording an outcome, which is done even when the
// worker is stopping (see the package comment).
const recordTimeout = 30 * time.Second

// claim leases up to limit due jobs.
func (w *Worker) claim(ctx context.Context, limit int) ([]*job, error) {
	claims, err := w.queue.ClaimDue(ctx, w.id, w.opts.Now(), limit, w.opts.Lease)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(w.opts.Lease * 3 / 4)
	jobs := make([]*job, 0, len(claims))
	for _, c := range claims {
		if len(c.Recipients) == 0 {
			continue
		}
		m := c.Message
		j := &job{
			msgID:    m.ID,
			from:     m.From,
			created:  m.CreatedAt,
			expires:  m.ExpiresAt,
			domain:   c.Recipients[0].Domain,
			msg:      &m,
			deadline: deadline,
		}
		for _, r := range c.Recipients {
			j.rcpts = append(j.rcpts, rcpt{id: r.ID, addr: r.Address, attempts: r.Attempts})
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// finish reports permanent failures to the sender, then records every
// outcome. The bounce goes first because recording the last outcome of a
// message frees its body; a crash in between repeats the attempt (and
// perhaps the bounce) rather than losing the bounce. If the bounce cannot
// be sent, the failures are recorded as temporary: the next attempt will
// bounce again.
func (w *Worker) finish(ctx context.Context, j *job, results []result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := w.opts.Now()
	var failed []result
	for _, r := range results {
		if r.permanent {
			failed = append(failed, r)
		}
	}
	bounced := true
	if len(failed) > 0 {
		if err := w.bounce(ctx, j.msg, actionFailed, false, failed, now); err != nil {
			w.log.Error("bounce failed; the failed recipients will be tried again", "msg", j.msgID, "from", j.from, "err", err)
			bounced = false
		}
	}
	attempts := make([]queue.AttemptResult, 0, len(results))
	for _, r := range results {
		a := queue.AttemptResult{
			RecipientID: r.rcpt.id,
			Delivered:   r.delivered,
			Permanent:   r.permanent && bounced,
			Code:        r.code,
			Error:       r.diag,
		}
		if !a.Delivered && !a.Permanent && !r.retryNow {
			a.NextAttemptAt = now.Add(w.opts.Backoff(r.rcpt.attempts + 1))
		}
		switch {
		case a.Delivered:
			w.stats.delivered.Add(1)
		case a.Permanent:
			w.stats.failed.Add(1)
		default:
			w.stats.deferred.Add(1)
		}
		if !r.delivered && !r.permanent {
			w.log.Info("delivery deferred", "msg", j.msgID, "rcpt", r.rcpt.addr, "err", r.diag, "next", a.NextAttemptAt)
		} else if r.permanent {
			w.log.Info("delivery failed", "msg", j.msgID, "rcpt", r.rcpt.addr, "err", r.diag)
		}
		attempts = append(attempts, a)
	}
	if err := w.queue.RecordAttempts(ctx, j.msgID, attempts); err != nil {
		w.log.Error("recording delivery outcomes failed; the claim will run out and the mail be tried again", "msg", j.msgID, "err", err)
	}
}
