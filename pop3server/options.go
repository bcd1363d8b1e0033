package pop3server

import (
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
)

// Defaults for Options fields left at zero.
const (
	// DefaultIdleTimeout is the autologout timer: RFC 1939 §3 asks for at
	// least 10 minutes.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxLineLength bounds a command line, without its CRLF. RFC 2449
	// §4 allows 255 octets; clients with long AUTH responses get more.
	DefaultMaxLineLength = 1024
	// DefaultMaxBadCommands is how many unknown, malformed, misplaced or
	// too long commands a session may send before it is closed.
	DefaultMaxBadCommands = 20
)

// Options configures a Server.
type Options struct {
	// Backend authenticates users and opens their maildrops. Required.
	Backend Backend
	// Hostname names the server in the greeting; "" means the machine's
	// host name.
	Hostname string
	// TLSConfig enables STLS; nil means STLS is not offered. Listeners with
	// implicit TLS are wrapped by the caller (tls.NewListener); the server
	// recognises their connections.
	TLSConfig *tls.Config
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// AuthLimiter, if set, slows down and blocks repeated failed logins.
	AuthLimiter *limits.AuthLimiter
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
	// IdleTimeout closes a session that sends nothing for that long, without
	// deleting anything. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// InsecureAuth reports whether a client at remote may log in without
	// TLS. Default: only loopback clients may.
	InsecureAuth func(remote net.Addr) bool
	// MaxLineLength bounds a command line, without its CRLF. Default
	// DefaultMaxLineLength.
	MaxLineLength int
	// MaxBadCommands closes a session after that many bad commands. Default
	// DefaultMaxBadCommands.
	MaxBadCommands int
}

// withDefaults returns opts with zero fields set to their defaults.
func (opts Options) withDefaults() Options {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.InsecureAuth == nil {
		opts.InsecureAuth = isLoopback
	}
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = DefaultMaxLineLength
	}
	if opts.MaxBadCommands <= 0 {
		opts.MaxBadCommands = DefaultMaxBadCommands
	}
	return opts
}
