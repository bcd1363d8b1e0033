package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

// bounce tells the sender of msg what happened to some recipients, with a
// delivery status notification: into the sender's INBOX if the sender is
// local, through the queue otherwise. Messages from the null sender are
// never reported on (no bounce for a bounce, RFC 5321 §4.5.5).
func (w *Worker) bounce(ctx context.Context, msg *queue.Message, action string, expired bool, results []result, now time.Time) error {
	if msg.From == "" {
		w.log.Info("not reporting on a message from the null sender", "msg", msg.ID, "action", action, "rcpts", len(results))
		return nil
	}
	var header []byte
	if body, err := w.queue.OpenBody(ctx, msg); err != nil {
		w.log.Warn("cannot read the message being reported on; reporting without its header", "msg", msg.ID, "err", err)
	} else {
		header = readHeader(body)
		body.Close()
	}
	dsn := buildDSN(report{
		hostname:   w.opts.Hostname,
		to:         msg.From,
		action:     action,
		expired:    expired,
		arrival:    msg.CreatedAt,
		retryUntil: msg.ExpiresAt,
		results:    results,
		header:     header,
		date:       now,
	})
	if err := w.sendReport(ctx, msg.From, dsn); err != nil {
		return fmt.Errorf("report to %s: %w", msg.From, err)
	}
	w.log.Info("sender notified", "msg", msg.ID, "to", msg.From, "action", action, "rcpts", len(results))
	return nil
}

// sendReport delivers a notification to addr: to the INBOX of the local
// accounts it leads to, and through the queue (from the null sender) to
// any address elsewhere. A local address that leads nowhere drops it.
func (w *Worker) sendReport(ctx context.Context, addr string, dsn []byte) error {
	var external []string
	rs, err := w.store.Resolve(ctx, addr, mailstore.ResolveOptions{SubaddressDelimiters: w.opts.SubaddressDelimiters})
	switch {
	case err == nil:
	case errors.Is(err, core.ErrNotFound):
		a, perr := core.ParseAddress(addr)
		if perr != nil {
			w.log.Warn("dropping a notification to an invalid address", "to", addr, "err", perr)
			return nil
		}
		local, lerr := w.store.IsLocalDomain(ctx, a.Domain)
		if lerr != nil {
			return lerr
		}
		if local {
			w.log.Warn("dropping a notification to a local address that leads nowhere", "to", addr)
			return nil
		}
		external = []string{addr}
	default:
		return err
	}
	var targets []mailstore.DeliveryTarget
	for _, r := range rs {
		switch {
		case r.User != nil:
			targets = append(targets, mailstore.DeliveryTarget{UserID: r.User.ID, Mailbox: "INBOX"})
		case r.External != "":
			external = append(external, r.External)
		}
	}
	if len(targets) > 0 {
		res, err := w.store.Deliver(ctx, mailstore.Delivery{Targets: targets, Body: bytes.NewReader(dsn)})
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				w.log.Warn("notification not stored for one local target", "to", addr, "mailbox", r.MailboxID, "err", r.Err)
			}
		}
	}
	if len(external) > 0 {
		body, domain := w.signReport(ctx, addr, dsn)
		_, err := w.queue.Enqueue(ctx, queue.Input{
			Body:       bytes.NewReader(body),
			Recipients: external,
			Lifetime:   w.opts.Lifetime,
			Domain:     domain,
		})
		if err != nil {
			return err
		}
		w.Kick()
	}
	return nil
}

// expire gives up the recipients of messages past their lifetime and tells
// their senders, one notification per message.
func (w *Worker) expire(ctx context.Context) error {
	now := w.opts.Now()
	exp, err := w.queue.ExpireDue(ctx, now)
	if err != nil {
		return err
	}
	for len(exp) > 0 {
		msg := exp[0].Message
		n := 1
		for n < len(exp) && exp[n].Message.ID == msg.ID {
			n++
		}
		group := exp[:n]
		exp = exp[n:]
		var results []result
		var ids []int64
		for _, e := range group {
			r := e.Recipient
			ids = append(ids, r.ID)
			diag := r.LastError
			if diag == "" {
				diag = "no attempt could be made"
			}
			results = append(results, result{
				rcpt:   rcpt{id: r.ID, addr: r.Address, attempts: r.Attempts},
				code:   r.LastCode,
				status: "5.4.7",
				diag:   diag,
			})
		}
		w.log.Info("giving up on expired mail", "msg", msg.ID, "from", msg.From, "rcpts", len(results))
		if err := w.bounce(ctx, &msg, actionFailed, true, results, now); err != nil {
			w.log.Error("reporting expired mail failed; will try again", "msg", msg.ID, "err", err)
			continue
		}
		if err := w.queue.AckExpired(ctx, ids); err != nil {
			return err
		}
	}
	return nil
}

// warn tells the senders of messages delayed for longer than WarnAfter,
// once per message.
func (w *Worker) warn(ctx context.Context) error {
	now := w.opts.Now()
	items, err := w.queue.DueWarnings(ctx, now, w.opts.WarnAfter)
	if err != nil {
		return err
	}
	for _, it := range items {
		var results []result
		for _, r := range it.Recipients {
			if r.Status != queue.StatusQueued && r.Status != queue.StatusDelivering {
				continue
			}
			diag := r.LastError
			if diag == "" {
				diag = "not tried yet"
			}
			status := "4.0.0"
			if f := strings.Fields(diag); len(f) > 1 && strings.HasPrefix(f[1], "4.") {
				status = f[1]
			}
			results = append(results, result{
				rcpt: rcpt{id: r.ID, addr: r.Address, attempts: r.Attempts}, code: r.LastCode, status: status, diag: diag,
			})
		}
		if len(results) > 0 {
			if err := w.bounce(ctx, &it.Message, actionDelayed, false, results, now); err != nil {
				w.log.Error("warning of delayed mail failed; will try again", "msg", it.Message.ID, "err", err)
				continue
			}
		}
		if err := w.queue.MarkWarned(ctx, it.Message.ID); err != nil {
			return err
		}
	}
	return nil
}

// signReport returns a notification to addr as it goes out, DKIM-signed
// if it can be, and the signing domain. The notification is from
// MAILER-DAEMON at the server's host name: it is signed for the first
// domain that has keys among the host name and its parent domains (which
// DMARC aligns with the From domain), else for the domain of addr, the
// sender of the message the notification is about (usually a domain
// served here, whose keys sign its users' mail).
func (w *Worker) signReport(ctx context.Context, addr string, dsn []byte) ([]byte, string) {
	if w.opts.SignDKIM == nil {
		return dsn, w.opts.Hostname
	}
	var candidates []string
	for h := strings.TrimSuffix(w.opts.Hostname, "."); strings.Contains(h, "."); h = h[strings.IndexByte(h, '.')+1:] {
		candidates = append(candidates, h)
	}
	if a, err := core.ParseAddress(addr); err == nil {
		candidates = append(candidates, a.Domain)
	}
	for _, d := range candidates {
		sigs, err := w.opts.SignDKIM(ctx, d, bytes.NewReader(dsn))
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			w.log.Error("DKIM signing of a notification failed", "domain", d, "err", err)
		}
		if sigs == "" {
			continue
		}
		return append([]byte(sigs), dsn...), d
	}
	w.log.Warn("no DKIM keys for a notification; sending it unsigned", "hostname", w.opts.Hostname, "to", addr)
	return dsn, w.opts.Hostname
}
