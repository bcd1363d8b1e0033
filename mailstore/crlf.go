package mailstore

import "io"

// crlfReader turns bare LF line endings into CRLF, so that every stored
// message has the canonical form IMAP sizes and POP3 octet counts rely on.
type crlfReader struct {
	r       io.Reader
	buf     []byte
	out     []byte
	prevCR  bool
	pending []byte
	err     error
}

func newCRLFReader(r io.Reader) io.Reader {
	// 8 KiB a read: a small message in one, a large one in a few more
	// reads than with a larger buffer, and little to allocate per message.
	const size = 8 << 10
	return &crlfReader{r: r, buf: make([]byte, size), out: make([]byte, 0, size+size/8)}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.r.Read(c.buf)
		c.err = err
		c.out = c.out[:0]
		for _, b := range c.buf[:n] {
			if b == '\n' && !c.prevCR {
				c.out = append(c.out, '\r')
			}
			c.out = append(c.out, b)
			c.prevCR = b == '\r'
		}
		c.pending = c.out
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}
