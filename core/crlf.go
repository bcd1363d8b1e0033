package core

import "io"

// NewCRLFReader returns a reader of r's bytes with every bare CR and bare
// LF (one not part of a CRLF) turned into a CRLF: the only line end of
// mail on the wire (RFC 5321 section 2.3.8). Mail that Yubin sends on goes
// through it, so that no receiver can read a line end, or an end of data,
// where another would not (SMTP smuggling).
func NewCRLFReader(r io.Reader) io.Reader {
	return &crlfReader{r: r, buf: make([]byte, 32*1024)}
}

type crlfReader struct {
	r       io.Reader
	buf     []byte
	out     []byte
	pos     int
	pending bool // the last byte read was a CR, its LF not seen yet
	err     error
}

// Read returns the normalised bytes.
func (c *crlfReader) Read(p []byte) (int, error) {
	for c.pos == len(c.out) {
		if c.err != nil {
			return 0, c.err
		}
		c.out, c.pos = c.out[:0], 0
		n, err := c.r.Read(c.buf)
		for _, b := range c.buf[:n] {
			switch {
			case c.pending:
				c.out = append(c.out, '\r', '\n')
				c.pending = b == '\r'
				if b != '\n' && b != '\r' {
					c.out = append(c.out, b)
				}
			case b == '\r':
				c.pending = true
			case b == '\n':
				c.out = append(c.out, '\r', '\n')
			default:
				c.out = append(c.out, b)
			}
		}
		if err != nil {
			if c.pending {
				c.pending = false
				c.out = append(c.out, '\r', '\n')
			}
			c.err = err
		}
	}
	n := copy(p, c.out[c.pos:])
	c.pos += n
	return n, nil
}
