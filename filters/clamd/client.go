// Package clamd is a client for the ClamAV daemon (clamd) and a filter that
// rejects messages in which clamd finds a virus.
//
// The client speaks clamd's own protocol directly: null-terminated
// ("z"-prefixed) commands, and INSTREAM for scanning, where the data is sent
// as chunks each preceded by its length as a 4-byte big-endian integer and
// ended by a zero-length chunk.
//
// By default Scan runs on clamd sessions (IDSESSION): connections kept open
// across scans, each scan's reply prefixed with its request number. This
// saves connecting and accepting for every message; see Client.MaxIdle.
package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// DefaultChunkSize is the size of the INSTREAM chunks sent when
// Client.ChunkSize is 0.
const DefaultChunkSize = 64 << 10

// DefaultMaxIdle is the number of idle sessions a Client keeps when
// Client.MaxIdle is 0.
const DefaultMaxIdle = 20

// DefaultIdleTimeout is how long an idle session is kept when
// Client.IdleTimeout is 0: below clamd's default IdleTimeout of 30 seconds,
// after which clamd closes idle sessions itself.
const DefaultIdleTimeout = 20 * time.Second

// maxReplyLen bounds the reply read from clamd.
const maxReplyLen = 4 << 10

// ErrSizeLimit is returned (wrapped) by Scan when the stream exceeds clamd's
// StreamMaxLength.
var ErrSizeLimit = errors.New("clamd: INSTREAM size limit exceeded")

// Result is the outcome of a scan.
type Result struct {
	// Infected reports whether clamd found a virus.
	Infected bool
	// Signature is the name of the virus found, "" if clean.
	Signature string
}

// Client talks to one clamd. A Client is safe for concurrent use.
//
// Ping and Version open a connection per call. Scan runs on clamd sessions
// (IDSESSION) that it keeps open for later scans, up to MaxIdle idle ones;
// with a negative MaxIdle every scan opens its own connection too. Close
// closes the idle sessions. A Client must not be copied after first use.
type Client struct {
	// Addr is where clamd listens: "host:port" for TCP, or "unix:/path"
	// (or an absolute path) for a Unix socket.
	Addr string
	// Timeout bounds each call (connecting, sending and waiting for the
	// reply), on top of the deadline of the call's context. 0 means only
	// the context bounds it.
	Timeout time.Duration
	// ChunkSize is the size of the INSTREAM chunks; 0 means
	// DefaultChunkSize.
	ChunkSize int
	// MaxIdle is the number of idle session connections kept for reuse
	// by Scan. 0 means DefaultMaxIdle; a negative value disables
	// sessions, so that every scan opens and closes its own connection.
	MaxIdle int
	// IdleTimeout is how long an idle session is kept; 0 means
	// DefaultIdleTimeout. Keep it below clamd's IdleTimeout.
	IdleTimeout time.Duration

	mu     sync.Mutex
	idle   []*session // most recently used last
	closed bool
}

// network returns the network and address to dial for c.Addr.
func (c *Client) network() (string, string) {
	switch {
	case strings.HasPrefix(c.Addr, "unix:"):
		return "unix", strings.TrimPrefix(c.Addr, "unix:")
	case strings.HasPrefix(c.Addr, "/"):
		return "unix", c.Addr
	}
	return "tcp", c.Addr
}

// callContext returns the context bounding one call: ctx with c.Timeout
// applied.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Timeout > 0 {
		return context.WithTimeoutCause(ctx, c.Timeout,
			fmt.Errorf("timed out after %v", c.Timeout))
	}
	return ctx, func() {}
}

// errNoAddr is returned when Client.Addr is empty.
var errNoAddr = errors.New("clamd: no address configured")

// dialConn connects to clamd within ctx.
func (c *Client) dialConn(ctx context.Context) (net.Conn, error) {
	if c.Addr == "" {
		return nil, errNoAddr
	}
	network, addr := c.network()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, wrapErr(ctx, "connect", err)
	}
	return conn, nil
}

// watch interrupts blocked reads and writes on conn when ctx is done. The
// deadline is enforced through ctx alone, so that an I/O error caused by it
// always finds ctx done and reports its cause. The returned stop function
// reports whether it stopped the watch before it fired: if not, conn has a
// deadline in the past and must not be used again.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
	})
}

// dial connects to clamd. It returns the context bounding the call (ctx
// with c.Timeout applied) and a stop function to call when done, which
// closes the connection. Blocked reads and writes on the connection are
// interrupted when the returned context is done.
func (c *Client) dial(ctx context.Context) (context.Context, net.Conn, func(), error) {
	if c.Addr == "" {
		return nil, nil, nil, errNoAddr
	}
	ctx, cancel := c.callContext(ctx)
	conn, err := c.dialConn(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	stopWatch := watch(ctx, conn)
	return ctx, conn, func() { stopWatch(); conn.Close(); cancel() }, nil
}

// wrapErr turns an I/O error on a connection watched by ctx into a
// descriptive error, preferring ctx's cause when ctx is done.
func wrapErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("clamd: %s: %w", op, context.Cause(ctx))
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("clamd: %s: connection closed by server", op)
	}
	return fmt.Errorf("clamd: %s: %w", op, err)
}

// command sends the null-terminated command cmd (without its "z" prefix) and
// returns the reply.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	ctx, conn, stop, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", wrapErr(ctx, cmd, err)
	}
	reply, _, err := readReply(conn)
	if err != nil {
		return "", wrapErr(ctx, cmd, err)
	}
	return reply, nil
}

// readReply reads a reply terminated by a null byte (or newline, or the end
// of the connection) and returns it without the terminator. trailing
// reports whether more bytes were read after the terminator.
func readReply(r io.Reader) (reply string, trailing bool, err error) {
	var buf []byte
	var tmp [512]byte
	for {
		n, err := r.Read(tmp[:])
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexAny(buf, "\x00\n"); i >= 0 {
			return string(buf[:i]), i+1 < len(buf), nil
		}
		if len(buf) > maxReplyLen {
			return "", false, errors.New("reply too long")
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return string(buf), false, nil
			}
			return "", false, err
		}
	}
}

// Ping checks that clamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd: unexpected reply to PING: %q", reply)
	}
	return nil
}

// Version returns clamd's version string, e.g.
// "ClamAV 1.0.7/27480/Mon Dec  9 09:33:48 2024".
func (c *Client) Version(ctx context.Context) (string, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV") {
		return "", fmt.Errorf("clamd: unexpected reply to VERSION: %q", reply)
	}
	return reply, nil
}

// parseScanReply interprets clamd's reply to INSTREAM.
func parseScanReply(reply string) (Result, error) {
	reply = strings.TrimSpace(reply)
	switch {
	case strings.HasSuffix(reply, " ERROR"):
		msg := strings.TrimSuffix(reply, " ERROR")
		if strings.Contains(msg, "size limit exceeded") {
			return Result{}, fmt.Errorf("%w: %s", ErrSizeLimit, msg)
		}
		return Result{}, fmt.Errorf("clamd: %s", msg)
	case strings.HasSuffix(reply, " FOUND"):
		sig := strings.TrimSuffix(reply, " FOUND")
		// "stream: Sig FOUND", possibly preceded by a request number
		// ("1: stream: Sig FOUND"): cut at the last ": ".
		if i := strings.LastIndex(sig, ": "); i >= 0 {
			sig = sig[i+2:]
		}
		sig = strings.TrimSpace(sig)
		if sig == "" {
			return Result{}, fmt.Errorf("clamd: unexpected reply: %q", reply)
		}
		return Result{Infected: true, Signature: sig}, nil
	case strings.HasSuffix(reply, ": OK") || reply == "OK":
		return Result{}, nil
	}
	return Result{}, fmt.Errorf("clamd: unexpected reply: %q", reply)
}
