package imapmsg

import (
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/text/cases"

	"github.com/yubinmail/yubin/core/mimetext"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// fold case-folds s for case-insensitive, Unicode-aware substring matching
// (full Unicode case folding, so "ß" matches "SS"). ASCII-only text takes a
// fast path with the same result.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return cases.Fold().String(s)
		}
	}
	return strings.ToLower(s)
}

// searchDoc lazily reads, parses and folds one message for Match.
type searchDoc struct {
	open   Opener
	uid    imap.UID
	loaded bool
	raw    []byte
	m      *Message
	hdr    *mimeparse.Header // the top-level header parsed alone, if it was
	err    error

	headerText, bodyText *string
}

// read reads the message's bytes once.
func (d *searchDoc) read() ([]byte, error) {
	if !d.loaded {
		d.loaded = true
		d.raw, d.err = readAll(d.open)
		if d.err != nil {
			d.err = fmt.Errorf("imapmsg: search message UID %v: %w", d.uid, d.err)
		}
	}
	return d.raw, d.err
}

// message reads and parses the message once.
func (d *searchDoc) message() (*Message, error) {
	if d.m == nil {
		raw, err := d.read()
		if err != nil {
			return nil, err
		}
		d.m = Parse(raw)
	}
	return d.m, nil
}

// rootHeader returns the message's top-level header, which the keys on
// header fields and the sent date read: parsed alone, without the rest
// of the MIME structure, unless the message is parsed anyway.
// mimeparse.ParseHeader reads it exactly as Parse reads the root's.
func (d *searchDoc) rootHeader() (*mimeparse.Header, error) {
	if d.m != nil {
		return d.m.root.Header(), nil
	}
	if d.hdr == nil {
		raw, err := d.read()
		if err != nil {
			return nil, err
		}
		h := mimeparse.ParseHeader(raw)
		d.hdr = &h
	}
	return d.hdr, nil
}

// header returns the folded, decoded top-level header for TEXT.
func (d *searchDoc) header() (string, error) {
	if d.headerText == nil {
		m, err := d.message()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		appendHeaderText(&b, m.root.Header())
		if m.root.Header().Junk() > 0 {
			// Lines that are no fields (the text of a message without
			// an empty line, say) are found by TEXT too.
			b.WriteString(mimetext.FallbackUTF8(m.root.HeaderBytes()))
		}
		s := fold(b.String())
		d.headerText = &s
	}
	return *d.headerText, nil
}

// body returns the folded, decoded text of all text parts for BODY.
func (d *searchDoc) body() (string, error) {
	if d.bodyText == nil {
		m, err := d.message()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		m.appendText(&b, m.root)
		s := fold(b.String())
		d.bodyText = &s
	}
	return *d.bodyText, nil
}

// readAll reads a whole message for searching.
func readAll(open Opener) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	if sized, ok := rc.(interface{ Size() int64 }); ok && sized.Size() >= 0 && sized.Size() <= maxReadSize {
		// The size is known (a stored body): one buffer of that size,
		// not io.ReadAll's growing ones.
		raw := make([]byte, sized.Size())
		if _, err := io.ReadFull(rc, raw); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		return raw, nil
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxReadSize))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return raw, nil
}

// appendHeaderText writes every field of h as "Name: decoded value".
func appendHeaderText(b *strings.Builder, h *mimeparse.Header) {
	for i := range h.Len() {
		b.WriteString(mimetext.FallbackUTF8(h.Name(i)))
		b.WriteString(": ")
		b.WriteString(mimetext.DecodeHeader(h.Value(i)))
		b.WriteByte('\n')
	}
}

// appendText writes the decoded text of p's text parts, including the
// headers and text of embedded messages, separated by newlines.
func (m *Message) appendText(b *strings.Builder, p *mimeparse.Part) {
	switch {
	case p.IsMultipart():
		for _, c := range p.Children() {
			m.appendText(b, c)
		}
	case p.Embedded() != nil:
		appendHeaderText(b, p.Embedded().Header())
		m.appendText(b, p.Embedded())
	case p.Type() == "text" || p.Type() == "message":
		body, _ := decodeCTE(p.Encoding(), p.Body(), false)
		b.WriteString(mimetext.DecodeBytes(p.Params()["charset"], body))
		b.WriteByte('\n')
	}
}
