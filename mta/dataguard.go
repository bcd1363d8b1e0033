package mta

import (
	"bytes"
	"errors"
	"io"
)

// maxLineBytes is the longest line of a message accepted, line end
// included (RFC 5321 section 4.5.3.1.6: 1,000 octets with the CRLF).
const maxLineBytes = 1000

// errLineTooLong marks a message with a line over maxLineBytes.
var errLineTooLong = errors.New("line longer than 1000 bytes")

// brokenEnd is the end of DATA after a bare CR: "<CR><CRLF>.<CRLF>". The
// data reader of go-smtp (v0.26) misses the end marker there (the CR
// before the CRLF leaves it in the middle of a line), and would wait for
// more data until the client gives up.
var brokenEnd = []byte("\r\r\n.\r\n")

// dataGuard reads a message as the client sends it and checks what the
// protocol layer does not:
//
//   - lines longer than maxLineBytes: the rest of the message is read and
//     discarded, then Read returns errLineTooLong, so that the client gets a
//     clear refusal and the session goes on;
//   - with watchEnd (DATA, not BDAT), the end marker after a bare CR: the
//     message ends there (the bare CR dropped) and brokenEnd is reported,
//     so that the session answers and closes the connection, the protocol
//     layer being out of step with the client.
type dataGuard struct {
	r        io.Reader
	watchEnd bool

	in      []byte // read buffer
	out     []byte // bytes ready for the caller, from pos on
	pos     int
	hold    []byte // input bytes that may begin brokenEnd
	line    int    // bytes of the current output line so far
	tooLong bool
	ended   bool // brokenEnd was found
	err     error
}

func newDataGuard(r io.Reader, watchEnd bool) *dataGuard {
	// With watchEnd the input is read a byte at a time (see fill): a
	// buffer of one. The output gets room for a small message at once,
	// and grows to a chunk at most (Read empties it before the next fill).
	in := 1
	if !watchEnd {
		in = guardChunk
	}
	out := spoolChunks.Get().(*[]byte)
	return &dataGuard{r: r, watchEnd: watchEnd, in: make([]byte, in), out: (*out)[:0]}
}

// release gives the guard's output buffer back to spoolChunks, once the
// message has been read; the guard is not read again.
func (g *dataGuard) release() {
	if cap(g.out) == spoolChunkSize {
		b := g.out[:cap(g.out)]
		spoolChunks.Put(&b)
	}
	g.out, g.pos = nil, 0
}

// guardChunk is how many input bytes one fill takes at most.
const guardChunk = 32 << 10

// brokenEndSeen reports whether the message ended at brokenEnd.
func (g *dataGuard) brokenEndSeen() bool { return g.ended }

// Read returns the checked message.
func (g *dataGuard) Read(p []byte) (int, error) {
	if g.pos == len(g.out) {
		g.out, g.pos = g.out[:0], 0
	}
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		err := g.fill()
		switch {
		case g.ended:
			g.err = io.EOF
		case errors.Is(err, io.EOF):
			g.flushHold()
			g.err = err
		case err != nil:
			g.err = err
		}
		if g.tooLong {
			g.out = g.out[:0]
			if g.err == io.EOF {
				g.err = errLineTooLong
			}
		}
	}
	n := copy(p, g.out[g.pos:])
	g.pos += n
	return n, nil
}

// fill reads the next bytes of the message and takes them in. With
// watchEnd it reads a byte at a time, up to guardChunk bytes: go-smtp's
// DATA reader returns only once it filled the buffer it was given or saw
// the end marker, and it would block, with the client waiting, on the
// bytes after a brokenEnd that it does not see as the end.
func (g *dataGuard) fill() error {
	if !g.watchEnd {
		n, err := g.r.Read(g.in)
		for _, c := range g.in[:n] {
			g.input(c)
		}
		return err
	}
	for range guardChunk {
		n, err := g.r.Read(g.in[:1])
		if n == 1 {
			g.input(g.in[0])
		}
		if err != nil || g.ended {
			return err
		}
	}
	return nil
}

// input takes one byte from the client.
func (g *dataGuard) input(c byte) {
	if !g.watchEnd || len(g.hold) == 0 && c != '\r' {
		g.emit(c)
		return
	}
	g.hold = append(g.hold, c)
	if bytes.HasPrefix(brokenEnd, g.hold) {
		if len(g.hold) == len(brokenEnd) {
			// The bare CR is dropped; the CRLF ends the last line.
			g.hold = g.hold[:0]
			g.emit('\r')
			g.emit('\n')
			g.ended = true
		}
		return
	}
	// Pass on the bytes that can no longer begin the marker.
	k := 1
	for ; k < len(g.hold); k++ {
		if bytes.HasPrefix(brokenEnd, g.hold[k:]) {
			break
		}
	}
	for _, b := range g.hold[:k] {
		g.emit(b)
	}
	g.hold = append(g.hold[:0], g.hold[k:]...)
}

// flushHold passes on the held bytes at the end of the message.
func (g *dataGuard) flushHold() {
	for _, b := range g.hold {
		g.emit(b)
	}
	g.hold = g.hold[:0]
}

// emit adds one byte to the output, counting line lengths.
func (g *dataGuard) emit(c byte) {
	if c == '\n' {
		g.line = 0
	} else if g.line++; g.line >= maxLineBytes {
		// With its line end, this line is over the limit.
		g.tooLong = true
	}
	if !g.tooLong {
		g.out = append(g.out, c)
	}
}
