package clamd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// cmdInstream starts an INSTREAM scan.
	cmdInstream = "zINSTREAM\x00"
	// cmdSession starts a session; it is sent with the session's first
	// INSTREAM.
	cmdSession = "zIDSESSION\x00"
	// hdrRoom is the room left in a scanData buffer before the length of
	// a chunk, for the commands sent with the first chunk.
	hdrRoom = len(cmdSession) + len(cmdInstream)
	// idleClosedReply is what clamd sends before it closes a connection
	// that stayed idle too long.
	idleClosedReply = "COMMAND READ TIMED OUT"
)

// bufPool holds scanData buffers for DefaultChunkSize.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, hdrRoom+4+DefaultChunkSize+4)
	return &b
}}

// scanData is the data of one scan and its INSTREAM framing. Its first
// chunk is read before anything is sent, so that it can be sent again when
// a scan is retried: from the buffer if it holds all the data, or after
// seeking back if the reader is an io.Seeker.
type scanData struct {
	r io.Reader
	// buf has room for the commands (hdrRoom), a chunk's length, the
	// chunk and the terminating zero-length chunk.
	buf    []byte
	pooled bool
	// n is the length of the first chunk, at buf[hdrRoom+4:].
	n int
	// eof reports that the first chunk holds all the data.
	eof bool
	// seeker is r if it is an io.Seeker whose offset was start at the
	// beginning; nil otherwise.
	seeker io.Seeker
	start  int64
}

// readError marks an error reading the data to scan, as opposed to writing
// it to clamd.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// newScanData reads the first chunk of r. Call free when done.
func (c *Client) newScanData(r io.Reader) (*scanData, error) {
	d := &scanData{r: r}
	size := c.ChunkSize
	if size <= 0 || size == DefaultChunkSize {
		d.buf, d.pooled = *bufPool.Get().(*[]byte), true
	} else {
		d.buf = make([]byte, hdrRoom+4+size+4)
	}
	if s, ok := r.(io.Seeker); ok {
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			d.seeker, d.start = s, pos
		}
	}
	if err := d.readFirst(); err != nil {
		d.free()
		return nil, fmt.Errorf("clamd: reading message: %w", err)
	}
	return d, nil
}

// free returns d's buffer to the pool.
func (d *scanData) free() {
	if d.pooled {
		b := d.buf
		d.buf, d.pooled = nil, false
		bufPool.Put(&b)
	}
}

// chunk returns the part of d.buf that receives a chunk.
func (d *scanData) chunk() []byte { return d.buf[hdrRoom+4 : len(d.buf)-4] }

// readFirst reads the first chunk.
func (d *scanData) readFirst() error {
	n, err := io.ReadFull(d.r, d.chunk())
	d.n = n
	d.eof = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !d.eof {
		return err
	}
	return nil
}

// rewind makes d ready to be sent again and reports whether it could.
func (d *scanData) rewind() bool {
	if d.eof {
		// Nothing was read after the first chunk, which is still in
		// the buffer.
		return true
	}
	if d.seeker == nil {
		return false
	}
	if _, err := d.seeker.Seek(d.start, io.SeekStart); err != nil {
		return false
	}
	return d.readFirst() == nil
}

// send writes cmd, which ends with cmdInstream, and the data as INSTREAM
// chunks ended by a zero-length chunk, in as few writes as it can: one for
// data that fit in a chunk, otherwise one per chunk with the terminator
// sent along with the last partial chunk. An error reading the data is
// returned as a readError.
func (d *scanData) send(w io.Writer, cmd string) error {
	start := hdrRoom - len(cmd)
	copy(d.buf[start:], cmd)
	n, eof := d.n, d.eof
	for {
		end := hdrRoom
		if n > 0 {
			binary.BigEndian.PutUint32(d.buf[hdrRoom:], uint32(n))
			end += 4 + n
		}
		if eof {
			end += copy(d.buf[end:], []byte{0, 0, 0, 0})
		}
		if _, err := w.Write(d.buf[start:end]); err != nil {
			return err
		}
		if eof {
			return nil
		}
		var err error
		n, err = io.ReadFull(d.r, d.chunk())
		eof = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return readError{err}
		}
		start = hdrRoom
	}
}

// Scan sends the data of r to clamd with INSTREAM and returns the result.
// An error is returned when clamd cannot be reached, fails, or the data
// exceeds clamd's StreamMaxLength (ErrSizeLimit).
//
// Unless c.MaxIdle is negative, the scan runs on a session kept from an
// earlier scan when there is one. If that session fails before clamd
// replies (clamd may have closed it), the scan is retried once on a new
// connection, provided the data can be sent again: it fit in one chunk, or
// r is an io.Seeker.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	if c.Addr == "" {
		return Result{}, errNoAddr
	}
	d, err := c.newScanData(r)
	if err != nil {
		return Result{}, err
	}
	defer d.free()
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if c.MaxIdle < 0 {
		return c.scanConn(ctx, d)
	}
	s, reused, err := c.getSession(ctx)
	if err != nil {
		return Result{}, err
	}
	res, retry, err := c.scanSession(ctx, s, d)
	if retry && reused && ctx.Err() == nil && d.rewind() {
		if s, err = c.dialSession(ctx); err != nil {
			return Result{}, err
		}
		res, _, err = c.scanSession(ctx, s, d)
	}
	return res, err
}

// scanConn scans d on a connection of its own.
func (c *Client) scanConn(ctx context.Context, d *scanData) (Result, error) {
	conn, err := c.dialConn(ctx)
	if err != nil {
		return Result{}, err
	}
	stop := watch(ctx, conn)
	defer func() { stop(); conn.Close() }()
	werr := d.send(conn, cmdInstream)
	var rerr readError
	if errors.As(werr, &rerr) {
		return Result{}, fmt.Errorf("clamd: reading message: %w", rerr.err)
	}
	// clamd closes the connection early when the stream is too large,
	// after sending its reply: read it even if sending failed.
	reply, _, err := readReply(conn)
	if werr != nil {
		if err == nil {
			if res, perr := parseScanReply(reply); perr != nil || res.Infected {
				return res, perr
			}
		}
		return Result{}, wrapErr(ctx, "INSTREAM", werr)
	}
	if err != nil {
		return Result{}, wrapErr(ctx, "INSTREAM", err)
	}
	return parseScanReply(reply)
}

// session is a connection in clamd's session mode (IDSESSION).
type session struct {
	conn net.Conn
	// id is the number of the last request sent; clamd prefixes its
	// reply with it ("1: stream: OK").
	id int
	// idleSince is when the session was put back in the idle pool.
	idleSince time.Time
}

// dialSession opens a new session. IDSESSION is sent with its first
// command.
func (c *Client) dialSession(ctx context.Context) (*session, error) {
	conn, err := c.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	return &session{conn: conn}, nil
}

// getSession returns an idle session that still looks open, or a new one.
// reused reports a session that served earlier scans.
func (c *Client) getSession(ctx context.Context) (s *session, reused bool, err error) {
	for {
		s := c.takeIdle()
		if s == nil {
			break
		}
		if s.alive() {
			return s, true, nil
		}
		s.conn.Close()
	}
	s, err = c.dialSession(ctx)
	return s, false, err
}

// idleTimeout returns how long an idle session is kept.
func (c *Client) idleTimeout() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

// takeIdle removes the most recently used idle session from the pool and
// returns it, closing those idle for too long. It returns nil if there is
// none.
func (c *Client) takeIdle() *session {
	expired := time.Now().Add(-c.idleTimeout())
	c.mu.Lock()
	var old []*session
	i := 0
	for i < len(c.idle) && c.idle[i].idleSince.Before(expired) {
		i++
	}
	if i > 0 {
		old = append(old, c.idle[:i]...)
		c.idle = append(c.idle[:0], c.idle[i:]...)
		clear(c.idle[len(c.idle):cap(c.idle)])
	}
	var s *session
	if n := len(c.idle); n > 0 {
		s = c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
	}
	c.mu.Unlock()
	for _, o := range old {
		o.conn.Close()
	}
	return s
}

// putSession puts s in the idle pool, or closes it when the pool is full
// (then closing the oldest idle session instead) or the Client closed.
func (c *Client) putSession(s *session) {
	maxIdle := c.MaxIdle
	if maxIdle == 0 {
		maxIdle = DefaultMaxIdle
	}
	s.idleSince = time.Now()
	c.mu.Lock()
	if c.closed || maxIdle < 0 {
		c.mu.Unlock()
		s.conn.Close()
		return
	}
	var drop *session
	if len(c.idle) >= maxIdle {
		drop = c.idle[0]
		copy(c.idle, c.idle[1:])
		c.idle = c.idle[:len(c.idle)-1]
	}
	c.idle = append(c.idle, s)
	c.mu.Unlock()
	if drop != nil {
		drop.conn.Close()
	}
}

// scanSession scans d on s. It puts s back in the idle pool when the
// session can go on, and closes it otherwise. retry reports a failure
// before any reply to this request, which a new connection may not have.
func (c *Client) scanSession(ctx context.Context, s *session, d *scanData) (res Result, retry bool, err error) {
	keep := false
	stop := watch(ctx, s.conn)
	defer func() {
		if stop() && keep {
			c.putSession(s)
		} else {
			s.conn.Close()
		}
	}()
	cmd := cmdInstream
	if s.id == 0 {
		cmd = cmdSession + cmdInstream
	}
	s.id++
	werr := d.send(s.conn, cmd)
	var rerr readError
	if errors.As(werr, &rerr) {
		return Result{}, false, fmt.Errorf("clamd: reading message: %w", rerr.err)
	}
	// clamd closes the session when the stream is too large, after
	// sending its reply: read it even if sending failed.
	reply, trailing, err := readReply(s.conn)
	if err != nil {
		if werr != nil {
			err = werr
		}
		return Result{}, ctx.Err() == nil, wrapErr(ctx, "INSTREAM", err)
	}
	body, ok := strings.CutPrefix(reply, strconv.Itoa(s.id)+": ")
	if !ok {
		if strings.TrimSpace(reply) == idleClosedReply {
			return Result{}, ctx.Err() == nil, fmt.Errorf("clamd: INSTREAM: session closed by server: %s", idleClosedReply)
		}
		return Result{}, false, fmt.Errorf("clamd: INSTREAM: reply %q does not answer request %d", reply, s.id)
	}
	res, err = parseScanReply(body)
	if werr != nil {
		if err != nil || res.Infected {
			return res, false, err
		}
		return Result{}, false, wrapErr(ctx, "INSTREAM", werr)
	}
	// clamd ends the session after an error reply.
	keep = err == nil && !trailing
	return res, false, err
}

// Close closes the idle sessions. The Client can still be used, but keeps
// no more sessions for reuse.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	for _, s := range idle {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clamd: closing idle sessions: %w", err)
	}
	return nil
}
