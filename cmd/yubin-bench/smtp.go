package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// mxSession is one SMTP session to the MX listener, reused for message
// after message the way an MTA's connection cache does: RSET, then the
// next MAIL FROM.
type mxSession struct {
	c    *smtp.Client
	used bool
	buf  []byte
}

func dialMX(addr string) (*mxSession, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("mx.remote.example"); err != nil {
		c.Close()
		return nil, err
	}
	return &mxSession{c: c}, nil
}

func (s *mxSession) send(from, rcpt string, t *template) (int, error) {
	if s.used {
		if err := s.c.Reset(); err != nil {
			return 0, fmt.Errorf("RSET: %w", err)
		}
	}
	s.used = true
	s.buf = t.render(s.buf[:0])
	if err := s.c.Mail(from, nil); err != nil {
		return 0, fmt.Errorf("MAIL: %w", err)
	}
	if err := s.c.Rcpt(rcpt, nil); err != nil {
		return 0, fmt.Errorf("RCPT: %w", err)
	}
	w, err := s.c.Data()
	if err != nil {
		return 0, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(s.buf); err != nil {
		w.Close()
		return 0, fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("end of DATA: %w", err)
	}
	return len(s.buf), nil
}

func (s *mxSession) close() {
	_ = s.c.Quit()
	s.c.Close()
}

// smtpRun is the outcome of sending over several concurrent sessions.
type smtpRun struct {
	Accepted  int64
	Bytes     int64
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration
	ServerCPU time.Duration
	ServerSys time.Duration // the system part of ServerCPU
	ClientCPU time.Duration
}

// sendMany opens sessions SMTP sessions to addr, then sends messages made
// from t to rcpt on all of them at once: for d if d > 0, else count
// messages in all. The clock runs from the moment every session is open
// (after EHLO) until the last reply to DATA.
func sendMany(addr, rcpt string, t *template, sessions int, d time.Duration, count int64, m meter) (smtpRun, error) {
	var r smtpRun
	conns := make([]*mxSession, sessions)
	for i := range conns {
		s, err := dialMX(addr)
		if err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return r, fmt.Errorf("open SMTP session %d: %w", i+1, err)
		}
		conns[i] = s
	}
	var (
		accepted, bytes, errs, claimed atomic.Int64
		errOnce                        sync.Once
		wg                             sync.WaitGroup
	)
	cpu0, sys0 := m.cpu()
	self0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	more := func() bool {
		if d > 0 {
			return time.Now().Before(deadline)
		}
		return claimed.Add(1) <= count
	}
	for _, s := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failures := 0
			for more() {
				n, err := s.send("sender@remote.example", rcpt, t)
				if err == nil {
					accepted.Add(1)
					bytes.Add(int64(n))
					continue
				}
				errs.Add(1)
				errOnce.Do(func() { r.FirstErr = err.Error() })
				if d == 0 {
					claimed.Add(-1) // try this one again
				}
				if failures++; failures > 20 {
					return
				}
				// The session may be unusable: start a new one.
				s.c.Close()
				ns, derr := dialMX(addr)
				if derr != nil {
					errOnce.Do(func() { r.FirstErr = derr.Error() })
					return
				}
				*s = *ns
			}
		}()
	}
	wg.Wait()
	r.Elapsed = time.Since(start)
	cpu1, sys1 := m.cpu()
	r.ServerCPU = cpu1 - cpu0
	r.ServerSys = sys1 - sys0
	r.ClientCPU = selfCPU() - self0
	for _, s := range conns {
		s.close()
	}
	r.Accepted, r.Bytes, r.Errors = accepted.Load(), bytes.Load(), errs.Load()
	if r.Accepted == 0 {
		return r, fmt.Errorf("no message accepted: %s", r.FirstErr)
	}
	if d == 0 && r.Accepted < count {
		return r, fmt.Errorf("only %d of %d messages accepted: %s", r.Accepted, count, r.FirstErr)
	}
	return r, nil
}
