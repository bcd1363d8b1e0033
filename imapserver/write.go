package imapserver

import (
	"bufio"
	"strconv"
	"unicode/utf8"
)

// writer writes responses. Errors stick in the bufio.Writer and come out
// of flush.
type writer struct {
	bw *bufio.Writer
	// utf8 is set once the client enabled UTF8=ACCEPT (or IMAP4rev2):
	// mailbox names go out as UTF-8 and quoted strings may hold it.
	utf8Names  bool
	utf8Quoted bool
	// z compresses what bw writes once COMPRESS DEFLATE is active.
	z *deflateWriter
}

func (w *writer) s(s string) *writer { w.bw.WriteString(s); return w }

func (w *writer) b(b []byte) *writer { w.bw.Write(b); return w }

func (w *writer) c(c byte) *writer { w.bw.WriteByte(c); return w }

func (w *writer) sp() *writer { return w.c(' ') }

func (w *writer) crlf() *writer { return w.s("\r\n") }

func (w *writer) n(n uint32) *writer {
	var tmp [10]byte
	w.bw.Write(strconv.AppendUint(tmp[:0], uint64(n), 10))
	return w
}

func (w *writer) n64(n int64) *writer {
	var tmp [20]byte
	w.bw.Write(strconv.AppendInt(tmp[:0], n, 10))
	return w
}

func (w *writer) flush() error {
	if err := w.bw.Flush(); err != nil || w.z == nil {
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
