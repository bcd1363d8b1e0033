package pop3server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/yubinmail/yubin/internal/netutil"
)

// ErrServerClosed is returned by Serve once Close or Shutdown was called.
var ErrServerClosed = netutil.ErrServerClosed

// Server is a POP3 server. Create one with NewServer; it serves any number
// of listeners and is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	sessions *netutil.Sessions // the connection lifecycle

	// ctx is the sessions' base context; cancel ends their I/O with the
	// backend (Close, or the end of Shutdown).
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	locked map[string]struct{} // IDs of maildrops in the TRANSACTION state
}

// NewServer returns a server configured by opts.
func NewServer(opts Options) *Server {
	opts = opts.withDefaults()
	log := opts.Logger.With("component", "pop3")
	s := &Server{
		opts:     opts,
		log:      log,
		sessions: netutil.NewSessions("POP3", log, "-ERR [SYS/TEMP] server shutting down"),
		locked:   map[string]struct{}{},
	}
	if opts.ConnLimiter != nil {
		s.sessions.Limit(opts.ConnLimiter, "-ERR [SYS/TEMP] too many connections")
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
	s.log.Info("POP3 listener started", "addr", ln.Addr().String(), "hostname", s.opts.Hostname, "stls", s.opts.TLSConfig != nil)
	return s.sessions.Serve(ln, func(c net.Conn) netutil.Session { return newSession(s, c) })
}

// Close stops accepting and closes every connection at once. Sessions end
// without entering the UPDATE state: nothing is deleted, unless a QUIT's
// deletion was already under way.
func (s *Server) Close() error {
	defer s.cancel()
	return s.sessions.Close()
}

// Shutdown stops accepting, tells idle sessions "-ERR [SYS/TEMP] server
// shutting down" and closes them, lets sessions in the middle of a command
// (a QUIT's deletions, a RETR) finish it and then closes them the same way,
// and returns once every session is gone. When ctx ends first, it closes
// the remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.cancel()
	return s.sessions.Shutdown(ctx)
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
