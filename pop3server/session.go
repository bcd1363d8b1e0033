package pop3server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"github.com/yubinmail/yubin/internal/netutil"
)

// Sizes of a session's buffers.
const (
	// writeBufferSize is large so that RETR writes big segments.
	writeBufferSize = 64 * 1024
	// copyBufferSize is what a RETR reads from a message at a time.
	copyBufferSize = 32 * 1024
	// handshakeTimeout bounds a TLS handshake (implicit TLS or STLS).
	handshakeTimeout = 30 * time.Second
)

// state is a session's RFC 1939 state. UPDATE is not a state of its own:
// it happens within QUIT.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// session is one client connection.
type session struct {
	srv    *Server
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	remote net.Addr
	ip     netip.Addr

	// sc is the connection (the TLS connection after STLS), shared with
	// Interrupt and Close.
	sc *netutil.SessionConn

	br         *bufio.Reader
	bw         *bufio.Writer
	tls        bool
	insecureOK bool // InsecureAuth allows logins without TLS
	quit       bool // close after the reply

	state       state
	badCommands int
	pendingUser string // from USER, waiting for PASS

	// TRANSACTION state.
	user     string
	maildrop Maildrop
	msgs     []MessageInfo
	deleted  []bool
	copyBuf  []byte
	// prereadBuf holds a message read before answering (see preread).
	prereadBuf []byte
	retrs      int   // RETR and TOP commands answered
	octets     int64 // bytes of message data sent
}

func newSession(srv *Server, c net.Conn) *session {
	s := &session{
		srv:    srv,
		sc:     netutil.NewSessionConn(c, srv.sessions.Stopping()),
		remote: c.RemoteAddr(),
		ip:     addrIP(c.RemoteAddr()),
		tls:    isTLS(c),
	}
	s.ctx, s.cancel = context.WithCancel(srv.ctx)
	s.log = srv.log.With("remote", s.remote.String())
	s.insecureOK = srv.opts.InsecureAuth(s.remote)
	s.br = newLineReader(c, srv.opts.MaxLineLength)
	s.bw = bufio.NewWriterSize(deadlineWriter{s}, writeBufferSize)
	return s
}

// Serve runs the session until the client quits or the connection ends.
func (s *session) Serve() {
	defer s.end()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("POP3 session panicked; closing the connection", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if hs, ok := s.sc.Conn().(handshaker); ok {
		if err := s.handshake(hs); err != nil {
			s.log.Debug("POP3 TLS handshake failed", "err", err)
			return
		}
	}
	s.log.Debug("POP3 session started", "tls", s.tls)
	s.reply("+OK " + s.srv.opts.Hostname + " POP3 server ready")
	if !s.flush() {
		return
	}
	for !s.quit {
		line, err := s.readLine()
		switch {
		case errors.Is(err, netutil.ErrShuttingDown):
			s.reply("-ERR [SYS/TEMP] server shutting down")
			s.flush()
			return
		case errors.Is(err, errLineTooLong):
			s.bad("-ERR line too long")
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log.Info("POP3 session idle for too long; closing", "timeout", s.srv.opts.IdleTimeout.String())
			s.reply("-ERR autologout: idle for too long")
			s.flush()
			return
		case err != nil:
			return // the client went away
		default:
			s.handle(line)
		}
		// Pipelined commands are answered together.
		if s.quit || s.br.Buffered() == 0 {
			if !s.flush() {
				return
			}
		}
	}
}

// end releases what the session holds: its maildrop lock and connection.
// Nothing is deleted here: that happens only in QUIT.
func (s *session) end() {
	if s.maildrop != nil {
		s.maildrop.Close()
		s.srv.unlockMaildrop(s.maildrop.ID())
	}
	s.Close()
	s.log.Debug("POP3 session ended", "user", s.user, "retrieved", s.retrs, "octets", s.octets)
}

// readLine reads the next line within the idle timeout. When the server
// shuts down meanwhile (see Interrupt) it returns netutil.ErrShuttingDown.
func (s *session) readLine() ([]byte, error) {
	if err := s.sc.StartWaiting(s.srv.opts.IdleTimeout); err != nil {
		return nil, err
	}
	line, err := readLine(s.br)
	return line, s.sc.StopWaiting(err)
}

// handshaker is a TLS connection whose handshake has not run yet.
type handshaker interface {
	HandshakeContext(context.Context) error
}

// handshake runs a TLS handshake within handshakeTimeout. Like readLine,
// it waits for the client, so Shutdown interrupts it (see Interrupt).
func (s *session) handshake(hs handshaker) error {
	if err := s.sc.StartWaiting(0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
	err := hs.HandshakeContext(ctx)
	cancel()
	err = s.sc.StopWaiting(err)
	return err
}

// Interrupt makes a session blocked reading a line return at once
// (readLine then reports netutil.ErrShuttingDown). A session busy with a
// command is left alone: it sees the shutdown when it reads the next line.
func (s *session) Interrupt() { s.sc.Interrupt() }

// Close closes the connection and ends the session's backend I/O; safe
// from any goroutine, more than once.
func (s *session) Close() {
	s.cancel()
	if err := s.sc.Close(); err != nil {
		s.log.Debug("POP3 close connection", "err", err)
	}
}

// reply buffers one response line; serve flushes it.
func (s *session) reply(line string) {
	s.bw.WriteString(line)
	s.bw.WriteString("\r\n")
}

// replyf is reply with formatting.
func (s *session) replyf(format string, args ...any) {
	fmt.Fprintf(s.bw, format, args...)
	s.bw.WriteString("\r\n")
}

// flush sends the buffered responses; false (and the session is to end)
// if the connection failed.
func (s *session) flush() bool {
	if err := s.bw.Flush(); err != nil {
		s.log.Debug("POP3 write failed", "err", err)
		s.quit = true
		return false
	}
	return true
}

// bad answers a bad command with line, or ends the session when it has
// sent too many.
func (s *session) bad(line string) {
	s.badCommands++
	if s.badCommands >= s.srv.opts.MaxBadCommands {
		s.log.Info("POP3 session sent too many bad commands; closing", "count", s.badCommands)
		s.reply("-ERR too many bad commands; closing the connection")
		s.quit = true
		return
	}
	s.reply(line)
}

// deadlineWriter writes to the session's current connection, each write
// within the idle timeout, so that a client that stops reading cannot hold
// a session forever.
type deadlineWriter struct{ s *session }

func (w deadlineWriter) Write(p []byte) (int, error) {
	return w.s.sc.WriteWithin(p, w.s.srv.opts.IdleTimeout)
}
