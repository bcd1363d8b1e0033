// Package clamd is a client for the ClamAV daemon (clamd) and a filter that
// rejects messages in which clamd finds a virus.
//
// The client speaks clamd's own protocol directly: null-terminated
// ("z"-prefixed) commands, and INSTREAM for scanning, where the data is sent
// as chunks each preceded by its length as a 4-byte big-endian integer and
// ended by a zero-length chunk.
package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// DefaultChunkSize is the size of the INSTREAM chunks sent when
// Client.ChunkSize is 0.
const DefaultChunkSize = 64 << 10

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

// Client talks to one clamd. A Client is safe for concurrent use: every
// call opens its own connection.
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

// dial connects to clamd. It returns the context bounding the call (ctx
// with c.Timeout applied) and a stop function to call when done, which
// closes the connection. Blocked reads and writes on the connection are
// interrupted when the returned context is done.
func (c *Client) dial(ctx context.Context) (context.Context, net.Conn, func(), error) {
	if c.Addr == "" {
		return nil, nil, nil, errors.New("clamd: no address configured")
	}
	cancel := context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, c.Timeout,
			fmt.Errorf("timed out after %v", c.Timeout))
	}
	network, addr := c.network()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		err = wrapErr(ctx, "connect", err)
		cancel()
		return nil, nil, nil, err
	}
	// The deadline is enforced through ctx alone, so that an I/O error
	// caused by it always finds ctx done and reports its cause.
	stopWatch := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
	})
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
	reply, err := readReply(conn)
	if err != nil {
		return "", wrapErr(ctx, cmd, err)
	}
	return reply, nil
}

// readReply reads a reply terminated by a null byte (or newline, or the end
// of the connection) and returns it without the terminator.
func readReply(r io.Reader) (string, error) {
	var buf []byte
	tmp := make([]byte, 512)
	for {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexAny(buf, "\x00\n"); i >= 0 {
			return string(buf[:i]), nil
		}
		if len(buf) > maxReplyLen {
			return "", errors.New("reply too long")
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return string(buf), nil
			}
			return "", err
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

// Scan sends the data of r to clamd with INSTREAM and returns the result.
// An error is returned when clamd cannot be reached, fails, or the data
// exceeds clamd's StreamMaxLength (ErrSizeLimit).
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	ctx, conn, stop, err := c.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return Result{}, wrapErr(ctx, "INSTREAM", err)
	}
	if err := c.stream(conn, r); err != nil {
		var rerr readError
		if errors.As(err, &rerr) {
			return Result{}, fmt.Errorf("clamd: reading message: %w", rerr.err)
		}
		// clamd closes the connection early when the stream is too
		// large, after sending its reply: read it if it is there.
		if reply, rerr := readReply(conn); rerr == nil {
			if res, perr := parseScanReply(reply); perr != nil || res.Infected {
				return res, perr
			}
		}
		return Result{}, wrapErr(ctx, "INSTREAM", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return Result{}, wrapErr(ctx, "INSTREAM", err)
	}
	return parseScanReply(reply)
}

// readError marks an error reading the data to scan, as opposed to writing
// it to clamd.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// stream writes the data of r to w as INSTREAM chunks, ended by a
// zero-length chunk.
func (c *Client) stream(w io.Writer, r io.Reader) error {
	size := c.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	buf := make([]byte, 4+size)
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, werr := w.Write(buf[:4+n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return readError{err}
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return err
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
