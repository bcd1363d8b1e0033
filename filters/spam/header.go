package spam

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/emersion/go-message/textproto"
)

// The message's header is parsed already (filters.Message.Header), but
// parseMessage must still read past it, and parse it again if the given one
// is not what textproto.ReadHeader makes of the raw message (a header cut
// by filters.NewMessage's limit, or one built by hand). Parsing it again
// costs two dozen allocations per message; skipHeaderAs reads it without
// them and tells whether the given header is the one ReadHeader would
// return.

// errBadHeader stands for the errors of textproto.ReadHeader, which only
// tell parseMessage to fall back to the given header.
var errBadHeader = errors.New("malformed header")

// headerScratch are the buffers of skipHeaderAs.
type headerScratch struct {
	kv, value []byte
}

// skipHeaderAs reads the header from br exactly as textproto.ReadHeader
// does (the structure below is that of ReadHeader and
// readContinuedLineSlice in go-message v0.18, which reference_test.go
// checks), leaving br where ReadHeader would. err is non-nil if ReadHeader
// would fail. same reports whether ReadHeader would return a header with
// the fields of want: the same raw bytes, keys and values, in the same
// order.
func skipHeaderAs(br *bufio.Reader, want *textproto.Header, s *headerScratch) (same bool, err error) {
	fields := want.Fields()
	same = true
	// match compares the next field of want with the field in kv.
	match := func(kv []byte, colon int) {
		if !same {
			return
		}
		if !fields.Next() {
			same = false
			return
		}
		raw, err := fields.Raw()
		if err != nil || !bytes.Equal(raw, kv) {
			same = false
			return
		}
		// The raw bytes decide the key: ReadHeader's is the canonical form
		// of the name before the colon, and a field built by hand has a
		// canonical key that it writes as is. But a field built by hand
		// may have a value that ReadHeader would trim.
		s.value = trimAroundNewlines(s.value[:0], kv[colon+1:])
		if string(s.value) != fields.Value() {
			same = false
		}
	}
	defer func() {
		if same && fields.Next() {
			same = false // want has more fields
		}
	}()

	// The first line cannot start with a leading space.
	if buf, err := br.Peek(1); err == nil && isHeaderSpace(buf[0]) {
		readLineInto(br, nil)
		return same, errBadHeader
	}
	for {
		kv, err := readContinuedLineInto(br, s.kv[:0])
		s.kv = kv[:0]
		if len(kv) == 0 {
			if err != nil {
				return same, errBadHeader
			}
			return same, nil
		}
		i := bytes.IndexByte(kv, ':')
		if i < 0 {
			return same, errBadHeader
		}
		key := trimHeaderSpace(kv[:i])
		for _, c := range key {
			if c < 33 || c > 126 || c == ':' {
				return same, errBadHeader
			}
		}
		if len(key) == 0 {
			continue // ReadHeader skips fields without a name
		}
		match(kv, i)
		if err != nil {
			return same, errBadHeader
		}
	}
}

func isHeaderSpace(c byte) bool { return c == ' ' || c == '\t' }

// trimHeaderSpace is go-message's trim: without leading and trailing
// spaces and tabs.
func trimHeaderSpace(s []byte) []byte {
	for len(s) > 0 && isHeaderSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isHeaderSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// readLineInto is go-message's readLineSlice.
func readLineInto(r *bufio.Reader, line []byte) ([]byte, error) {
	for {
		l, more, err := r.ReadLine()
		line = append(line, l...)
		if err != nil {
			return line, err
		}
		if !more {
			return line, nil
		}
	}
}

// readContinuedLineInto is go-message's readContinuedLineSlice, appending
// to buf instead of a new slice.
func readContinuedLineInto(r *bufio.Reader, buf []byte) ([]byte, error) {
	line, err := readLineInto(r, buf)
	if err == io.EOF && len(line) == 0 {
		return nil, nil // header without a body
	} else if err != nil {
		return nil, err
	}
	if len(line) == 0 { // blank line: the end of the header
		return line, nil
	}
	line = append(line, '\r', '\n')
	for hasContinuationLine(r) {
		line, err = readLineInto(r, line)
		if err != nil {
			break // bufio keeps err until the next read
		}
		line = append(line, '\r', '\n')
	}
	return line, nil
}

// hasContinuationLine is go-message's.
func hasContinuationLine(r *bufio.Reader) bool {
	c, err := r.ReadByte()
	if err != nil {
		return false
	}
	r.UnreadByte()
	return isHeaderSpace(c)
}

// trimAroundNewlines appends to dst the value v as go-message's
// trimAroundNewlines returns it: its lines trimmed, joined by spaces.
func trimAroundNewlines(dst, v []byte) []byte {
	start := len(dst)
	for {
		l, rest, found := bytes.Cut(v, []byte{'\n'})
		l = bytes.TrimSuffix(l, []byte{'\r'})
		if l = trimHeaderSpace(l); len(l) > 0 {
			if len(dst) > start {
				dst = append(dst, ' ')
			}
			dst = append(dst, l...)
		}
		if !found {
			return dst
		}
		v = rest
	}
}
