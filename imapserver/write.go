package imapserver

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"syscall"
	"unicode/utf8"
)

// writer writes responses. Errors stick in the bufio.Writer and come out
// of flush.
type writer struct {
	bw *bufio.Writer
	// own is the session's small buffer. A command that sends much (FETCH
	// of many messages or of bodies) borrows a large one from bulkPool
	// (bulk), so that its responses go out in few large writes; the next
	// flush gives it back, so that an idle connection holds only own.
	own      *bufio.Writer
	bulkPool *sync.Pool
	// dst is what the buffers write to: the connection, its TLS layer or
	// the compressor. direct is dst when it copies from a reader itself
	// (a plain TCP connection, or a wrapper of one, sends a file with
	// sendfile); nil under TLS or COMPRESS.
	dst    io.Writer
	direct io.ReaderFrom
	// utf8 is set once the client enabled UTF8=ACCEPT (or IMAP4rev2):
	// mailbox names go out as UTF-8 and quoted strings may hold it.
	utf8Names  bool
	utf8Quoted bool
	// z compresses what bw writes once COMPRESS DEFLATE is active.
	z *deflateWriter
}

// ownBufferSize is the session's own response buffer; bulkBufferSize is
// the buffer borrowed for commands that send much.
const (
	ownBufferSize  = 4096
	bulkBufferSize = 64 << 10
)

// newWriter returns a writer to dst that takes its bulk buffers from pool.
func newWriter(dst io.Writer, pool *sync.Pool) *writer {
	w := &writer{own: bufio.NewWriterSize(dst, ownBufferSize), bulkPool: pool}
	w.bw = w.own
	w.setDst(dst)
	return w
}

// reset makes the writer write to dst (TLS, compression) from now on.
// Nothing may be buffered.
func (w *writer) reset(dst io.Writer) {
	w.endBulk()
	w.own.Reset(dst)
	w.setDst(dst)
}

func (w *writer) setDst(dst io.Writer) {
	w.dst = dst
	w.direct, _ = dst.(io.ReaderFrom)
}

// bulk switches to a large buffer until the next flush. What is buffered
// so far is sent first (normally nothing: commands start after a flush).
func (w *writer) bulk() error {
	if w.bw != w.own || w.bulkPool == nil {
		return nil
	}
	if w.own.Buffered() > 0 {
		if err := w.own.Flush(); err != nil {
			return err
		}
	}
	bw, _ := w.bulkPool.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(w.dst, bulkBufferSize)
	} else {
		bw.Reset(w.dst)
	}
	w.bw = bw
	return nil
}

// endBulk gives the bulk buffer back; it must have been flushed.
func (w *writer) endBulk() {
	if w.bw == w.own {
		return
	}
	w.bw.Reset(nil)
	w.bulkPool.Put(w.bw)
	w.bw = w.own
}

func (w *writer) s(s string) *writer { w.bw.WriteString(s); return w }

func (w *writer) b(b []byte) *writer { w.bw.Write(b); return w }

func (w *writer) c(c byte) *writer { w.bw.WriteByte(c); return w }

func (w *writer) sp() *writer { return w.c(' ') }

func (w *writer) crlf() *writer { return w.s("\r\n") }

// n and n64 format into the buffer's free space (a scratch array would
// escape through bufio's io.Writer and cost an allocation each).
func (w *writer) n(n uint32) *writer {
	w.bw.Write(strconv.AppendUint(w.bw.AvailableBuffer(), uint64(n), 10))
	return w
}

func (w *writer) n64(n int64) *writer {
	w.bw.Write(strconv.AppendInt(w.bw.AvailableBuffer(), n, 10))
	return w
}

// flush sends what is buffered and ends a bulk.
func (w *writer) flush() error {
	err := w.bw.Flush()
	if err == nil {
		w.endBulk()
	}
	if err != nil || w.z == nil {
		return err
	}
	return w.z.flush()
}

// canQuote reports whether s can go out as a quoted string.
func (w *writer) canQuote(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case c >= 0x80:
			if !w.utf8Quoted || !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

// str writes s as a quoted string, or as a literal if it cannot be quoted.
func (w *writer) str(s string) *writer {
	if !w.canQuote(s) {
		return w.literal([]byte(s), false)
	}
	w.c('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			w.c('\\')
		}
		w.c(s[i])
	}
	return w.c('"')
}

// nstr writes s, or NIL if it is empty.
func (w *writer) nstr(s string) *writer {
	if s == "" {
		return w.s("NIL")
	}
	return w.str(s)
}

// literal writes b as a literal; literal8 ("~{n}") if binary.
func (w *writer) literal(b []byte, binary bool) *writer {
	if binary {
		w.c('~')
	}
	w.c('{').n64(int64(len(b))).s("}\r\n")
	return w.b(b)
}

// mailbox writes a mailbox name, in modified UTF-7 unless the client
// enabled UTF-8.
func (w *writer) mailbox(name string) *writer {
	if name == "INBOX" {
		return w.s("INBOX")
	}
	if !w.utf8Names {
		name = encodeUTF7(name)
	}
	return w.str(name)
}

// flags writes a parenthesized flag list.
func (w *writer) flags(flags []string) *writer {
	w.c('(')
	for i, f := range flags {
		if i > 0 {
			w.sp()
		}
		w.s(f)
	}
	return w.c(')')
}

// sendfileMin is the smallest body that goes from its file to a plain TCP
// socket by sendfile(2); smaller ones are cheaper copied through the
// buffer along with the responses around them.
const sendfileMin = 16 << 10

// literalFrom writes the size bytes r yields as a literal: through the
// buffer, or, from a file (a syscall.Conn, such as an *os.File) to a plain
// TCP connection, by the connection's ReadFrom (sendfile). If r fails or ends early the
// literal is cut short and the error returned: the connection cannot go
// on.
func (w *writer) literalFrom(r io.Reader, size int64) error {
	w.c('{').n64(size).s("}\r\n")
	if _, isFile := r.(syscall.Conn); isFile && w.direct != nil && size >= sendfileMin {
		if err := w.bw.Flush(); err != nil {
			return err
		}
		n, err := w.direct.ReadFrom(io.LimitReader(r, size))
		if err == nil && n < size {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	for size > 0 {
		if w.bw.Available() == 0 {
			if err := w.bw.Flush(); err != nil {
				return err
			}
		}
		buf := w.bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), size)]
		n, err := io.ReadFull(r, buf)
		w.bw.Write(buf[:n])
		size -= int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}
