package outbound

import (
	"context"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// recordTimeout bounds recording an outcome, which is done even when the
// worker is stopping (see the package comment).
const recordTimeout = 30 * time.Second

// claim leases up to limit due jobs.
func (w *Worker) claim(ctx context.Context, limit int) ([]*job, error) {
	claims, err := w.store.ClaimDue(ctx, w.id, w.opts.Now(), limit, w.opts.Lease)
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
	attempts := make([]mailstore.AttemptResult, 0, len(results))
	for _, r := range results {
		a := mailstore.AttemptResult{
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
	if err := w.store.RecordAttempts(ctx, j.msgID, attempts); err != nil {
		w.log.Error("recording delivery outcomes failed; the claim will run out and the mail be tried again", "msg", j.msgID, "err", err)
	}
}
