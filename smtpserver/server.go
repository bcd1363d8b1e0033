// Package smtpserver is Yubin's own SMTP protocol engine (RFC 5321), as
// the submission listener (RFC 6409) uses it: the command parser, the
// reply writer and the connection state machine, with PIPELINING (RFC
// 2920), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), SIZE (RFC 1870),
// ENHANCEDSTATUSCODES (RFC 2034), STARTTLS (RFC 3207), AUTH PLAIN and
// LOGIN with an initial response (RFC 4954), CHUNKING (RFC 3030) and BURL
// (RFC 4468).
//
// What a message is for and whether it is accepted is the Backend's
// business: the engine calls its Session for every step of a transaction,
// in go-smtp's terms (smtp.Session, smtp.MailOptions, smtp.SMTPError), so
// that one session logic can serve both this engine and go-smtp's server.
// The connection lifecycle (accepting, shutting down) is
// internal/netutil.Sessions.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/netutil"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxMessageBytes = 50 << 20
	DefaultMaxRecipients   = 100
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = time.Minute
	// DefaultMaxErrors is how many refused commands a session may send
	// before it is closed with 421 4.7.0.
	DefaultMaxErrors = 20
)

// Limits of the protocol that are not options.
const (
	// maxLineBytes bounds a command line with its CRLF: RFC 5321 asks for
	// 512, but a BURL URL (up to 8 KiB, RFC 5092) and a SASL response
	// with a long password need more.
	maxLineBytes = 12 << 10
	// maxAuthLineBytes bounds a SASL response line.
	maxAuthLineBytes = 12 << 10
	// handshakeTimeout bounds a TLS handshake.
	handshakeTimeout = 30 * time.Second
)

// ErrServerClosed is returned by Serve once Close or Shutdown was called.
var ErrServerClosed = netutil.ErrServerClosed

// Backend makes a Session for each client that says HELO or EHLO (and
// again after STARTTLS, the old one ending with Logout).
type Backend interface {
	NewSession(c *Conn) (Session, error)
}

// Session is one session's transaction logic, as go-smtp's smtp.Session:
// Mail, Rcpt and Data return nil or an *smtp.SMTPError, which is the reply
// (Data may return one with code 250 for its success reply); any other
// error is answered 451 4.0.0. Data gets the message as the client sent
// it, dot-unstuffed (DATA), or the chunks of BDAT and the contents of BURL
// in order (an *io.PipeReader); it must read it to the end or return.
// Reset ends the transaction; Logout ends the session.
type Session = smtp.Session

// AuthSession is a Session that lets users log in (AUTH, RFC 4954).
type AuthSession interface {
	Session
	// AuthMechanisms lists the mechanisms offered now (of PLAIN and
	// LOGIN); none means AUTH is not offered (before TLS, say).
	AuthMechanisms() []string
	// Authenticate checks the credentials; nil logs the user in. identity
	// is the authorization identity of PLAIN ("" if none).
	Authenticate(identity, username, password string) error
}

// URLSession is a Session that resolves BURL's IMAP URLs (RFC 4468) for
// its logged-in user.
type URLSession interface {
	Session
	// FetchURL returns the content url names for this session's user, or
	// the reply refusing it (an *smtp.SMTPError: 554 5.7.0 for a URL the
	// user may not use, 554 5.6.6 for one that does not resolve).
	FetchURL(ctx context.Context, url string) ([]byte, error)
}

// Options configures a Server.
type Options struct {
	// Hostname names the server in the greeting and the EHLO reply.
	Hostname string
	// TLSConfig enables STARTTLS on connections not already under TLS,
	// and the handshake of implicit-TLS listeners (tls.NewListener).
	TLSConfig *tls.Config
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageBytes is the SIZE limit announced; 0 means
	// DefaultMaxMessageBytes. The Session enforces it on the content.
	MaxMessageBytes int64
	// MaxRecipients caps RCPTs per transaction; 0 means
	// DefaultMaxRecipients.
	MaxRecipients int
	// ReadTimeout bounds the client's silence, per command and per read
	// while a message comes in; 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the replies; 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxErrors closes a session at its n-th refused command; 0 means
	// DefaultMaxErrors.
	MaxErrors int
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
}

// Server serves SMTP on any number of listeners. Its methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	backend  Backend
	log      *slog.Logger
	sessions *netutil.Sessions
	ctx      context.Context
	cancel   context.CancelFunc
}

// NewServer returns a server for backend, with defaults filled in.
func NewServer(backend Backend, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = DefaultMaxRecipients
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	log := opts.Logger.With("component", "smtpserver")
	s := &Server{
		opts:     opts,
		backend:  backend,
		log:      log,
		sessions: netutil.NewSessions("SMTP", log, "421 4.3.2 "+opts.Hostname+" shutting down"),
	}
	if opts.ConnLimiter != nil {
		s.sessions.Limit(opts.ConnLimiter, "421 4.7.0 "+opts.Hostname+" too many connections")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on ln until Close or Shutdown, then returns
// ErrServerClosed. A listener made by tls.NewListener serves implicit TLS
// (RFC 8314); any other offers STARTTLS when Options.TLSConfig is set.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("SMTP listener started", "addr", ln.Addr().String(), "hostname", s.opts.Hostname)
	err := s.sessions.Serve(ln, func(c net.Conn) netutil.Session { return newConn(s, c) })
	if err != nil && !errors.Is(err, ErrServerClosed) {
		return fmt.Errorf("smtp serve: %w", err)
	}
	return err
}

// Active returns the number of open sessions.
func (s *Server) Active() int { return s.sessions.Active() }

// Closing reports whether Close or Shutdown was called.
func (s *Server) Closing() bool { return s.sessions.Closing() }

// Shutdown stops accepting, says "421 4.3.2" to every session as soon as
// it waits for its client outside a transaction (a transaction under way
// is finished first), and returns once all have ended; when ctx ends
// first, the rest are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.cancel()
	if err := s.sessions.Shutdown(ctx); err != nil {
		return fmt.Errorf("smtp shutdown: %w", err)
	}
	return nil
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	defer s.cancel()
	if err := s.sessions.Close(); err != nil {
		return fmt.Errorf("smtp close: %w", err)
	}
	return nil
}
