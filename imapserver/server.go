package imapserver

import (
	"context"
	"crypto/tls"
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
var ErrServerClosed = netutil.ErrServerClosed

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
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
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
	deflaters   deflaterPool      // COMPRESS=DEFLATE compressors between bursts
	bulkBuffers sync.Pool         // large response buffers, lent to commands that send much (see writer.bulk)
	sessions    *netutil.Sessions // the connection lifecycle
	closeOnce   sync.Once
}

// NewServer returns a server configured by opts.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.InsecureAuth == nil {
		opts.InsecureAuth = netutil.IsLoopback
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
	log := opts.Logger.With("component", "imap")
	s := &Server{
		opts:     opts,
		log:      log,
		hub:      newHub(),
		sessions: netutil.NewSessions("IMAP", log, "* BYE server shutting down"),
	}
	if opts.ConnLimiter != nil {
		s.sessions.Limit(opts.ConnLimiter, "* BYE [UNAVAILABLE] too many connections")
	}
	s.stopHub = opts.Backend.Subscribe(s.hub.onEvent)
	return s
}

// Serve accepts connections on ln until Close or Shutdown, then returns
// ErrServerClosed. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("IMAP listener started", "addr", ln.Addr().String(), "starttls", s.opts.TLSConfig != nil)
	return s.sessions.Serve(ln, func(c net.Conn) netutil.Session { return lifecycle{newSession(s, c)} })
}

// lifecycle is a session as netutil.Sessions runs it.
type lifecycle struct{ *session }

// Serve runs the session.
func (l lifecycle) Serve() { l.serve() }

// Interrupt ends the session with an untagged BYE at once: IMAP has no
// transaction in flight worth waiting for, every change a client was told
// about is already committed. The BYE waits for a response being written.
func (l lifecycle) Interrupt() { go l.bye("server shutting down") }

// Close closes the connection.
func (l lifecycle) Close() { l.raw.Close() }

// Close closes the listeners and every connection at once, and waits for
// the sessions to end.
func (s *Server) Close() error {
	err := s.sessions.Close()
	s.closeOnce.Do(s.stopHub)
	return err
}

// Shutdown stops accepting and ends every connection with an untagged BYE.
// ctx bounds the goodbyes; then the remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.sessions.Shutdown(ctx)
	s.closeOnce.Do(s.stopHub)
	return err
}
