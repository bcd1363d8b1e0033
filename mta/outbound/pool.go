package outbound

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Connection reuse. After a message is delivered, its SMTP session stays
// open for a while (Options.ReuseIdle), and the next delivery to the same
// host (the same address, name, TLS mode) takes it instead of connecting
// again: one greeting, EHLO, STARTTLS and AUTH for many messages, as
// Postfix's connection cache does. A session taken from the pool is
// checked with RSET first; one that fails then, or breaks at MAIL FROM, is
// closed and the delivery falls back to a new connection, so that a peer
// dropping idle connections costs nothing but a reconnect. A session
// carries at most Options.ReuseMessages messages, then says QUIT.

// Defaults of connection reuse.
const (
	// DefaultReuseMessages is how many messages one connection carries.
	DefaultReuseMessages = 100
	// DefaultReuseIdle is how long an unused connection stays open.
	DefaultReuseIdle = 5 * time.Second
	// rsetTimeout bounds the RSET that checks a pooled connection.
	rsetTimeout = 30 * time.Second
	// quitTimeout bounds saying goodbye on a connection put away.
	quitTimeout = 10 * time.Second
)

// pool holds the idle sessions, by target.
type pool struct {
	mu   sync.Mutex
	idle map[string][]*idleSession
}

// idleSession is a session waiting in the pool.
type idleSession struct {
	s     *session
	key   string
	timer *time.Timer // closes it when idle too long
}

// poolKey names the host a session talks to: sessions are only shared
// between deliveries that would have connected the same way. A session
// opened under an enforced MTA-STS policy (STARTTLS required, certificate
// checked against the MX name) is never handed to a delivery without one,
// nor the other way round.
func poolKey(t target) string {
	return t.addr + "|" + t.name + "|" + t.tls + "|" + strconv.FormatBool(t.smart) + "|" + strconv.FormatBool(t.stsEnforce)
}

// session returns a session with t ready for MAIL FROM: an idle one from
// the pool that answers RSET, or a new connection.
func (w *Worker) session(ctx context.Context, t target) (*session, error) {
	if w.opts.ReuseMessages > 1 {
		for {
			s := w.pool.take(poolKey(t))
			if s == nil {
				break
			}
			if w.revive(ctx, s) {
				w.stats.reused.Add(1)
				return s, nil
			}
		}
	}
	s, err := w.connect(ctx, t)
	if err == nil {
		w.stats.connections.Add(1)
	}
	return s, err
}

// revive checks a pooled session with RSET and ties it to ctx; a session
// that fails is closed.
func (w *Worker) revive(ctx context.Context, s *session) bool {
	s.stop = context.AfterFunc(ctx, func() { s.raw.Close() })
	s.c.CommandTimeout = rsetTimeout
	err := s.c.Reset()
	s.c.CommandTimeout = commandTimeout
	if err != nil || ctx.Err() != nil {
		w.log.Debug("pooled connection is gone; connecting again", "addr", s.raw.RemoteAddr().String(), "err", err)
		s.close()
		return false
	}
	s.reused = true
	return true
}

// release is called once a delivery on s is over and the session is in a
// clean state (the last transaction ended): it goes to the pool, or says
// QUIT when it has carried enough messages or reuse is off.
func (w *Worker) release(t target, s *session) {
	if w.opts.ReuseMessages <= 1 || s.messages >= w.opts.ReuseMessages || !s.stop() {
		// (stop false: the delivery's context ended and closed it.)
		_ = s.c.Quit()
		s.close()
		return
	}
	s.stop = func() bool { return true }
	w.pool.put(poolKey(t), s, w.opts.ReuseIdle, func(s *session) { w.goodbye(s) })
}

// goodbye says QUIT on an idle session and closes it.
func (w *Worker) goodbye(s *session) {
	_ = s.raw.SetDeadline(time.Now().Add(quitTimeout))
	_ = s.c.Quit()
	s.close()
}

// closeIdle closes every pooled session (the worker stops).
func (w *Worker) closeIdle() {
	for _, s := range w.pool.drain() {
		w.goodbye(s)
	}
}

// take removes and returns the most recently used idle session of key, or
// nil.
func (p *pool) take(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	e := list[len(list)-1]
	if len(list) == 1 {
		delete(p.idle, key)
	} else {
		p.idle[key] = list[:len(list)-1]
	}
	e.timer.Stop() // if it fired already, expire finds nothing to close
	return e.s
}

// put adds s to the pool; after idle it is removed and handed to expire.
func (p *pool) put(key string, s *session, idle time.Duration, expire func(*session)) {
	e := &idleSession{s: s, key: key}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = make(map[string][]*idleSession)
	}
	e.timer = time.AfterFunc(idle, func() {
		if p.remove(e) {
			expire(e.s)
		}
	})
	p.idle[key] = append(p.idle[key], e)
}

// remove takes e out of the pool; false if it was taken already.
func (p *pool) remove(e *idleSession) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[e.key]
	for i, x := range list {
		if x == e {
			p.idle[e.key] = append(list[:i:i], list[i+1:]...)
			if len(p.idle[e.key]) == 0 {
				delete(p.idle, e.key)
			}
			return true
		}
	}
	return false
}

// drain empties the pool and returns its sessions.
func (p *pool) drain() []*session {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*session
	for _, list := range p.idle {
		for _, e := range list {
			e.timer.Stop()
			out = append(out, e.s)
		}
	}
	p.idle = nil
	return out
}

// brokenConnection reports whether err is the connection failing rather
// than a reply of the peer: on a reused session, a reason to try a new one.
func brokenConnection(err error) bool {
	var se *smtp.SMTPError
	return err != nil && !errors.As(err, &se)
}
