package mimeparse

import (
	"strings"
	"sync"
)

// MaxDepth is how deeply multiparts and message/rfc822 parts may nest. A
// container at this depth is presented as a text/plain leaf.
const MaxDepth = 50

// MaxParts caps the number of MIME entities parsed from one message.
const MaxParts = 1000

// Message is the parsed MIME structure of one message. It refers to the raw
// bytes given to Parse, which must not be modified afterwards. The zero value
// is not usable; a Message is safe for concurrent use once parsed.
type Message struct {
	raw       []byte
	root      *Part
	anomalies []Anomaly

	checkOnce sync.Once // the syntax checks of Anomalies, done on demand
}

// Part is one MIME entity: the message itself, a part of a multipart, or
// the message embedded in a message/rfc822 part. Offsets index the raw
// message.
type Part struct {
	start     int // first byte of the entity's header
	hdrEnd    int // end of the header lines (before the empty line)
	bodyStart int // first byte of the body
	end       int // end of the entity

	hdr      Header
	typ, sub string            // presented media type, lower case
	params   map[string]string // decoded Content-Type parameters
	encoding string            // normalised Content-Transfer-Encoding

	children []*Part // multipart children; never empty for a multipart
	msg      *Part   // embedded message of a message/rfc822 part
}

// IsMultipart reports whether p is presented as a multipart (it then has
// at least one child).
func (p *Part) IsMultipart() bool {
	return len(p.children) > 0
}

// Children returns the parts of a multipart, nil for any other entity.
func (p *Part) Children() []*Part {
	return p.children
}

// Embedded returns the message inside a message/rfc822 (or message/global)
// part, nil for any other entity.
func (p *Part) Embedded() *Part {
	return p.msg
}

// Header returns the entity's header fields.
func (p *Part) Header() *Header {
	return &p.hdr
}

// Type returns the presented top-level media type, lower case ("text").
func (p *Part) Type() string { return p.typ }

// Subtype returns the presented media subtype, lower case ("plain").
func (p *Part) Subtype() string { return p.sub }

// MediaType returns "type/subtype", lower case.
func (p *Part) MediaType() string { return p.typ + "/" + p.sub }

// Params returns the decoded Content-Type parameters (names lower case,
// values UTF-8). The map must not be modified.
func (p *Part) Params() map[string]string { return p.params }

// Encoding returns the normalised Content-Transfer-Encoding: a lower-case
// token, "" when absent, "x-invalid" when the value is not a token.
func (p *Part) Encoding() string { return p.encoding }

// Bytes returns the whole entity, header and body.
func (p *Part) Bytes() []byte {
	return p.hdr.raw[p.start:p.end]
}

// HeaderBytes returns the entity's header block including the empty line
// that ends it, if there is one.
func (p *Part) HeaderBytes() []byte {
	return p.hdr.raw[p.start:p.bodyStart]
}

// Body returns the raw (still transfer-encoded) body of the entity.
func (p *Part) Body() []byte {
	return p.hdr.raw[p.bodyStart:p.end]
}

// HeaderEnd returns the empty line that ends the entity's header, or CRLF
// if it has none.
func (p *Part) HeaderEnd() []byte {
	if p.bodyStart > p.hdrEnd {
		return p.hdr.raw[p.hdrEnd:p.bodyStart]
	}
	return []byte("\r\n")
}

// parser holds the state of one Parse call.
type parser struct {
	raw       []byte
	budget    int // entities that may still be created
	anomalies []Anomaly
}

// Parse parses a message into its structure. It never fails: malformed
// input is presented as described in the package documentation. raw is
// retained, not copied.
func Parse(raw []byte) *Message {
	p := &parser{raw: raw, budget: MaxParts - 1}
	root := p.entity(0, len(raw), 0, nil, false, true)
	return &Message{raw: raw, root: root, anomalies: p.anomalies}
}

// entity parses the entity in raw[start:end]. The caller has already
// charged it against the part budget.
// path is its part number, for anomalies.
func (p *parser) entity(start, end, depth int, path []int, inDigest, top bool) *Part {
	e := &Part{start: start, end: end}
	e.hdr, e.hdrEnd, e.bodyStart = parseHeader(p.raw, start, end, top)
	e.encoding = normalizeCTE(e.hdr.Get("Content-Transfer-Encoding"))
	if e.hdr.junk > 0 || top && e.hdr.mboxFrom {
		p.note(HeaderLine, path) // an mbox From line is skipped, but is no field
	}
	if e.hdr.bareCR {
		p.note(BareCR, path)
	}
	if e.bodyStart == e.hdrEnd && end > start {
		p.note(NoEmptyLine, path)
	}
	if e.hdr.Count("Content-Type") > 1 || e.hdr.Count("Content-Transfer-Encoding") > 1 {
		p.note(DuplicateField, path)
	}
	if classifyCTE(e.encoding) == cteUnknown {
		p.note(UnknownEncoding, path)
	} else if raw := strings.Trim(e.hdr.Get("Content-Transfer-Encoding"), " \t"); !strings.EqualFold(raw, e.encoding) {
		p.note(BadEncodingField, path) // quotes, comments or junk around the name
	}

	var ok bool
	if ct := e.hdr.Get("Content-Type"); ct == "" && e.hdr.Has("Content-Type") {
		p.note(BadContentType, path)
	} else if ct != "" {
		e.typ, e.sub, e.params, ok = ParseMediaType(ct)
		if !ok {
			p.note(BadContentType, path)
		}
	}
	if !ok {
		if inDigest && !e.hdr.Has("Content-Type") {
			e.typ, e.sub, e.params = "message", "rfc822", nil
		} else {
			e.typ, e.sub = "text", "plain"
			e.params = map[string]string{"charset": "us-ascii"}
		}
	}

	switch {
	case e.typ == "multipart":
		p.multipart(e, depth, path)
	case e.typ == "message" && (e.sub == "rfc822" || e.sub == "global"):
		switch {
		case depth >= MaxDepth:
			p.note(TooDeep, path)
		case p.budget <= 0:
			p.note(TooManyParts, path)
		case classifyCTE(e.encoding) == cteBase64 || classifyCTE(e.encoding) == cteQP:
			p.note(EncodedMessage, path)
		case classifyCTE(e.encoding) == cteUnknown:
			// Noted above.
		default:
			p.budget--
			e.msg = p.entity(e.bodyStart, e.end, depth+1, path, false, false)
			return e
		}
		e.downgrade()
	}
	return e
}

// multipart splits e's body into children, or downgrades e to a leaf.
func (p *parser) multipart(e *Part, depth int, path []int) {
	boundary := e.params["boundary"]
	switch {
	case depth >= MaxDepth:
		p.note(TooDeep, path)
		e.downgrade()
		return
	case p.budget <= 0:
		p.note(TooManyParts, path)
		e.downgrade()
		return
	case boundary == "":
		p.note(NoBoundary, path)
		e.downgrade()
		return
	}
	spans, closed, odd := splitMultipart(p.raw, e.bodyStart, e.end, boundary)
	if len(spans) == 0 {
		p.note(NoBoundary, path)
		e.downgrade()
		return
	}
	if !closed {
		p.note(Unclosed, path)
	}
	if odd.squeezed {
		p.note(SqueezedPart, path)
	}
	if odd.mixed {
		p.note(MixedLineBreaks, path)
	}
	if odd.padding {
		p.note(DelimiterPadding, path)
	}
	if odd.prefix {
		p.note(BoundaryPrefix, path)
	}
	if len(spans) > p.budget {
		p.note(TooManyParts, path)
		spans = spans[:p.budget]
	}
	p.budget -= len(spans)
	e.children = make([]*Part, 0, len(spans))
	for i, s := range spans {
		child := append(path[:len(path):len(path)], i+1)
		e.children = append(e.children, p.entity(s.start, s.end, depth+1, child, e.sub == "digest", false))
	}
}

// downgrade presents e as a text/plain leaf covering the same bytes.
func (e *Part) downgrade() {
	params := make(map[string]string, len(e.params)+1)
	for k, v := range e.params {
		if k != "boundary" {
			params[k] = v
		}
	}
	if _, ok := params["charset"]; !ok {
		params["charset"] = "us-ascii"
	}
	e.typ, e.sub, e.params = "text", "plain", params
	e.children, e.msg = nil, nil
}

// Raw returns the bytes the message was parsed from.
func (m *Message) Raw() []byte {
	return m.raw
}

// Root returns the top-level entity of the message.
func (m *Message) Root() *Part {
	return m.root
}

// Decoded returns the entity's body with its Content-Transfer-Encoding
// undone; see Decode. The result may share memory with the raw message and
// must not be modified.
func (p *Part) Decoded() ([]byte, error) {
	return Decode(p.encoding, p.Body())
}

// Part returns the entity a part path addresses in the numbering of IMAP
// (RFC 9051 §6.4.5), or nil: an empty path is the message itself, part 1 of
// a message that is not multipart is its body, and the parts of a
// message/rfc822 part are those of the embedded message.
func (m *Message) Part(path []int) *Part {
	cur := m.root
	isMessage := true // cur is the top entity of a message
	for _, n := range path {
		var container *Part
		switch {
		case cur.IsMultipart():
			container = cur
		case isMessage:
			// Part 1 of a non-multipart message is its body.
			if n != 1 {
				return nil
			}
			isMessage = false
			continue
		case cur.msg != nil:
			if !cur.msg.IsMultipart() {
				if n != 1 {
					return nil
				}
				cur = cur.msg
				continue
			}
			container = cur.msg
		default:
			return nil
		}
		if n < 1 || n > len(container.children) {
			return nil
		}
		cur = container.children[n-1]
		isMessage = false
	}
	return cur
}

// Disposition returns the entity's Content-Disposition type, lower case
// ("attachment", "inline"), and its parameters; "" when there is none or
// it does not parse.
func (p *Part) Disposition() (string, map[string]string) {
	d, params, ok := ParseDisposition(p.hdr.Get("Content-Disposition"))
	if !ok {
		return "", nil
	}
	return d, params
}

// Filename returns the file name the entity's header gives: the filename
// parameter of Content-Disposition, else the name parameter of
// Content-Type (RFC 2231 values decoded; RFC 2047 encoded words, which
// RFC 2047 §5 forbids there but mailers write, are left to the caller).
func (p *Part) Filename() string {
	if _, params := p.Disposition(); params["filename"] != "" {
		return params["filename"]
	}
	return p.params["name"]
}
