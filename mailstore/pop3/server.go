package pop3

import (
	"context"
	"errors"
	"fmt"
	"github.com/yubinmail/yubin/internal/netutil"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve once Close or Shutdown was called.
var ErrServerClosed = errors.New("pop3: server closed")

// refuseTimeout bounds how long a connection accepted during shutdown may
// take to receive its refusal.
const refuseTimeout = 5 * time.Second

// Server is a POP3 server. Create one with NewServer; it serves any number
// of listeners and is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx is the sessions' base context; cancel ends their I/O with the
	// backend (Close, or the end of Shutdown).
	ctx    context.Context
	cancel context.CancelFunc

	closing  atomic.Bool   // set once by Close or Shutdown
	stopping chan struct{} // closed when closing is set

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	sessions  map[*session]struct{}
	changed   chan struct{}       // closed and replaced when a session ends
	locked    map[string]struct{} // IDs of maildrops in the TRANSACTION state
}

// NewServer returns a server configured by opts.
func NewServer(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "pop3"),
		stopping:  make(chan struct{}),
		listeners: map[*net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		changed:   make(chan struct{}),
		locked:    map[string]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on ln and serves each in its own goroutine
// until Close or Shutdown, after which it returns ErrServerClosed. It
// returns other errors if accepting fails. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	if s.opts.Backend == nil {
		ln.Close()
		return errors.New("pop3 serve: Options.Backend is nil")
	}
	key := &ln
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[key] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, key)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("POP3 listener started", "addr", ln.Addr().String(), "hostname", s.opts.Hostname, "stls", s.opts.TLSConfig != nil)

	for {
		c, err := netutil.Accept(ln, s.stopping, s.log, "POP3")
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return fmt.Errorf("pop3 serve %s: %w", ln.Addr(), err)
		}
		sess := newSession(s, c)
		if !s.track(sess) {
			go refuse(c, "-ERR [SYS/TEMP] server shutting down")
			continue
		}
		go sess.serve()
	}
}

// refuse sends c one line and closes it.
func refuse(c net.Conn, line string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	_, _ = io.WriteString(c, line+"\r\n")
}

// stop marks the server as closing, closes its listeners and returns the
// sessions open at that moment.
func (s *Server) stop() ([]*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing.Swap(true) {
		close(s.stopping)
	}
	var errs []error
	for ln := range s.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	if err := errors.Join(errs...); err != nil {
		return sessions, fmt.Errorf("pop3: close listeners: %w", err)
	}
	return sessions, nil
}

// Close stops accepting and closes every connection at once. Sessions end
// without entering the UPDATE state: nothing is deleted, unless a QUIT's
// deletion was already under way.
func (s *Server) Close() error {
	sessions, err := s.stop()
	for _, sess := range sessions {
		sess.closeConn()
	}
	s.cancel()
	return err
}

// Shutdown stops accepting, tells idle sessions "-ERR [SYS/TEMP] server
// shutting down" and closes them, lets sessions in the middle of a command
// (a QUIT's deletions, a RETR) finish it and then closes them the same way,
// and returns once every session is gone. When ctx ends first, it closes
// the remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	sessions, err := s.stop()
	s.log.Info("POP3 shutting down", "sessions", len(sessions))
	for _, sess := range sessions {
		sess.interruptIfIdle()
	}
	for {
		s.mu.Lock()
		n := len(s.sessions)
		changed := s.changed
		s.mu.Unlock()
		if n == 0 {
			s.cancel()
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			s.mu.Lock()
			rest := make([]*session, 0, len(s.sessions))
			for sess := range s.sessions {
				rest = append(rest, sess)
			}
			s.mu.Unlock()
			s.log.Warn("POP3 shutdown deadline: closing busy sessions", "sessions", len(rest))
			for _, sess := range rest {
				sess.closeConn()
			}
			s.cancel()
			return fmt.Errorf("pop3 shutdown: %w", ctx.Err())
		}
	}
}

// track registers a new session; false if the server is closing.
func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

// untrack forgets an ended session.
func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess]; !ok {
		return
	}
	delete(s.sessions, sess)
	close(s.changed)
	s.changed = make(chan struct{})
}

// lockMaildrop takes the lock of maildrop id; false if another session
// holds it.
func (s *Server) lockMaildrop(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locked[id]; ok {
		return false
	}
	s.locked[id] = struct{}{}
	return true
}

// unlockMaildrop releases the lock of maildrop id.
func (s *Server) unlockMaildrop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locked, id)
}
