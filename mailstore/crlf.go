package mailstore

import (
	"bytes"
	"io"
	"sync"
)

// crlfReader turns bare LF line endings into CRLF, so that every stored
// message has the canonical form IMAP sizes and POP3 octet counts rely on.
// It writes straight into the caller's buffer; its own read buffer comes
// from crlfBufs and goes back there once the input has ended.
type crlfReader struct {
	r      io.Reader
	buf    *[]byte // read buffer, nil once given back
	in     []byte  // input read and not yet passed on
	prevCR bool    // the last byte passed on was a CR
	err    error
}

// crlfBufSize is the size of a crlfReader's read buffer: a small message
// in one read, a large one in a few more reads than with a larger buffer.
const crlfBufSize = 8 << 10

// crlfBufs keeps the read buffers of crlfReaders that reached the end of
// their input, for the next message.
var crlfBufs = sync.Pool{New: func() any { b := make([]byte, crlfBufSize); return &b }}

func newCRLFReader(r io.Reader) io.Reader {
	return &crlfReader{r: r}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if c.err != nil {
			if c.buf != nil {
				crlfBufs.Put(c.buf)
				c.buf = nil
			}
			return 0, c.err
		}
		if c.buf == nil {
			c.buf = crlfBufs.Get().(*[]byte)
		}
		n, err := c.r.Read(*c.buf)
		c.in, c.err = (*c.buf)[:n], err
	}
	n := 0
	for len(c.in) > 0 && n < len(p) {
		if c.in[0] == '\n' {
			if !c.prevCR {
				// The CR first; the LF follows it as the LF of a CRLF,
				// in this call or the next.
				p[n] = '\r'
				n++
				c.prevCR = true
				continue
			}
			p[n] = '\n'
			n++
			c.prevCR = false
			c.in = c.in[1:]
			continue
		}
		run := c.in
		if i := bytes.IndexByte(run, '\n'); i >= 0 {
			run = run[:i]
		}
		m := copy(p[n:], run)
		c.prevCR = run[m-1] == '\r'
		n += m
		c.in = c.in[m:]
	}
	return n, nil
}
