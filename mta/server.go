package mta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/arc"
	"github.com/yubinmail/yubin/mta/srs"
	"github.com/yubinmail/yubin/smtpserver"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxMessageBytes is the SIZE limit: 50 MiB.
	DefaultMaxMessageBytes = 50 << 20
	// DefaultMaxRecipients caps RCPTs per message (RFC 5321 §4.5.3.1.8
	// asks for at least 100).
	DefaultMaxRecipients = 100
	// DefaultReadTimeout is how long a client may stay silent: RFC 5321
	// §4.5.3.2 asks for at least 5 minutes while waiting for a command.
	DefaultReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout bounds writing one reply.
	DefaultWriteTimeout = time.Minute
	// DefaultMaxUnknownRecipients is how many unknown recipients (no
	// such user, or a domain not served here) a session may try before
	// it is closed: address harvesting gets a few guesses per
	// connection, a sender with a typo is unaffected.
	DefaultMaxUnknownRecipients = 10
	// DefaultUnknownRecipientDelay is how long the answer to each unknown
	// recipient after the first freeUnknownRecipients of a session is held
	// back.
	DefaultUnknownRecipientDelay = 2 * time.Second
	// freeUnknownRecipients are answered at once in every session.
	freeUnknownRecipients = 3
)

const (
	// spoolMemory is how much of a message is kept in memory; the rest of
	// a larger one goes to a temporary file in Options.SpoolDir.
	spoolMemory = 1 << 20
	// maxReceived is the hop count above which a message is taken to be
	// looping (RFC 5321 §6.3 suggests at least 100 for relays; an MX that
	// only delivers locally can be stricter).
	maxReceived = 50
	// filterTimeout bounds the content filters for one message; they are
	// expected to enforce their own, shorter, deadlines.
	filterTimeout = 3 * time.Minute
	// shutdownWriteTimeout bounds writing the 421 to a closing session.
	shutdownWriteTimeout = 2 * time.Second
)

// Mode says which kind of listener a Server is. The session code is shared;
// the mode decides what a client may do.
type Mode int

const (
	// ModeIntake is the public MX listener (port 25): it takes mail for
	// local recipients only, offers no AUTH, and never relays.
	ModeIntake Mode = iota
	// ModeSubmission is the submission listener (ports 587 and 465):
	// authenticated users only, who may send to anyone (see
	// NewSubmissionServer).
	ModeSubmission
)

// String names the mode for logs.
func (m Mode) String() string {
	switch m {
	case ModeIntake:
		return "intake"
	case ModeSubmission:
		return "submission"
	default:
		return fmt.Sprintf("mode(%d)", int(m))
	}
}

// AuthLimiter throttles authentication attempts per client address and
// user name. The intake listener offers no AUTH; the submission listener
// consults it before and after each attempt.
type AuthLimiter interface {
	// Check reports whether an attempt may be made now.
	Check(ip netip.Addr, user string) bool
	// Delay is how long to wait before answering a failed attempt.
	Delay(ip netip.Addr, user string) time.Duration
	// Failed records a failed attempt.
	Failed(ip netip.Addr, user string)
	// Succeeded records a successful attempt.
	Succeeded(ip netip.Addr, user string)
}

// Options configures a Server.
type Options struct {
	// Store receives the accepted messages and answers recipient lookups.
	// It is required.
	Store *mailstore.Store
	// Filters checks senders and messages; nil means
	// filters.NewDefaultChain.
	Filters *filters.Chain
	// Hostname names this server in the banner, the Received field and the
	// EHLO reply; "" means the machine's host name.
	Hostname string
	// TLSConfig enables STARTTLS; nil leaves it off.
	TLSConfig *tls.Config
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageBytes is the SIZE limit; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients caps RCPTs per message; 0 means DefaultMaxRecipients.
	MaxRecipients int
	// ReadTimeout is how long the client may be silent (per command, and
	// per read while the message comes in); 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a reply; 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SpoolDir holds temporary files for messages larger than 1 MiB while
	// they are filtered; "" means os.TempDir().
	SpoolDir string
	// MaxUnknownRecipients closes a session (421 4.7.0) at its n-th
	// refused recipient (unknown user, or relay denied); 0 means
	// DefaultMaxUnknownRecipients.
	MaxUnknownRecipients int
	// UnknownRecipientDelay holds back the answer to each refused
	// recipient after the first three of a session; 0 means
	// DefaultUnknownRecipientDelay.
	UnknownRecipientDelay time.Duration
	// SubaddressDelimiters are the characters that separate a user from a
	// detail (RFC 5233) in recipient addresses, any one of them: with "+",
	// ann+news@example.com reaches ann, and the Delivered-To field keeps
	// the detail. "" turns subaddressing off (the config's default is
	// core.DefaultSubaddressDelimiters). An account or alias whose name
	// contains a delimiter is still reached by its exact address.
	SubaddressDelimiters string
	// Mode is the kind of listener; the zero value is ModeIntake.
	// NewSubmissionServer sets ModeSubmission.
	Mode Mode

	// Enqueue hands the messages of the recipients' Sieve scripts
	// (redirects, vacation replies, rejections) to the outbound queue;
	// without it they fail with a temporary error (see sieve.go).
	Enqueue EnqueueFunc
	// DKIM signs those messages with the keys of the recipient's domain;
	// nil leaves them unsigned.
	DKIM DKIMSource
	// SendRate, if set, counts Sieve redirects against each user's
	// sending rate (share it with the submission server).
	SendRate *SendRate
	// SRS rewrites the envelope sender of mail forwarded elsewhere (local
	// aliases with external targets, Sieve redirects), and lets the intake
	// take bounces to the addresses it made (forward.go); nil forwards
	// with the sender unchanged (Sieve redirects: from the user) and
	// accepts no SRS address.
	SRS *srs.Rewriter
	// ARCLookup looks up the keys of the ARC chain forwarded mail came
	// with; nil means net.DefaultResolver.
	ARCLookup arc.LookupTXT
}

// Server is an SMTP server (the intake on go-smtp, submission on
// smtpserver) that stores the mail it accepts in the mailstore. It can
// serve several listeners. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	filters *filters.Chain
	smtp    *smtp.Server
	stats   counters
	// misses are the recipients a message without SIZE= did not fit.
	misses quotaMisses
	// sub holds what only a submission server has; nil for intake.
	sub *submission
	// engine serves the connections of a submission server (Yubin's own
	// SMTP engine); nil for intake, which go-smtp serves.
	engine *smtpserver.Server
	// sieve caches the compiled Sieve scripts run at delivery.
	sieve sieveCache

	// ctx is the parent of every session's context; cancelled when the
	// server has stopped.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*connState]struct{}
	changed   chan struct{} // closed and replaced whenever a connection ends

	hooks testHooks
}

// testHooks let the tests reach into a running session.
type testHooks struct {
	// beforeDeliver runs in DATA after the filters, before the store.
	beforeDeliver func()
	// sleep, if set, replaces the wait before answering an unknown
	// recipient.
	sleep func(time.Duration)
}

// NewServer returns a Server for opts, with defaults filled in. It does not
// listen: call Serve.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
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
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	if opts.MaxUnknownRecipients <= 0 {
		opts.MaxUnknownRecipients = DefaultMaxUnknownRecipients
	}
	if opts.UnknownRecipientDelay <= 0 {
		opts.UnknownRecipientDelay = DefaultUnknownRecipientDelay
	}
	log := opts.Logger.With("component", "smtp", "mode", opts.Mode.String())
	s := &Server{
		opts:      opts,
		log:       log,
		filters:   opts.Filters,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*connState]struct{}{},
		changed:   make(chan struct{}),
	}
	if s.filters == nil {
		s.filters = filters.NewDefaultChain(opts.Logger)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	ss := smtp.NewServer(smtp.BackendFunc(s.newSession))
	ss.Domain = opts.Hostname
	ss.TLSConfig = opts.TLSConfig
	ss.MaxMessageBytes = opts.MaxMessageBytes
	ss.MaxRecipients = opts.MaxRecipients
	ss.MaxLineLength = 2000
	ss.ReadTimeout = opts.ReadTimeout
	ss.WriteTimeout = opts.WriteTimeout
	ss.EnableSMTPUTF8 = true
	ss.ErrorLog = smtpLogger{log}
	s.smtp = ss
	return s
}

// Stats returns the current counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Serve accepts connections on ln and serves them until Close or Shutdown,
// after which it returns nil. It returns smtp.ErrServerClosed at once if
// the server was already stopped, and an error if accepting fails.
func (s *Server) Serve(ln net.Listener) error {
	if s.opts.Store == nil {
		return errors.New("smtp serve: Options.Store is nil")
	}
	if s.engine != nil {
		return s.serveEngine(ln)
	}
	l := &listener{Listener: ln, srv: s}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return smtp.ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	// Whether this listener is implicit TLS or offers STARTTLS is the
	// caller's to say (it wrapped the listener, or not): a "starttls"
	// here was wrong for implicit-TLS ports.
	s.log.Info("SMTP listener started", "addr", ln.Addr().String(), "hostname", s.opts.Hostname)

	err := s.smtp.Serve(l)

	s.mu.Lock()
	delete(s.listeners, l)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return nil
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("smtp serve %s: %w", ln.Addr(), err)
}

// serveEngine serves ln with the submission engine; see Serve.
func (s *Server) serveEngine(ln net.Listener) error {
	if s.isClosing() {
		ln.Close()
		return smtp.ErrServerClosed
	}
	err := s.engine.Serve(ln)
	if errors.Is(err, smtpserver.ErrServerClosed) && s.isClosing() {
		return nil
	}
	return err
}

// stop marks the server as closing and closes its listeners. It returns
// the connections open at that moment.
func (s *Server) stop() ([]*connState, error) {
	s.mu.Lock()
	s.closing = true
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	conns := make([]*connState, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return conns, fmt.Errorf("smtp close listeners: %w", err)
	}
	return conns, nil
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close stops accepting and closes every connection at once, whatever it is
// doing. Messages whose 250 was not sent yet are not acknowledged, so the
// clients will send them again.
func (s *Server) Close() error {
	conns, err := s.stop()
	for _, c := range conns {
		c.closeConn()
	}
	if s.engine != nil {
		err = errors.Join(err, s.engine.Close())
	}
	s.cancel()
	return err
}

// Shutdown stops accepting, answers idle sessions "421 4.3.2 shutting down"
// and closes them, lets sessions in the middle of a transaction (MAIL ..
// end of DATA) finish and reply (then closes them the same way), and
// returns once every connection is gone. When ctx ends first, it closes
// the remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.engine != nil {
		_, err := s.stop()
		err = errors.Join(err, s.engine.Shutdown(ctx))
		s.cancel()
		return err
	}
	conns, err := s.stop()
	s.log.Info("SMTP shutting down", "connections", len(conns))
	for _, c := range conns {
		c.closeIfIdle()
	}
	for {
		s.mu.Lock()
		n := len(s.conns)
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
			rest := make([]*connState, 0, len(s.conns))
			for c := range s.conns {
				rest = append(rest, c)
			}
			s.mu.Unlock()
			s.log.Warn("SMTP shutdown deadline: closing sessions in mid-transaction", "connections", len(rest))
			for _, c := range rest {
				c.closeConn()
			}
			s.cancel()
			return fmt.Errorf("smtp shutdown: %w", ctx.Err())
		}
	}
}

// track registers a new connection; false if the server is closing.
func (s *Server) track(c *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *connState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

// listener wraps the caller's listener so that the server knows every
// connection, and can close or greet it with a 421 without going through
// go-smtp (whose own Shutdown waits for idle clients forever).
type listener struct {
	net.Listener
	srv *Server
}

// Accept returns the next connection, wrapped for tracking.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	st := &connState{srv: l.srv}
	var out net.Conn
	if tlsc, ok := c.(*tls.Conn); ok && l.srv.opts.TLSConfig != nil {
		// Implicit TLS (a tls.NewListener; no handshake yet): track the
		// plain connection underneath and put TLS back on top, so that
		// go-smtp and the session see a *tls.Conn. Until the session
		// begins (after go-smtp's handshake) there is nowhere safe to
		// write a 421: st.out stays nil.
		tc := &trackedConn{Conn: tlsc.NetConn(), st: st}
		st.conn = tc
		out = tls.Server(tc, l.srv.opts.TLSConfig)
	} else {
		tc := &trackedConn{Conn: c, st: st}
		st.conn = tc
		st.out = tc
		out = tc
	}
	if !l.srv.track(st) {
		if st.out != nil {
			_ = c.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
			_, _ = io.WriteString(c, "421 4.3.2 "+l.srv.opts.Hostname+" shutting down\r\n")
		}
		c.Close()
		return nil, fmt.Errorf("accept: server closing: %w", net.ErrClosed)
	}
	return out, nil
}

// trackedConn is a connection as the server accepted it (under TLS after
// STARTTLS); closing it, from anywhere, ends its tracking.
type trackedConn struct {
	net.Conn
	st   *connState
	once sync.Once
	// idle, when not 0, is the read timeout renewed before every read
	// from the socket (while a message comes in: see session.Data).
	idle atomic.Int64
}

// Read reads from the connection, first extending the read deadline by
// the idle timeout if one is set: the timeout then bounds the silence
// between two packets, however the reader above buffers them.
func (c *trackedConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.idle.Load()); d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return c.Conn.Read(p)
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.st.srv.untrack(c.st) })
	return err
}

// connState is the server's view of one connection, shared between the
// go-smtp connection goroutine (through the session) and Shutdown.
type connState struct {
	srv  *Server
	conn *trackedConn

	mu     sync.Mutex
	out    io.Writer // where a 421 is written: the connection, or its TLS layer; nil if unknown
	inTx   bool      // between an accepted MAIL and the end of the transaction
	closed bool      // closeWith or closeConn ran
}

// setOut records where replies go (the TLS connection after STARTTLS).
func (c *connState) setOut(w io.Writer) {
	c.mu.Lock()
	c.out = w
	c.mu.Unlock()
}

// beginTx marks the start of a transaction; false if the connection is
// being closed for shutdown (the caller then refuses the MAIL).
func (c *connState) beginTx() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.inTx = true
	return true
}

// endTx marks the end of a transaction (its reply was already written) and,
// if the server is shutting down, says goodbye and closes the connection.
func (c *connState) endTx() {
	c.mu.Lock()
	c.inTx = false
	c.mu.Unlock()
	if c.srv.isClosing() {
		c.closeIfIdle()
	}
}

// closeIfIdle answers 421 and closes the connection unless a transaction is
// under way.
func (c *connState) closeIfIdle() {
	c.closeWith("421 4.3.2 "+c.srv.opts.Hostname+" shutting down", true)
}

// closeWith writes reply (if it knows where to) and closes the connection;
// with onlyIfIdle, only when no transaction is under way.
func (c *connState) closeWith(reply string, onlyIfIdle bool) {
	c.mu.Lock()
	if onlyIfIdle && c.inTx || c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	out := c.out
	c.mu.Unlock()
	if out != nil {
		_ = c.conn.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
		_, _ = io.WriteString(out, reply+"\r\n")
	}
	c.conn.Close()
}

// closeConn closes the connection without a word.
func (c *connState) closeConn() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.conn.Close()
}

// smtpLogger sends go-smtp's own error log (failed handshakes, broken
// connections, panics it caught) to slog.
type smtpLogger struct{ log *slog.Logger }

// Printf logs a formatted go-smtp message. Broken connections and failed
// TLS handshakes are everyday internet noise (Info); anything else, such as
// a panic go-smtp recovered from, is a warning.
func (l smtpLogger) Printf(format string, v ...any) {
	level := slog.LevelWarn
	if strings.HasPrefix(format, "error handling") {
		level = slog.LevelInfo
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "go-smtp")
}

// Println logs a go-smtp message.
func (l smtpLogger) Println(v ...any) {
	l.log.Warn(fmt.Sprint(v...), "source", "go-smtp")
}
