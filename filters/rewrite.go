package filters

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Rewrite is what a filter asks to change in a message beyond adding header
// fields on top and removing fields by name: the modifications a milter may
// send at the end of a message (envelope sender, recipients, header fields
// at a position, the body). The zero Rewrite changes nothing.
type Rewrite struct {
	// MailFrom is the new envelope sender when ChangeMailFrom is set
	// ("" for the null sender).
	MailFrom       string
	ChangeMailFrom bool
	// AddRecipients and RemoveRecipients change the envelope recipients.
	AddRecipients, RemoveRecipients []string
	// HeaderEdits change the header of the message as received, in order.
	HeaderEdits []HeaderEdit
	// Body replaces the body (everything after the header) when
	// ReplaceBody is set.
	Body        []byte
	ReplaceBody bool
}

// HeaderEdit changes one header field of the message as received.
type HeaderEdit struct {
	// Insert inserts the field Key: Value before the Index-th field of the
	// header (0 = first; past the end appends). Otherwise the Index-th
	// (1-based) field named Key is changed to Value, or deleted when Value
	// is "", and a missing one is appended (as sendmail does).
	Insert bool
	Key    string
	Value  string
	Index  int
}

// IsZero reports whether r changes nothing.
func (r *Rewrite) IsZero() bool {
	return r == nil || !r.ChangeMailFrom && len(r.AddRecipients) == 0 && len(r.RemoveRecipients) == 0 &&
		len(r.HeaderEdits) == 0 && !r.ReplaceBody
}

// ChangesContent reports whether r changes the header or the body (and not
// only the envelope).
func (r *Rewrite) ChangesContent() bool {
	return r != nil && (len(r.HeaderEdits) > 0 || r.ReplaceBody)
}

// merge adds the changes of o after those of r.
func (r *Rewrite) merge(o *Rewrite) {
	if o.ChangeMailFrom {
		r.MailFrom, r.ChangeMailFrom = o.MailFrom, true
	}
	r.AddRecipients = append(r.AddRecipients, o.AddRecipients...)
	r.RemoveRecipients = append(r.RemoveRecipients, o.RemoveRecipients...)
	r.HeaderEdits = append(r.HeaderEdits, o.HeaderEdits...)
	if o.ReplaceBody {
		r.Body, r.ReplaceBody = o.Body, true
	}
}

// maxRewriteHeader bounds the header ApplyRewrite reads.
const maxRewriteHeader = 16 << 20

// errHeaderTooLarge is returned for a header past maxRewriteHeader.
var errHeaderTooLarge = errors.New("header too large to rewrite")

// rawField is a header field as received: its name and its bytes (all its
// lines, with their line endings).
type rawField struct {
	key   string
	raw   []byte
	added bool // by a HeaderEdit: never removed by name
}

// ApplyRewrite writes the raw message read from raw to w with the content
// changes of r (header edits, body) applied, and the received fields for
// which remove returns true (remove may be nil) left out; fields the edits
// add are never left out. Header edits count fields as the filters saw them:
// the message as received, removed fields included. Values are written
// with CRLF line endings, a continuation line that does not start with
// white space getting a tab.
func ApplyRewrite(w io.Writer, raw io.Reader, r *Rewrite, remove func(key string) bool) error {
	br := bufio.NewReaderSize(raw, 64<<10)
	fields, err := readRawHeader(br)
	if err != nil {
		return err
	}
	if r != nil {
		for _, e := range r.HeaderEdits {
			fields = applyEdit(fields, e)
		}
	}
	bw := bufio.NewWriter(w)
	for _, f := range fields {
		if !f.added && remove != nil && remove(f.key) {
			continue
		}
		bw.Write(f.raw)
	}
	bw.WriteString("\r\n")
	if r != nil && r.ReplaceBody {
		bw.Write(crlf(r.Body))
	} else if _, err := io.Copy(bw, br); err != nil {
		return fmt.Errorf("rewrite: copy body: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	return nil
}

// readRawHeader reads the header fields from br, leaving br at the start of
// the body (after the blank line). A line that is neither a field nor a
// continuation ends the header and is left for the body.
func readRawHeader(br *bufio.Reader) ([]rawField, error) {
	var fields []rawField
	total := 0
	for {
		peek, _ := br.Peek(1)
		if len(peek) == 0 {
			return fields, nil // EOF: no body
		}
		if peek[0] == '\r' || peek[0] == '\n' {
			line, _ := br.ReadSlice('\n')
			if len(line) <= 2 && (string(line) == "\r\n" || string(line) == "\n") {
				return fields, nil
			}
			// A lone CR: not a blank line; treat as the body's start.
			return fields, nil
		}
		if (peek[0] == ' ' || peek[0] == '\t') && len(fields) > 0 {
			line, err := br.ReadBytes('\n')
			total += len(line)
			f := &fields[len(fields)-1]
			f.raw = append(f.raw, line...)
			if err != nil {
				return fields, nil
			}
			continue
		}
		// A field name ends at the colon; a line without one ends the
		// header.
		line, err := peekLine(br)
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || strings.TrimRight(string(line[:colon]), " \t") == "" {
			return fields, nil
		}
		full, rerr := br.ReadBytes('\n')
		total += len(full)
		if total > maxRewriteHeader {
			return nil, errHeaderTooLarge
		}
		fields = append(fields, rawField{key: strings.TrimRight(string(full[:colon]), " \t"), raw: full})
		if err != nil || rerr != nil {
			return fields, nil
		}
	}
}

// peekLine returns the next line of br without consuming it, as far as the
// buffer holds it.
func peekLine(br *bufio.Reader) ([]byte, error) {
	for n := 1; ; n *= 2 {
		b, err := br.Peek(min(n*256, br.Size()))
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i], nil
		}
		if err != nil || len(b) == br.Size() {
			return b, err
		}
	}
}

// applyEdit applies e to fields.
func applyEdit(fields []rawField, e HeaderEdit) []rawField {
	if !validHeaderKey(e.Key) {
		return fields
	}
	nf := rawField{key: e.Key, raw: formatRawField(e.Key, e.Value), added: true}
	if e.Insert {
		i := min(max(e.Index, 0), len(fields))
		return append(fields[:i], append([]rawField{nf}, fields[i:]...)...)
	}
	n := 0
	for i := range fields {
		if !strings.EqualFold(fields[i].key, e.Key) {
			continue
		}
		if n++; n == e.Index {
			if e.Value == "" {
				return append(fields[:i], fields[i+1:]...)
			}
			fields[i] = nf
			return fields
		}
	}
	if e.Value == "" {
		return fields
	}
	return append(fields, nf)
}

// formatRawField returns the field key: value with CRLF line endings, its
// continuation lines starting with white space.
func formatRawField(key, value string) []byte {
	value = strings.ReplaceAll(value, "\r\n", "\n")
	value = strings.ReplaceAll(value, "\r", "")
	lines := strings.Split(value, "\n")
	var b bytes.Buffer
	b.WriteString(key)
	b.WriteString(":")
	for i, l := range lines {
		if i == 0 {
			if l != "" && l[0] != ' ' && l[0] != '\t' {
				b.WriteByte(' ')
			}
		} else {
			if strings.TrimSpace(l) == "" {
				continue // a blank line would end the header
			}
			b.WriteString("\r\n")
			if l[0] != ' ' && l[0] != '\t' {
				b.WriteByte('\t')
			}
		}
		b.WriteString(l)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// crlf returns b with every line ending turned into CRLF.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
