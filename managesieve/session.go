package managesieve

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yubinmail/yubin/internal/netutil"
)

// state is where a session is in the protocol.
type state uint8

const (
	stateNotAuth state = iota
	stateAuth
	stateLogout
)

// byeWriteTimeout bounds the final BYE to a client that does not read.
const byeWriteTimeout = 5 * time.Second

// session is one client connection.
type session struct {
	srv    *Server
	remote net.Addr
	br     *bufio.Reader
	bw     *bufio.Writer
	r      reader
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	isTLS   bool
	state   state
	scripts Scripts // the user's scripts once authenticated
	errors  int     // failed commands in a row

	// sc is the connection (a *tls.Conn after STARTTLS), shared with
	// Interrupt and Close.
	sc *netutil.SessionConn
}

func newSession(srv *Server, c net.Conn) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		srv:    srv,
		remote: c.RemoteAddr(),
		sc:     netutil.NewSessionConn(c, srv.sessions.Stopping()),
		log:    srv.log.With("remote", c.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
	}
	s.br = bufio.NewReader(c)
	s.bw = bufio.NewWriter(deadlineWriter{s})
	s.r = reader{br: s.br, maxLiteral: srv.opts.MaxScriptSize}
	return s
}

// Serve runs the session until the client leaves or the connection breaks.
func (s *session) Serve() {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("ManageSieve session panicked", "panic", p)
		}
		s.Close()
		s.log.Debug("ManageSieve session ended")
	}()
	s.writeCapabilities()
	s.respond("OK", "", s.srv.opts.Hostname+" Yubin ManageSieve ready")
	if !s.flush() {
		return
	}
	for s.state != stateLogout {
		cmd, err := s.readCommand()
		if !s.handleReadError(err) {
			return
		}
		if cmd != nil {
			s.dispatch(cmd)
		}
		if s.errors >= maxErrors {
			s.respond("BYE", "", "Too many errors")
			s.state = stateLogout
		}
		if s.br.Buffered() == 0 || s.state == stateLogout {
			if !s.flush() {
				return
			}
		}
	}
}

// handleReadError answers a failed read; false ends the session.
func (s *session) handleReadError(err error) bool {
	var se *errSyntax
	var fe *errFatalInput
	var ne net.Error
	switch {
	case err == nil:
		return true
	case errors.As(err, &se):
		s.errors++
		s.respond("NO", se.code, se.msg)
		return true
	case errors.Is(err, netutil.ErrShuttingDown):
		s.bye("TRYLATER", "Server shutting down")
	case errors.As(err, &fe):
		s.log.Info("ManageSieve client error; closing", "err", fe.msg)
		s.bye("", fe.msg)
	case errors.As(err, &ne) && ne.Timeout():
		if s.srv.sessions.Closing() {
			s.bye("TRYLATER", "Server shutting down")
		} else {
			s.log.Info("ManageSieve session idle for too long; closing", "timeout", s.srv.opts.IdleTimeout.String())
			s.bye("", "Idle for too long")
		}
	}
	return false
}

// readCommand reads the next command within the idle timeout; when the
// server shuts down meanwhile it returns netutil.ErrShuttingDown.
func (s *session) readCommand() (*command, error) {
	if err := s.sc.StartWaiting(s.srv.opts.IdleTimeout); err != nil {
		return nil, err
	}
	cmd, err := s.r.readCommand()
	return cmd, s.sc.StopWaiting(err)
}

// Interrupt makes a session blocked reading a command return at once (it
// then says BYE); a session busy with a command finishes it first.
func (s *session) Interrupt() { s.sc.Interrupt() }

// Close closes the connection; safe from any goroutine, more than once.
func (s *session) Close() {
	s.cancel()
	if err := s.sc.Close(); err != nil {
		s.log.Debug("ManageSieve close connection", "err", err)
	}
}

// bye sends a BYE response and flushes it.
func (s *session) bye(code, text string) {
	s.respond("BYE", code, text)
	s.flush()
}

// flush sends the buffered responses; false if the connection broke.
func (s *session) flush() bool {
	if err := s.bw.Flush(); err != nil {
		s.log.Debug("ManageSieve write failed", "err", err)
		return false
	}
	return true
}

// line buffers one response line.
func (s *session) line(text string) {
	s.bw.WriteString(text)
	s.bw.WriteString("\r\n")
}

// respond buffers a final response: kind is OK, NO or BYE; code (without
// parentheses) and text may be empty.
func (s *session) respond(kind, code, text string) {
	var b strings.Builder
	b.WriteString(kind)
	if code != "" {
		b.WriteString(" (")
		b.WriteString(code)
		b.WriteString(")")
	}
	if text != "" {
		b.WriteString(" ")
		b.WriteString(quote(text))
	}
	s.line(b.String())
}

// writeCapabilities buffers the capability lines for the session's state.
func (s *session) writeCapabilities() {
	owner := ""
	if s.scripts != nil {
		owner = s.scripts.Owner()
	}
	for _, l := range s.srv.capabilities(s.isTLS, s.authAllowed(), owner) {
		s.line(l)
	}
}

// authAllowed reports whether the session may log in now.
func (s *session) authAllowed() bool {
	return s.isTLS || s.srv.opts.InsecureAuth(s.remote)
}

// deadlineWriter writes to the session's connection within the idle
// timeout, so that a client that stops reading cannot hold a session
// forever.
type deadlineWriter struct{ s *session }

func (w deadlineWriter) Write(p []byte) (int, error) {
	timeout := w.s.srv.opts.IdleTimeout
	if w.s.srv.sessions.Closing() {
		timeout = byeWriteTimeout
	}
	return w.s.sc.WriteWithin(p, timeout)
}

// quote formats s as a string of the protocol: quoted when it can be
// (RFC 5804 §4: up to 1024 octets of UTF-8 without CR, LF or NUL), else as
// a literal.
func quote(s string) string {
	if len(s) <= maxQuotedBytes && utf8.ValidString(s) && !strings.ContainsAny(s, "\r\n\x00") {
		var b strings.Builder
		b.Grow(len(s) + 2)
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
		return b.String()
	}
	return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
}
