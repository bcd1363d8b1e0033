package imap

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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/netutil"
	"github.com/yubinmail/yubin/mailstore"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

// DefaultAppendLimit is the largest message APPEND accepts when
// Options.AppendLimit is zero.
const DefaultAppendLimit = 64 << 20

// Options configures a Server.
type Options struct {
	// Store is the mailstore served. Required.
	Store *mailstore.Store
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
	// OnMove, if set, is called after a successful MOVE or COPY that takes
	// messages into the \Junk mailbox (spam true) or out of it into any
	// mailbox but \Trash (spam false), e.g. to train a spam classifier.
	// msgs are the messages as they now are in to. It runs on the
	// connection's goroutine and must not block: start any slow work in a
	// goroutine of its own. ctx ends with the connection.
	OnMove func(ctx context.Context, userID int64, from, to *mailstore.Mailbox, msgs []mailstore.MessageMeta, spam bool)
}

// Server is an IMAP server over the mailstore. It is safe for concurrent
// use and serves any number of listeners.
type Server struct {
	opts Options
	log  *slog.Logger
	hub  *hub

	// secure serves connections that must use TLS before logging in;
	// insecure serves those that InsecureAuth allows to log in without it.
	// They differ only in that, which imapserver fixes per server.
	secure, insecure        *imapserver.Server
	secureLn, insecureLn    *connQueue
	innerDone               sync.WaitGroup
	nextSession             atomic.Uint64
	closing                 atomic.Bool
	mu                      sync.Mutex
	listeners               map[net.Listener]struct{}
	conns                   map[*imapserver.Conn]struct{}
	stopHub                 func()
	closeOnce, shutdownOnce sync.Once
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
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "imap"),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*imapserver.Conn]struct{}{},
	}
	s.hub = newHub(opts.Store, s.log)
	s.stopHub = s.hub.start()
	inner := func(insecure bool) *imapserver.Server {
		return imapserver.New(&imapserver.Options{
			NewSession:   s.newSession,
			Caps:         capabilities(),
			Logger:       printfLogger{s.log},
			TLSConfig:    opts.TLSConfig,
			InsecureAuth: insecure,
		})
	}
	s.secure, s.insecure = inner(false), inner(true)
	s.secureLn, s.insecureLn = newConnQueue(), newConnQueue()
	s.innerDone.Add(2)
	go func() { defer s.innerDone.Done(); _ = s.secure.Serve(s.secureLn) }()
	go func() { defer s.innerDone.Done(); _ = s.insecure.Serve(s.insecureLn) }()
	return s
}

// capabilities lists the extensions served beyond those imapserver
// announces on its own (SASL-IR, LITERAL-, ENABLE, IDLE, UNSELECT,
// UTF8=ACCEPT, APPENDLIMIT).
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:        {},
		imap.CapIMAP4rev2:        {},
		imap.CapNamespace:        {},
		imap.CapUIDPlus:          {},
		imap.CapESearch:          {},
		imap.CapSearchRes:        {},
		imap.CapListExtended:     {},
		imap.CapListStatus:       {},
		imap.CapMove:             {},
		imap.CapStatusSize:       {},
		imap.CapBinary:           {},
		imap.CapChildren:         {},
		imap.CapSpecialUse:       {},
		imap.CapCreateSpecialUse: {},
		// Not LITERAL+: imapserver refuses some literals (APPEND over
		// APPENDLIMIT, long literals elsewhere) before reading them, and
		// reads the rest of the command line as the next commands. With
		// LITERAL+ a client sends the literal anyway, and its contents
		// (a message's lines) would be run as commands. With LITERAL-
		// (announced by imapserver) literals over 4096 bytes wait for the
		// server's go-ahead, which a refused one never gets.
	}
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
		q := s.secureLn
		if s.opts.InsecureAuth(c.RemoteAddr()) {
			q = s.insecureLn
		}
		if !q.push(c) {
			c.Close()
		}
	}
}

// stopAccepting marks the server as closing and closes its listeners.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeOnce.Do(func() {
		// imapserver.Server.Close waits for its Serve, which counts itself
		// in (WaitGroup.Add) only after it started: wait until both inner
		// servers have, or that Add races with Close's Wait.
		<-s.secureLn.started
		<-s.insecureLn.started
		s.secureLn.close()
		s.insecureLn.close()
		_ = s.secure.Close()
		_ = s.insecure.Close()
		s.innerDone.Wait()
		s.stopHub()
	})
	return nil
}

// Shutdown stops accepting and ends every connection with an untagged BYE.
// IMAP has no transaction in flight worth waiting for: every change a
// client was told about is already committed. ctx bounds the goodbyes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	s.mu.Lock()
	conns := make([]*imapserver.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info("IMAP shutting down", "connections", len(conns))
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if nc := c.NetConn(); nc != nil {
				_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			}
			_ = c.Bye("server shutting down")
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

// track registers a connection for Shutdown; false if the server is closing.
func (s *Server) track(c *imapserver.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *imapserver.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// newSession is imapserver's NewSession hook.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	if !s.track(c) {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "server shutting down"}
	}
	return newSession(s, c), nil, nil
}

// isLoopback is the default InsecureAuth policy.
func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}

// printfLogger adapts slog to imapserver's Logger.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}

// connQueue is a net.Listener fed by Serve: it hands accepted connections
// to one of the inner imapserver servers.
type connQueue struct {
	ch        chan net.Conn
	done      chan struct{}
	once      sync.Once
	started   chan struct{} // closed at the first Accept
	startOnce sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), started: make(chan struct{})}
}

// push hands c to the queue's server; false if the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) close() { q.once.Do(func() { close(q.done) }) }

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	q.startOnce.Do(func() { close(q.started) })
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (q *connQueue) Close() error { q.close(); return nil }

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr { return queueAddr{} }

type queueAddr struct{}

func (queueAddr) Network() string { return "queue" }
func (queueAddr) String() string  { return "imap-queue" }
