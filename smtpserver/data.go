package smtpserver

import (
	"bufio"
	"errors"
	"io"
)

// dotReader reads the message of DATA (RFC 5321 §4.1.1.4) from the
// client: it ends at the first CRLF "." CRLF only (the CRLF before the dot
// ending the last line, which belongs to the message), a bare CR or a bare
// LF never taking part in it (SMTP smuggling: "LF . LF" or "CR . CR" would
// end the message for some receivers and not others); a line that begins
// with a dot loses that dot (transparency, §4.5.2). Everything else,
// bare CR and bare LF included, is passed on as it came.
type dotReader struct {
	r     *bufio.Reader
	state int
	pend  []byte // output bytes that did not fit the caller's buffer
	done  bool
	err   error
}

// The states of dotReader between two bytes.
const (
	dotLineStart = iota // at the start of a line (after CRLF, or the first byte)
	dotInLine           // inside a line
	dotCR               // a CR was read and is held back: CRLF, or a bare CR?
	dotDot              // a dot began the line and is held back
	dotDotCR            // "." CR began the line: the end, if LF follows
)

func newDotReader(r *bufio.Reader) *dotReader { return &dotReader{r: r} }

// errDataTruncated is the error of a connection that ends within DATA.
var errDataTruncated = errors.New("connection ended within the message")

// Read returns the message's bytes; io.EOF after the end marker.
func (d *dotReader) Read(p []byte) (int, error) {
	n := copy(p, d.pend)
	d.pend = d.pend[n:]
	if len(d.pend) > 0 {
		return n, nil
	}
	for n < len(p) {
		if d.done {
			break
		}
		if d.err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, d.err
		}
		if n > 0 && d.r.Buffered() == 0 {
			// Hand over what we have rather than wait for more.
			break
		}
		c, err := d.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errDataTruncated
			}
			d.err = err
			continue
		}
		var out [2]byte
		k := 0
		switch d.state {
		case dotLineStart:
			switch c {
			case '.':
				d.state = dotDot
			case '\r':
				d.state = dotCR
			default:
				out[0], k = c, 1
				d.state = dotInLine
			}
		case dotInLine:
			if c == '\r' {
				d.state = dotCR
			} else {
				out[0], k = c, 1
			}
		case dotCR:
			switch c {
			case '\n':
				out[0], out[1], k = '\r', '\n', 2
				d.state = dotLineStart
			case '\r':
				out[0], k = '\r', 1 // the first CR was bare
			default:
				out[0], out[1], k = '\r', c, 2
				d.state = dotInLine
			}
		case dotDot:
			// The dot is dropped: a dot-stuffed line.
			if c == '\r' {
				d.state = dotDotCR
			} else {
				out[0], k = c, 1
				d.state = dotInLine
			}
		case dotDotCR:
			switch c {
			case '\n':
				d.done = true
			case '\r':
				// "." CR CR: a dot-stuffed line beginning with a bare CR.
				out[0], k = '\r', 1
				d.state = dotCR
			default:
				out[0], out[1], k = '\r', c, 2
				d.state = dotInLine
			}
		}
		m := copy(p[n:], out[:k])
		n += m
		if m < k {
			d.pend = append(d.pend[:0], out[m:k]...)
		}
	}
	if n == 0 && d.done {
		return 0, io.EOF
	}
	return n, nil
}

// discardingWriter writes to w until w fails, then swallows the rest, so
// that a chunk is read from the client to its end whatever the reader of
// the message does.
type discardingWriter struct {
	w      io.Writer
	failed bool
}

func (d *discardingWriter) Write(p []byte) (int, error) {
	if !d.failed {
		if _, err := d.w.Write(p); err != nil {
			d.failed = true
		}
	}
	return len(p), nil
}
