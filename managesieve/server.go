package managesieve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/netutil"
	"github.com/yubinmail/yubin/sieve"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = netutil.ErrServerClosed

// Defaults for Options fields left at zero.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultMaxScriptSize = 256 << 10
	DefaultMaxNameBytes  = 512
	// maxErrors is how many failed commands in a row a session may send
	// before it is disconnected.
	maxErrors = 10
)

// Options configures a Server.
type Options struct {
	// Backend authenticates users and stores their scripts. Required.
	Backend Backend
	// Hostname names the server in the greeting.
	Hostname string
	// TLSConfig enables STARTTLS; nil disables it.
	TLSConfig *tls.Config
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// AuthLimiter, if set, slows down and blocks repeated failed logins
	// (the one IMAP, POP3 and submission use, so that the counts are
	// shared).
	AuthLimiter *limits.AuthLimiter
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
	// InsecureAuth reports whether a client at remote may log in without
	// TLS. Default: loopback clients only.
	InsecureAuth func(remote net.Addr) bool
	// IdleTimeout ends a connection that sends nothing for this long.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxScriptSize is the largest script (and string) accepted, in
	// octets. Default DefaultMaxScriptSize.
	MaxScriptSize int64
	// MaxNameBytes is the longest script name, in octets. Default
	// DefaultMaxNameBytes.
	MaxNameBytes int
	// MaxRedirects is announced as MAXREDIRECTS: the redirects one script
	// run may make. Default sieve.DefaultLimits().MaxRedirects.
	MaxRedirects int
}

// Server is a ManageSieve server. It is safe for concurrent use and
// serves any number of listeners.
type Server struct {
	opts     Options
	log      *slog.Logger
	sessions *netutil.Sessions
	sieveCap string // the SIEVE capability value
}

// NewServer returns a server configured by opts.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.InsecureAuth == nil {
		opts.InsecureAuth = netutil.IsLoopback
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxScriptSize <= 0 {
		opts.MaxScriptSize = DefaultMaxScriptSize
	}
	if opts.MaxNameBytes <= 0 {
		opts.MaxNameBytes = DefaultMaxNameBytes
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = sieve.DefaultLimits().MaxRedirects
	}
	log := opts.Logger.With("component", "managesieve")
	s := &Server{
		opts:     opts,
		log:      log,
		sessions: netutil.NewSessions("ManageSieve", log, `BYE (TRYLATER) "Server shutting down"`),
		sieveCap: strings.Join(sieve.Extensions(), " "),
	}
	if opts.ConnLimiter != nil {
		s.sessions.Limit(opts.ConnLimiter, `BYE (TRYLATER) "Too many connections"`)
	}
	return s
}

// Serve accepts connections on ln until Close or Shutdown, then returns
// ErrServerClosed. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("ManageSieve listener started", "addr", ln.Addr().String(), "starttls", s.opts.TLSConfig != nil)
	return s.sessions.Serve(ln, func(c net.Conn) netutil.Session { return newSession(s, c) })
}

// Shutdown stops accepting and ends every session with BYE (TRYLATER) as
// soon as its command in progress is answered. When ctx ends first the
// remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error { return s.sessions.Shutdown(ctx) }

// Close closes the listeners and every connection at once.
func (s *Server) Close() error { return s.sessions.Close() }

// capabilities returns the capability lines (without the final OK) for a
// session in the given situation.
func (s *Server) capabilities(tlsOn, authAllowed bool, owner string) []string {
	sasl := ""
	if authAllowed {
		sasl = "PLAIN"
	}
	lines := []string{
		`"IMPLEMENTATION" "Yubin"`,
		`"SASL" ` + quote(sasl),
		`"SIEVE" ` + quote(s.sieveCap),
	}
	if s.opts.TLSConfig != nil && !tlsOn {
		lines = append(lines, `"STARTTLS"`)
	}
	lines = append(lines,
		`"MAXREDIRECTS" "`+strconv.Itoa(s.opts.MaxRedirects)+`"`,
		`"UNAUTHENTICATE"`,
		`"VERSION" "1.0"`,
	)
	if owner != "" {
		lines = append(lines, `"OWNER" `+quote(owner))
	}
	return lines
}
