// Package testsmtp is a bare SMTP client for tests that drive a real server
// over a socket: it writes raw bytes and reads replies one at a time, for
// what a full client library will not do (pipelining by hand, BDAT chunks,
// commands smuggled after STARTTLS, garbage).
package testsmtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"testing"
	"time"
)

// Wait bounds every read and write of a connection: long enough for a
// loaded machine, short enough that a hung server fails the test.
const Wait = 30 * time.Second

// Client is one SMTP connection. Conn and R are exported for tests that
// look below the reply level (a TLS upgrade by hand, a read that must see
// the connection closed).
type Client struct {
	TB   testing.TB
	Conn net.Conn
	R    *bufio.Reader
	tp   *textproto.Reader
}

// Dial connects to addr, reads the 220 greeting and closes the connection
// when the test ends.
func Dial(tb testing.TB, addr string) *Client {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	cl := New(tb, c)
	cl.Expect(220)
	return cl
}

// New wraps a connection that is already open (a TLS client over a
// connection after STARTTLS, say); it reads nothing.
func New(tb testing.TB, c net.Conn) *Client {
	_ = c.SetDeadline(time.Now().Add(Wait))
	r := bufio.NewReader(c)
	return &Client{TB: tb, Conn: c, R: r, tp: textproto.NewReader(r)}
}

// Write sends raw bytes as they are.
func (c *Client) Write(s string) {
	c.TB.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.TB.Fatalf("write: %v", err)
	}
}

// Reply reads one reply, all of its lines, and returns its code and text
// (lines joined by "\n").
func (c *Client) Reply() (int, string) {
	c.TB.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.TB.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// Expect reads one reply, fails the test unless it has code, and returns
// its text.
func (c *Client) Expect(code int) string {
	c.TB.Helper()
	got, msg := c.Reply()
	if got != code {
		c.TB.Fatalf("got reply %d %q, want %d", got, msg, code)
	}
	return msg
}

// Cmd sends one command line (CRLF added) and expects a reply with code.
func (c *Client) Cmd(line string, code int) string {
	c.TB.Helper()
	c.Write(line + "\r\n")
	return c.Expect(code)
}

// StartTLS sends STARTTLS, expects 220, completes the handshake with cfg
// and returns the client for the protected session.
func (c *Client) StartTLS(cfg *tls.Config) *Client {
	c.TB.Helper()
	c.Cmd("STARTTLS", 220)
	tc := tls.Client(c.Conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.TB.Fatalf("TLS handshake: %v", err)
	}
	return New(c.TB, tc)
}

// ExpectClosed fails the test unless the server closes the connection
// within five seconds without sending anything more.
func (c *Client) ExpectClosed() {
	c.TB.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.R.ReadByte()
	if err == nil {
		rest, _ := c.R.Peek(c.R.Buffered())
		c.TB.Fatalf("connection still open, read %q", string(b)+string(rest))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.TB.Fatal("connection still open (read timed out)")
	}
}
