package mta

import (
	"bytes"
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
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/netutil"
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
	Check(ctx context.Context, ip netip.Addr, user string) bool
	// Delay is how long to wait before answering a failed attempt.
	Delay(ctx context.Context, ip netip.Addr, user string) time.Duration
	// Failed records a failed attempt.
	Failed(ctx context.Context, ip netip.Addr, user string)
	// Succeeded records a successful attempt.
	Succeeded(ctx context.Context, ip netip.Addr, user string)
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
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
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
	// releasing serializes quarantine releases (release.go), so that two
	// releases of one message do not both send what its scripts send.
	releasing sync.Mutex

	// ctx is the parent of every session's context; cancelled when the
	// server has stopped (or its Shutdown deadline passed).
	ctx    context.Context
	cancel context.CancelFunc

	// sessions is the intake's connection lifecycle (accepting, tracking,
	// shutting down); nil for submission, whose engine has its own.
	sessions *netutil.Sessions
	// handoff passes the connections sessions accepted to go-smtp's
	// server, which serves them; runSMTP starts that once.
	handoff *netutil.Handoff
	runSMTP sync.Once
	smtpRan chan struct{} // closed when go-smtp's Serve has returned

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
		opts:    opts,
		log:     log,
		filters: opts.Filters,
		handoff: netutil.NewHandoff(),
		smtpRan: make(chan struct{}),
	}
	if opts.Mode == ModeIntake {
		s.sessions = netutil.NewSessions("SMTP", log, "421 4.3.2 "+opts.Hostname+" shutting down")
		if opts.ConnLimiter != nil {
			s.sessions.Limit(opts.ConnLimiter, "421 4.7.0 "+opts.Hostname+" too many connections")
		}
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
// the server was already stopped, and an error if accepting fails. A
// listener made by tls.NewListener serves implicit TLS; any other offers
// STARTTLS when Options.TLSConfig is set.
func (s *Server) Serve(ln net.Listener) error {
	if s.opts.Store == nil {
		return errors.New("smtp serve: Options.Store is nil")
	}
	if s.isClosing() {
		ln.Close()
		return smtp.ErrServerClosed
	}
	if s.engine != nil {
		err := s.engine.Serve(ln)
		if errors.Is(err, smtpserver.ErrServerClosed) {
			return nil
		}
		return err
	}
	s.runSMTP.Do(func() {
		go func() {
			defer close(s.smtpRan)
			// Returns once the handoff is closed (after every session).
			_ = s.smtp.Serve(s.handoff)
		}()
	})
	s.log.Info("SMTP listener started", "addr", ln.Addr().String(), "hostname", s.opts.Hostname)
	err := s.sessions.Serve(ln, s.newIntakeConn)
	if errors.Is(err, netutil.ErrServerClosed) {
		return nil
	}
	return err
}

// isClosing reports whether Close or Shutdown was called.
func (s *Server) isClosing() bool {
	if s.engine != nil {
		return s.engine.Closing()
	}
	return s.sessions.Closing()
}

// Close stops accepting and closes every connection at once, whatever it is
// doing. Messages whose 250 was not sent yet are not acknowledged, so the
// clients will send them again.
func (s *Server) Close() error {
	s.cancel()
	if s.engine != nil {
		return s.engine.Close()
	}
	err := s.sessions.Close()
	s.stopSMTP()
	return err
}

// Shutdown stops accepting, answers idle sessions "421 4.3.2 shutting down"
// and closes them, lets sessions in the middle of a transaction (MAIL ..
// end of DATA) finish and reply (then closes them the same way), and
// returns once every connection is gone. When ctx ends first, it cancels
// the work of the remaining sessions, closes their connections and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.cancel()
	stopCancel := context.AfterFunc(ctx, s.cancel)
	defer stopCancel()
	if s.engine != nil {
		return s.engine.Shutdown(ctx)
	}
	err := s.sessions.Shutdown(ctx)
	s.stopSMTP()
	return err
}

// stopSMTP ends go-smtp's Serve once every session is over.
func (s *Server) stopSMTP() {
	s.handoff.Close()
	started := true
	s.runSMTP.Do(func() { started = false })
	if started {
		<-s.smtpRan
	}
}

// newIntakeConn is the netutil.Session of a connection the intake
// accepted: go-smtp serves it (through the handoff), the lifecycle tracks
// it.
func (s *Server) newIntakeConn(c net.Conn) netutil.Session {
	st := &connState{srv: s}
	if tlsc, ok := c.(*tls.Conn); ok && s.opts.TLSConfig != nil {
		// Implicit TLS (a tls.NewListener; no handshake yet): keep the
		// plain connection underneath and put TLS back on top, so that
		// go-smtp and the session see a *tls.Conn. Until the session
		// begins (after go-smtp's handshake) there is nowhere safe to
		// write a 421: st.out stays nil.
		newClientConn(tlsc.NetConn(), st)
		return &intakeConn{st: st, served: tls.Server(st.conn, s.opts.TLSConfig)}
	}
	newClientConn(c, st)
	st.out = st.conn
	return &intakeConn{st: st, served: st.conn}
}

// intakeConn is one intake connection as netutil.Sessions runs it.
type intakeConn struct {
	st     *connState
	served net.Conn // what go-smtp serves: st.conn, or TLS over it
}

// Serve implements netutil.Session: it hands the connection to go-smtp
// and returns once go-smtp is done with it.
func (c *intakeConn) Serve() {
	if !c.st.srv.handoff.Hand(c.served) {
		return
	}
	<-c.st.conn.ended
}

// Interrupt implements netutil.Session: an idle session is told 421 and
// closed; one in a transaction is closed once the transaction is over.
func (c *intakeConn) Interrupt() { c.st.closeIfIdle() }

// Close implements netutil.Session.
func (c *intakeConn) Close() { c.st.closeConn() }

// clientConn is a connection as the server accepted it (under TLS after
// STARTTLS). Closing it (go-smtp does, when it is done with the
// connection) closes ended; the server's own closes (connState) close the
// socket underneath, so that go-smtp notices and finishes.
type clientConn struct {
	net.Conn
	st    *connState
	ended chan struct{}
	once  sync.Once
	// idle, when not 0, is the read timeout renewed before every read
	// from the socket (while a message comes in: see session.Data).
	idle atomic.Int64
	// held are the lines of a multi-line reply written so far, but for
	// its last (see Write); wmu guards it.
	wmu  sync.Mutex
	held []byte
}

// newClientConn wraps c as the connection of st (and sets st.conn).
func newClientConn(c net.Conn, st *connState) *clientConn {
	cc := &clientConn{Conn: c, st: st, ended: make(chan struct{})}
	st.conn = cc
	return cc
}

// Read reads from the connection, first extending the read deadline by
// the idle timeout if one is set: the timeout then bounds the silence
// between two packets, however the reader above buffers them.
func (c *clientConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.idle.Load()); d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return c.Conn.Read(p)
}

// maxHeldReply bounds the lines of a multi-line reply held back by Write.
const maxHeldReply = 4 << 10

// Write writes p to the connection, except that the lines of a multi-line
// reply but its last ("250-PIPELINING") are held back and go out with the
// last line in one write: go-smtp flushes every line on its own, and each
// write to the socket is a system call and a packet of its own (the EHLO
// reply, some ten lines, that every message of a connection cache's
// session gets, cost more than all its other replies together). Only a
// write that is exactly one such line is held: a TLS record (after
// STARTTLS) never begins with a digit.
func (c *clientConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if isContinuationLine(p) && len(c.held)+len(p) <= maxHeldReply {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.Conn.Write(p)
	}
	before := len(c.held)
	c.held = append(c.held, p...)
	n, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	return max(0, n-before), err
}

// isContinuationLine reports whether p is one line of a multi-line SMTP
// reply other than its last: three digits, a hyphen, text, CRLF.
func isContinuationLine(p []byte) bool {
	if len(p) < 6 || p[3] != '-' || !bytes.HasSuffix(p, []byte("\r\n")) || bytes.IndexByte(p, '\n') != len(p)-1 {
		return false
	}
	for _, b := range p[:3] {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// Close closes the connection and reports it ended.
func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.ended) })
	return err
}

// connState is the server's view of one connection, shared between the
// protocol engine's connection goroutine (through the session) and
// Shutdown.
type connState struct {
	srv  *Server
	conn *clientConn

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
	c.conn.Conn.Close()
}

// closeConn closes the connection without a word.
func (c *connState) closeConn() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.conn.Conn.Close()
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
