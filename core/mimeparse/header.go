package mimeparse

import (
	"bytes"
	"strings"
)

// maxFields caps how many fields of one header block are indexed. Lines past
// the cap still belong to the header bytes but cannot be looked up.
const maxFields = 50000

// field locates one header field inside the raw message.
type field struct {
	start    int // first byte of the field name
	nameEnd  int // end of the field name
	valStart int // first byte after the colon
	end      int // end of the field, including its line ending(s)
}

// Header is the indexed header block of one entity. Lookups compare field
// names ignoring ASCII case; values are unfolded with surrounding white
// space removed, otherwise raw (control characters and 8-bit bytes are
// kept: callers decode and sanitise).
type Header struct {
	raw    []byte
	fields []field
	junk   int  // lines that belong to no field
	capped bool // fields past maxFields were not indexed
	bareCR bool // a CR not followed by LF
	// mboxFrom is an mbox "From " line skipped at the start.
	mboxFrom bool
}

// Junk returns the number of lines in the header that belong to no field:
// lines that are neither a field nor a continuation line (each with its
// own continuation lines) and continuation lines at the very start.
func (h *Header) Junk() int {
	return h.junk
}

// parseHeader indexes the header block that starts at raw[start] and may not
// extend past limit. It returns the header, the end of the header lines and
// the start of the body (after the empty separator line if there is one).
// See the package documentation for where a header ends. A line that
// stays in the header although it is neither a field nor a continuation
// line is no field and is counted in h.junk with its continuation lines,
// as is a continuation line at the very start. allowFrom accepts an mbox
// "From " line as the first line without counting it.
func parseHeader(raw []byte, start, limit int, allowFrom bool) (h Header, hdrEnd, bodyStart int) {
	h.raw = raw
	pos := start
	for pos < limit {
		lineEnd := limit
		if i := bytes.IndexByte(raw[pos:limit], '\n'); i >= 0 {
			lineEnd = pos + i + 1
		}
		content := trimEOL(raw[pos:lineEnd])
		if bytes.IndexByte(content, '\r') >= 0 || raw[lineEnd-1] == '\r' {
			h.bareCR = true // inside the line, or ending the entity's last line
		}
		switch {
		case len(content) == 0:
			return h, pos, lineEnd
		case content[0] == ' ' || content[0] == '\t':
			if n := len(h.fields); n > 0 && h.fields[n-1].end == pos {
				h.fields[n-1].end = lineEnd
			} else if pos == start {
				h.junk++
			}
		default:
			nameEnd, valStart, ok := fieldName(content)
			if !ok {
				if pos == start && allowFrom && bytes.HasPrefix(content, []byte("From ")) {
					h.mboxFrom = true
					break
				}
				h.junk++
				break
			}
			if len(h.fields) < maxFields {
				h.fields = append(h.fields, field{
					start:    pos,
					nameEnd:  pos + nameEnd,
					valStart: pos + valStart,
					end:      lineEnd,
				})
			} else {
				h.capped = true
			}
		}
		pos = lineEnd
	}
	return h, limit, limit
}

// trimEOL removes a trailing LF and then a trailing CR.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// fieldName reports whether line starts a header field ("name:"), returning
// the end of the name and the position after the colon. The name is
// printable US-ASCII without colon (RFC 5322 §2.2); white space between it
// and the colon, seen in the wild, is tolerated ("From :").
func fieldName(line []byte) (nameEnd, valStart int, ok bool) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c <= ' ' || c == ':' || c >= 0x7f {
			break // RFC 5322 §2.2: a name is printable US-ASCII
		}
		i++
	}
	if i == 0 {
		return 0, 0, false
	}
	nameEnd = i
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i >= len(line) || line[i] != ':' {
		return 0, 0, false
	}
	return nameEnd, i + 1, true
}

// ParseHeader indexes the header block at the start of raw (as returned by
// ReadHeader, or a whole message); an mbox "From " line before it is
// skipped.
func ParseHeader(raw []byte) Header {
	h, _, _ := parseHeader(raw, 0, len(raw), true)
	return h
}

// Len returns the number of fields (at most maxFields are indexed).
func (h *Header) Len() int {
	return len(h.fields)
}

// Name returns the name of field i as written.
func (h *Header) Name(i int) []byte {
	return h.name(h.fields[i])
}

// Value returns the unfolded value of field i; see Header.
func (h *Header) Value(i int) string {
	return h.value(h.fields[i])
}

// Complete reports whether every field of the header is indexed (a header
// has at most 50000).
func (h *Header) Complete() bool {
	return !h.capped
}

// FieldSpan returns where field i starts and ends (after its continuation
// lines and line ending) in the bytes the header was parsed from.
func (h *Header) FieldSpan(i int) (start, end int) {
	f := h.fields[i]
	return f.start, f.end
}

// RawField returns field i as written, with its continuation lines and
// line ending.
func (h *Header) RawField(i int) []byte {
	f := h.fields[i]
	return h.raw[f.start:f.end]
}

// name returns the field's name as written.
func (h *Header) name(f field) []byte {
	return h.raw[f.start:f.nameEnd]
}

// value returns the unfolded field value with surrounding white space
// removed. Control characters other than tab are kept; callers sanitise.
func (h *Header) value(f field) string {
	v := h.raw[f.valStart:f.end]
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(bytes.Trim(v, " \t"))
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.Trim(b.String(), " \t")
}

// Has reports whether a field with the given name exists.
func (h *Header) Has(name string) bool {
	for _, f := range h.fields {
		if equalFoldASCII(h.name(f), name) {
			return true
		}
	}
	return false
}

// Get returns the value of the first field with the given name, or "".
func (h *Header) Get(name string) string {
	for _, f := range h.fields {
		if equalFoldASCII(h.name(f), name) {
			return h.value(f)
		}
	}
	return ""
}

// Values returns the values of every field with the given name, in order.
func (h *Header) Values(name string) []string {
	var out []string
	for _, f := range h.fields {
		if equalFoldASCII(h.name(f), name) {
			out = append(out, h.value(f))
		}
	}
	return out
}

// Count returns the number of fields with the given name.
func (h *Header) Count(name string) int {
	n := 0
	for _, f := range h.fields {
		if equalFoldASCII(h.name(f), name) {
			n++
		}
	}
	return n
}

// Filter returns the raw fields whose names are (keep=true) or are not
// (keep=false) in names, followed by the empty line eol, as IMAP's
// HEADER.FIELDS and HEADER.FIELDS.NOT require. A last field without a line
// ending gets eol.
func (h *Header) Filter(names []string, keep bool, eol []byte) []byte {
	var out []byte
	for _, f := range h.fields {
		in := false
		for _, n := range names {
			if equalFoldASCII(h.name(f), n) {
				in = true
				break
			}
		}
		if in != keep {
			continue
		}
		out = append(out, h.raw[f.start:f.end]...)
		if out[len(out)-1] != '\n' {
			out = append(out, eol...)
		}
	}
	return append(out, eol...)
}

// EqualFoldASCII compares a raw field name with name, ignoring ASCII case.
func EqualFoldASCII(b []byte, name string) bool {
	return equalFoldASCII(b, name)
}

// equalFoldASCII compares a raw field name with name, ignoring ASCII case.
func equalFoldASCII(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], name[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
