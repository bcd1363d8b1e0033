package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
)

// deliver tries to deliver j and returns the outcome of every recipient,
// or nil if ctx ended before anything was delivered (the job is then left
// to its lease). The network work is bounded by dctx, which ends before
// the lease does.
func (w *Worker) deliver(ctx, dctx context.Context, j *job) []result {
	log := w.log.With("msg", j.msgID, "domain", j.domain, "from", j.from)
	targets, err := w.route(dctx, j.domain)
	if err == nil {
		targets, err = w.applyTLSPolicy(dctx, j.domain, targets, log)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		f := asFailure(err)
		log.Info("no route", "err", f.text, "permanent", f.permanent)
		return failAll(j.rcpts, f)
	}
	var (
		out     []result
		pending = j.rcpts
		last    = tempFailure("451 4.4.1 no mail exchanger could be reached")
	)
	for _, t := range targets {
		if len(pending) == 0 {
			break
		}
		res, next, err := w.attempt(dctx, j, t, pending)
		out = append(out, res...)
		pending = next
		if ctx.Err() != nil {
			break
		}
		if dctx.Err() != nil {
			last = tempFailure("451 4.4.7 delivery took too long; will try again")
			break
		}
		if err != nil {
			log.Info("delivery attempt failed", "host", t.name, "addr", t.addr, "err", err)
			last = asFailure(err)
			last.permanent = false // a host that fails before RCPT is not the last word
			if last.code >= 500 {
				last.code, last.status = 451, "4"+last.status[1:]
			}
		}
	}
	if ctx.Err() != nil {
		delivered := false
		for _, r := range out {
			delivered = delivered || r.delivered
		}
		if !delivered {
			return nil
		}
		// Record what was delivered; the rest is retried at once.
		rest := failAll(pending, tempFailure("451 4.3.2 delivery interrupted"))
		for i := range rest {
			rest[i].retryNow = true
		}
		return append(out, rest...)
	}
	return append(out, failAll(pending, last)...)
}

// asFailure converts an error of a delivery attempt.
func asFailure(err error) failure {
	var f failure
	if errors.As(err, &f) {
		return f
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyFailure(se, "")
	}
	return tempFailure("451 4.4.1 " + oneLine(err.Error()))
}

func failAll(rs []rcpt, f failure) []result {
	out := make([]result, 0, len(rs))
	for _, r := range rs {
		out = append(out, f.result(r))
	}
	return out
}

// attempt runs one SMTP transaction with t for rcpts. It returns the
// outcomes the peer decided and the recipients to try at the next host;
// err explains why there are any of those.
func (w *Worker) attempt(ctx context.Context, j *job, t target, rcpts []rcpt) (done []result, next []rcpt, err error) {
	// A new connection, or one kept from an earlier delivery (pool.go).
	s, err := w.session(ctx, t)
	if err != nil {
		return nil, rcpts, err
	}
	kept := false
	defer func() {
		if !kept {
			s.close()
		}
	}()
	w.log.Debug("connected", "msg", j.msgID, "host", t.name, "addr", t.addr, "tls", s.tls, "verified", s.verified, "reused", s.reused)

	// MAIL FROM. A 5xx refuses the message for every recipient.
	opts := &smtp.MailOptions{UTF8: !isASCII(j.from)}
	for _, r := range rcpts {
		opts.UTF8 = opts.UTF8 || !isASCII(r.addr)
	}
	for {
		if ok, _ := s.c.Extension("SMTPUTF8"); opts.UTF8 && !ok {
			f := failure{permanent: true, code: 553, status: "5.6.7", remote: t.name,
				text: "553 5.6.7 the message needs SMTPUTF8, which " + t.name + " does not support"}
			_ = s.c.Quit()
			return failAll(rcpts, f), nil, nil
		}
		err := s.c.Mail(j.from, opts)
		if err == nil {
			break
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			_ = s.c.Quit()
			return failAll(rcpts, replyFailure(se, t.name)), nil, nil
		}
		if !s.reused || !brokenConnection(err) || ctx.Err() != nil {
			return nil, rcpts, err
		}
		// The peer dropped the connection kept for reuse: once more, on
		// a new one.
		w.log.Debug("reused connection failed at MAIL FROM; connecting again", "msg", j.msgID, "host", t.name, "err", err)
		s.close()
		if s, err = w.connect(ctx, t); err != nil {
			kept = true // nothing left to close
			return nil, rcpts, err
		}
		w.stats.connections.Add(1)
	}

	// RCPT TO, one by one.
	var accepted []rcpt
	for i, r := range rcpts {
		err := s.c.Rcpt(r.addr, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, r)
		case errors.As(err, &se):
			done = append(done, replyFailure(se, t.name).result(r))
		default: // the connection is gone: the rest go to the next host
			return done, rcpts[i:], err
		}
	}
	if len(accepted) == 0 {
		_ = s.c.Quit()
		return done, nil, nil
	}

	// DATA. Until the final dot the peer keeps nothing, so a broken
	// connection sends the accepted recipients on to the next host. After
	// it, a lost reply is a temporary failure here: trying elsewhere
	// would double the message if the peer did take it.
	wc, err := s.c.Data()
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			_ = s.c.Quit()
			return append(done, failAll(accepted, replyFailure(se, t.name))...), nil, nil
		}
		return done, accepted, err
	}
	body, err := w.queue.OpenBody(ctx, j.msg)
	if err != nil {
		return append(done, failAll(accepted, tempFailure("451 4.3.0 cannot read the queued message: "+oneLine(err.Error())))...), nil, nil
	}
	// Whatever the body holds (a bounce quoting a header, a message
	// queued by an older version), only CRLF ends a line on the wire.
	_, err = io.Copy(wc, core.NewCRLFReader(body))
	body.Close()
	if err != nil {
		// The dot was not sent: the peer drops the transaction.
		return done, accepted, fmt.Errorf("sending the message: %w", err)
	}
	if _, err := wc.CloseWithResponse(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			_ = s.c.Quit()
			return append(done, failAll(accepted, replyFailure(se, t.name))...), nil, nil
		}
		f := tempFailure("451 4.4.2 connection lost after the end of the message: " + oneLine(err.Error()))
		f.remote = t.name
		return append(done, failAll(accepted, f)...), nil, nil
	}
	for _, r := range accepted {
		done = append(done, result{rcpt: r, delivered: true, code: 250, status: "2.0.0", remote: t.name})
	}
	w.log.Info("delivered", "msg", j.msgID, "from", j.from, "rcpts", len(accepted), "host", t.name, "addr", t.addr, "tls", s.tls, "verified", s.verified, "reused", s.reused)
	s.messages++
	kept = true
	w.release(t, s) // kept for the next message to t, or QUIT
	return done, nil, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// oneLine folds s onto one line of single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
