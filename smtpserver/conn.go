package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/netutil"
)

// Conn is one client connection: the engine's state machine, and what a
// Backend may learn of the connection.
type Conn struct {
	srv *Server
	sc  *netutil.SessionConn
	raw net.Conn // the TCP connection, under any TLS
	log *slog.Logger
	ctx context.Context
	end context.CancelFunc

	// wmu guards w: replies are written by the connection's goroutine,
	// and by the session (Writer) from a BDAT transfer's goroutine.
	wmu  sync.Mutex
	w    *bufio.Writer
	werr error
	r    *bufio.Reader
	// dataMode renews the read deadline before every read from the
	// socket while a message comes in.
	dataMode atomic.Bool

	tls    *tls.ConnectionState // nil without TLS
	helo   string
	ehlo   bool
	sess   Session // nil before HELO/EHLO, and after STARTTLS until the next
	authed bool
	errors int // refused commands (see Options.MaxErrors)
	junk   int // commands that move no mail forward (see maxJunkCommands)

	// The transaction: MAIL accepted, how many RCPTs; the BDAT/BURL
	// transfer under way, if any.
	inTx  atomic.Bool
	mail  bool
	rcpts int
	chunk *transfer
}

// newConn returns the state machine for a new connection.
func newConn(s *Server, c net.Conn) *Conn {
	ctx, cancel := context.WithCancel(s.ctx)
	conn := &Conn{
		srv: s,
		sc:  netutil.NewSessionConn(c, s.sessions.Stopping()),
		raw: c,
		log: s.log.With("remote", c.RemoteAddr().String()),
		ctx: ctx,
		end: cancel,
	}
	if tc, ok := c.(*tls.Conn); ok {
		conn.raw = tc.NetConn()
	}
	conn.setIO(c)
	return conn
}

// setIO makes c the connection replies go to and commands come from.
func (c *Conn) setIO(nc net.Conn) {
	c.wmu.Lock()
	c.w = bufio.NewWriterSize(&socketWriter{nc: nc, timeout: c.srv.opts.WriteTimeout}, 4096)
	c.wmu.Unlock()
	c.r = bufio.NewReaderSize(&socketReader{c: c, nc: nc}, 8192)
}

// socketReader reads from the connection, renewing the read deadline first
// while a message comes in: ReadTimeout then bounds the silence between
// two packets, not the time to send the whole message.
type socketReader struct {
	c  *Conn
	nc net.Conn
}

func (s *socketReader) Read(p []byte) (int, error) {
	if s.c.dataMode.Load() {
		_ = s.nc.SetReadDeadline(time.Now().Add(s.c.srv.opts.ReadTimeout))
	}
	return s.nc.Read(p)
}

// socketWriter writes to the connection within WriteTimeout from the
// start of each write (the reply buffer writes when it is full, too), so
// that a client that stops reading cannot hold a session forever.
type socketWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (s *socketWriter) Write(p []byte) (int, error) {
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.nc.Write(p)
}

// Hostname is the name the client gave in HELO or EHLO.
func (c *Conn) Hostname() string { return c.helo }

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr is the address the client connected to.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// TLS is the state of the connection's TLS; nil without TLS.
func (c *Conn) TLS() *tls.ConnectionState { return c.tls }

// NetConn is the TCP connection under any TLS: closing it ends the session.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Writer writes raw reply lines in order with the engine's replies, at
// once: for a session that says its last word (a 421) itself before
// closing the connection.
func (c *Conn) Writer() io.Writer { return connWriter{c} }

type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	n, err := w.c.w.Write(p)
	if err == nil {
		err = w.c.flushLocked()
	}
	return n, err
}

// Interrupt implements netutil.Session: a session waiting for its next
// command outside a transaction is told 421 and ends; one in a
// transaction finishes it first.
func (c *Conn) Interrupt() {
	if !c.inTx.Load() {
		c.sc.Interrupt()
	}
}

// Close implements netutil.Session.
func (c *Conn) Close() {
	c.end()
	_ = c.sc.Close()
}

// errQuit ends the command loop.
var errQuit = errors.New("session ends")

// Serve implements netutil.Session: it runs the session.
func (c *Conn) Serve() {
	defer c.end()
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic in SMTP session", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	defer c.logout()
	if tc, ok := c.sc.Conn().(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
	}
	c.reply(220, smtp.NoEnhancedCode, c.srv.opts.Hostname+" ESMTP ready")
	for {
		line, err := c.readCommand()
		if errors.Is(err, netutil.ErrShuttingDown) {
			c.reply(421, smtp.EnhancedCode{4, 3, 2}, c.srv.opts.Hostname+" shutting down")
			c.flush()
			return
		}
		if errors.Is(err, errLineTooLong) {
			c.fail(500, smtp.EnhancedCode{5, 5, 2}, fmt.Sprintf("Command line too long (the limit is %d bytes)", maxLineBytes))
		} else if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				// RFC 5321 §4.5.3.2: a silent client is told, then closed.
				c.reply(421, smtp.EnhancedCode{4, 4, 2}, c.srv.opts.Hostname+" timeout, closing the connection")
				c.flush()
			}
			c.log.Debug("SMTP session ended", "err", err)
			return
		} else if err := c.dispatch(line); errors.Is(err, errQuit) {
			c.flush()
			return
		}
		if c.writeFailed() {
			return
		}
		if c.errors >= c.srv.opts.MaxErrors {
			c.reply(421, smtp.EnhancedCode{4, 7, 0}, "Too many errors, closing the connection")
			c.flush()
			c.log.Info("SMTP session closed after too many errors", "errors", c.errors)
			return
		}
	}
}

// handshake completes the TLS handshake of an implicit-TLS connection.
func (c *Conn) handshake(tc *tls.Conn) bool {
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.HandshakeContext(c.ctx)
	_ = tc.SetDeadline(time.Time{})
	if err != nil {
		c.log.Info("TLS handshake failed", "err", err)
		return false
	}
	st := tc.ConnectionState()
	c.tls = &st
	return true
}

// logout ends the session's backend at the end of the connection.
func (c *Conn) logout() {
	c.abortTransfer()
	if c.sess != nil {
		if err := c.sess.Logout(); err != nil {
			c.log.Debug("logout", "err", err)
		}
		c.sess = nil
	}
}

// errLineTooLong is the error of a line over the limit (read and
// discarded to its end).
var errLineTooLong = errors.New("line too long")

// readCommand waits for the next command line. Outside a transaction the
// wait can be interrupted by a shutdown.
func (c *Conn) readCommand() (string, error) {
	if c.pendingLine() {
		// Pipelined commands are already here: their replies go out
		// together.
	} else if err := c.flush(); err != nil {
		return "", err
	}
	timeout := c.srv.opts.ReadTimeout
	if c.inTx.Load() {
		_ = c.sc.Conn().SetReadDeadline(time.Now().Add(timeout))
		return c.readLine(maxLineBytes)
	}
	if err := c.sc.StartWaiting(timeout); err != nil {
		return "", err
	}
	line, err := c.readLine(maxLineBytes)
	return line, c.sc.StopWaiting(err)
}

// pendingLine reports whether a whole line is already buffered.
func (c *Conn) pendingLine() bool {
	n := c.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// readLine reads a line of at most limit bytes with its end; the line end
// (CRLF, or a bare LF) is removed. A longer line is read to its end and
// errLineTooLong returned.
func (c *Conn) readLine(limit int) (string, error) {
	var buf []byte
	tooLong := false
	for {
		frag, err := c.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(frag) > limit {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if tooLong {
		return "", errLineTooLong
	}
	buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte{'\r'})
	return string(buf), nil
}

// reply writes a reply: code, the enhanced status code unless it is
// smtp.NoEnhancedCode, and the text, one line per line of text.
func (c *Conn) reply(code int, enh smtp.EnhancedCode, text string) {
	lines := strings.Split(strings.ReplaceAll(text, "\r", ""), "\n")
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if enh != smtp.NoEnhancedCode {
			l = fmt.Sprintf("%d.%d.%d %s", enh[0], enh[1], enh[2], l)
		}
		if _, err := fmt.Fprintf(c.w, "%03d%s%s\r\n", code, sep, l); err != nil && c.werr == nil {
			c.werr = err
		}
	}
}

// replyLines writes a multi-line reply without enhanced codes (EHLO).
func (c *Conn) replyLines(code int, lines []string) {
	c.reply(code, smtp.NoEnhancedCode, strings.Join(lines, "\n"))
}

// fail writes an error reply of the engine's own (a bad command or one out
// of sequence) and counts it.
func (c *Conn) fail(code int, enh smtp.EnhancedCode, text string) {
	c.errors++
	c.reply(code, enh, text)
}

// replyErr writes the reply for a backend's result: an *smtp.SMTPError as
// it is, nil as ok, any other error as 451 4.0.0. It reports whether the
// result was a success (2xx).
func (c *Conn) replyErr(err error, okCode int, okEnh smtp.EnhancedCode, okText string) bool {
	if err == nil {
		c.reply(okCode, okEnh, okText)
		return true
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		c.log.Error("SMTP session error", "err", err)
		c.reply(451, smtp.EnhancedCode{4, 0, 0}, "Local error, please try again later")
		return false
	}
	enh := se.EnhancedCode
	if enh == smtp.EnhancedCodeNotSet {
		enh = smtp.EnhancedCode{se.Code / 100, 0, 0}
	}
	msg := se.Message
	if msg == "" {
		msg = "Error"
	}
	c.reply(se.Code, enh, msg)
	if se.Code == 421 {
		// RFC 5321 §3.8: the server closes the connection after a 421.
		c.flush()
		_ = c.sc.Close()
	}
	return se.Code/100 == 2
}

// writeFailed reports whether writing to the client failed (or reading,
// within a command): the session is over.
func (c *Conn) writeFailed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr != nil
}

// lost records that the connection failed within a command.
func (c *Conn) lost(err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr == nil {
		c.werr = err
	}
}

// flush sends the buffered replies.
func (c *Conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if c.w.Buffered() == 0 {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		c.werr = fmt.Errorf("write reply: %w", err)
	}
	return c.werr
}

// endTransaction forgets the transaction and tells the session.
func (c *Conn) endTransaction() {
	c.mail, c.rcpts, c.chunk = false, 0, nil
	if c.sess != nil {
		c.sess.Reset()
	}
	c.inTx.Store(false)
}
