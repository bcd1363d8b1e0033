package netutil

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrShuttingDown is returned by SessionConn.StartWaiting, and by reads it
// interrupted, once the server is shutting down: the session says goodbye
// and ends.
var ErrShuttingDown = errors.New("server shutting down")

// SessionConn is the connection of one session, shared between the
// session's goroutine and the Interrupt and Close that Sessions calls from
// others: it knows whether the session waits for its client, so that a
// shutdown interrupts a session between commands and never in one.
type SessionConn struct {
	stopping <-chan struct{}

	mu      sync.Mutex
	conn    net.Conn
	waiting bool
	closed  bool
}

// NewSessionConn wraps c; stopping is closed when the server shuts down
// (Sessions.Stopping).
func NewSessionConn(c net.Conn, stopping <-chan struct{}) *SessionConn {
	return &SessionConn{conn: c, stopping: stopping}
}

// Conn returns the current connection.
func (c *SessionConn) Conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// Replace swaps in the connection that wraps the current one (a TLS
// connection after STARTTLS).
func (c *SessionConn) Replace(nc net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = nc
}

// stoppingNow reports whether the server is shutting down.
func (c *SessionConn) stoppingNow() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// StartWaiting marks the session as waiting for its client, with a read
// deadline timeout from now (none if timeout is 0). It returns
// ErrShuttingDown if the server is shutting down. Call StopWaiting once
// the read returns.
func (c *SessionConn) StartWaiting(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stoppingNow() {
		return ErrShuttingDown
	}
	c.waiting = true
	if timeout > 0 {
		if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
	}
	return nil
}

// StopWaiting ends what StartWaiting began. err is the error of the read;
// when the server began shutting down meanwhile the result is
// ErrShuttingDown, else err.
func (c *SessionConn) StopWaiting(err error) error {
	c.mu.Lock()
	c.waiting = false
	c.mu.Unlock()
	if c.stoppingNow() {
		return ErrShuttingDown
	}
	return err
}

// Interrupt makes a read between StartWaiting and StopWaiting return at
// once; a session busy with a command is left alone (it sees the shutdown
// at its next StartWaiting).
func (c *SessionConn) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting && !c.closed {
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// Close closes the connection; safe from any goroutine, more than once.
func (c *SessionConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// WriteWithin writes to the current connection with a write deadline timeout
// from now, so that a client that stops reading cannot hold a session
// forever.
func (c *SessionConn) WriteWithin(p []byte, timeout time.Duration) (int, error) {
	conn := c.Conn()
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return 0, fmt.Errorf("set write deadline: %w", err)
	}
	return conn.Write(p)
}
