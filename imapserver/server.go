package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/netutil"
	"github.com/yubinmail/yubin/mailstore"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// DefaultAppendLimit is the largest message APPEND accepts when
// Options.AppendLimit is zero.
const DefaultAppendLimit = 64 << 20

// Options configures a Server.
type Options struct {
	// Backend serves the mail. Required.
	Backend Backend
	// Hostname names the server in the greeting.
	Hostname string
	// TLSConfig enables STARTTLS; nil disables it. Implicit-TLS listeners
	// are wrapped by the caller (tls.NewListener).
	TLSConfig *tls.Config
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// AuthLimiter, if set, slows down and blocks repeated failed logins.
	AuthLimiter *limits.AuthLimiter
	// InsecureAuth reports whether a client at remote may log in without
	// TLS. Default: loopback clients only.
	InsecureAuth func(remote net.Addr) bool
	// AppendLimit is the largest message APPEND accepts, in bytes.
	// Default DefaultAppendLimit.
	AppendLimit uint32
	// Compress offers COMPRESS=DEFLATE (RFC 4978).
	Compress bool
	// OnMove, if set, is called after a successful MOVE or COPY that takes
	// messages into the \Junk mailbox (spam true) or out of it into any
	// mailbox but \Trash (spam false), e.g. to train a spam classifier.
	// msgs are the messages as they now are in to. It runs on the
	// connection's goroutine and must not block. ctx ends with the
	// connection.
	OnMove func(ctx context.Context, userID int64, from, to *mailstore.Mailbox, msgs []mailstore.MessageMeta, spam bool)
	// IdleTimeout ends a connection that sends nothing for this long
	// (RFC 9051 §5.4: at least 30 minutes). Default 30 minutes.
	IdleTimeout time.Duration

	// notifyQueue bounds a session's unreported NOTIFY changes; 0 means
	// defaultNotifyQueue (tests lower it).
	notifyQueue int
}

// Server is an IMAP server. It is safe for concurrent use and serves any
// number of listeners.
type Server struct {
	opts        Options
	log         *slog.Logger
	hub         *hub
	stopHub     func()
	nextSession atomic.Uint64
	closing     atomic.Bool
	deflaters   deflaterPool // COMPRESS=DEFLATE compressors between bursts

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup // running sessions
	closeOnce sync.Once
}

// NewServer returns a server configured by opts.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.InsecureAuth == nil {
		opts.InsecureAuth = isLoopback
	}
	if opts.AppendLimit == 0 {
		opts.AppendLimit = DefaultAppendLimit
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "imap"),
		hub:       newHub(),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
	}
	s.stopHub = opts.Backend.Subscribe(s.hub.onEvent)
	return s
}

// Serve accepts connections on ln until Close or Shutdown, then returns
// ErrServerClosed. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("IMAP listener started", "addr", ln.Addr().String(), "starttls", s.opts.TLSConfig != nil)
	for {
		c, err := netutil.Accept(ln, nil, s.log, "IMAP")
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return fmt.Errorf("imap serve %s: %w", ln.Addr(), err)
		}
		sess := newSession(s, c)
		if !s.track(sess) {
			_, _ = c.Write([]byte("* BYE server shutting down\r\n"))
			c.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(sess)
			sess.serve()
		}()
	}
}

// track registers a session; false if the server is closing.
func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// stopAccepting marks the server as closing, closes its listeners and
// returns the running sessions.
func (s *Server) stopAccepting() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	out := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// Close closes the listeners and every connection at once, and waits for
// the sessions to end.
func (s *Server) Close() error {
	for _, sess := range s.stopAccepting() {
		sess.raw.Close()
	}
	s.wg.Wait()
	s.closeOnce.Do(s.stopHub)
	return nil
}

// Shutdown stops accepting and ends every connection with an untagged BYE.
// IMAP has no transaction in flight worth waiting for: every change a
// client was told about is already committed. ctx bounds the goodbyes.
func (s *Server) Shutdown(ctx context.Context) error {
	sessions := s.stopAccepting()
	s.log.Info("IMAP shutting down", "connections", len(sessions))
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess.bye("server shutting down")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return s.Close()
}

// isLoopback is the default InsecureAuth policy.
func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}
