package pop3server

import (
	"bufio"
	"bytes"
)

// dotWriter writes a multi-line response body (RFC 1939 §3): every line
// that starts with '.' gets another '.' in front, and Close makes sure the
// data ends with CRLF and writes the terminating ".\r\n". A line starts
// after any LF, so that even a stray bare LF cannot smuggle in a
// terminator.
type dotWriter struct {
	w         *bufio.Writer
	lineStart bool  // the next byte starts a line
	n         int64 // bytes of data written, before stuffing
	prev      byte  // the last two bytes of data, to see if it ends with CRLF
	last      byte
}

func newDotWriter(w *bufio.Writer) *dotWriter {
	return &dotWriter{w: w, lineStart: true}
}

// Write writes p, dot-stuffed. The bytes between two lines that start
// with '.' go out in one write, however many lines they hold.
func (d *dotWriter) Write(p []byte) (int, error) {
	data := p
	written := 0
	for len(p) > 0 {
		if d.lineStart && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return written, err
			}
		}
		// Up to and including the LF before the next line that starts
		// with '.', or all of p.
		chunk := p
		if i := bytes.Index(p, dotLine); i >= 0 {
			chunk = p[:i+1]
		}
		n, err := d.w.Write(chunk)
		written += n
		d.n += int64(n)
		if err != nil {
			return written, err
		}
		d.lineStart = chunk[len(chunk)-1] == '\n'
		p = p[len(chunk):]
	}
	switch len(data) {
	case 0:
	case 1:
		d.prev, d.last = d.last, data[0]
	default:
		d.prev, d.last = data[len(data)-2], data[len(data)-1]
	}
	return written, nil
}

// dotLine is a line end followed by a line that starts with '.'.
var dotLine = []byte("\n.")

// Close ends the body: a CRLF if the data did not end with one, then the
// terminating line. It does not flush.
func (d *dotWriter) Close() error {
	if d.n > 0 && (d.prev != '\r' || d.last != '\n') {
		if _, err := d.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}
