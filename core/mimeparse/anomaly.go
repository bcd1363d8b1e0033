package mimeparse

import (
	"bytes"
	"strconv"
	"strings"
)

// AnomalyKind names one way in which a message departs from RFC 2045,
// RFC 2046 or RFC 5322 so that another parser could read its structure
// differently.
type AnomalyKind int

const (
	// HeaderLine is a line in a header that is neither a field nor the
	// continuation of one (or a continuation line at its very start).
	HeaderLine AnomalyKind = iota + 1
	// DuplicateField is a second Content-Type or
	// Content-Transfer-Encoding field in one entity; the first counts.
	DuplicateField
	// BadContentType is a Content-Type that is not "type/subtype" (the
	// entity is then text/plain, RFC 2045 §5.2) or whose parameters do not
	// follow RFC 2045 §5.1 (they are read leniently).
	BadContentType
	// NoBoundary is a multipart without boundary parameter or without any
	// delimiter line of it; the entity is presented as text/plain.
	NoBoundary
	// Unclosed is a multipart without its closing delimiter; its last part
	// ends where the enclosing entity ends.
	Unclosed
	// SqueezedPart is a delimiter line right after the delimiter line that
	// opened a part, without the line break of its own that RFC 2046 puts
	// before every delimiter; the part is empty.
	SqueezedPart
	// MixedLineBreaks is a multipart whose delimiters are preceded by CRLF
	// and by bare LF both; each delimiter is recognised, but parsers that
	// expect the kind of the first throughout miss the others.
	MixedLineBreaks
	// DelimiterPadding is a delimiter line with other characters than
	// spaces and tabs (a stray CR) before its line break; it is taken for a
	// delimiter, which strict parsers do not.
	DelimiterPadding
	// BoundaryPrefix is a line inside a multipart that starts with its
	// boundary but is no delimiter ("--boundary-x"), which RFC 2046 §5.1.1
	// forbids; it is content.
	BoundaryPrefix
	// TooDeep is a multipart or attached message nested deeper than
	// MaxDepth; it is presented as text/plain.
	TooDeep
	// TooManyParts is a message with more than MaxParts entities; the
	// entities past the limit are not parsed.
	TooManyParts
	// EncodedMessage is a message/rfc822 part with a base64 or
	// quoted-printable encoding, which RFC 2046 §5.2.1 forbids; it is
	// presented as text/plain.
	EncodedMessage
	// UnknownEncoding is a Content-Transfer-Encoding other than 7bit, 8bit,
	// binary, base64 and quoted-printable.
	UnknownEncoding
	// BareCR is a CR not followed by LF (in a header, where it is kept in
	// the value and removed when unfolding, or anywhere in the message),
	// which some parsers take for a line break.
	BareCR
	// NoEmptyLine is an entity without the empty line that ends a header:
	// it is all header, without body, which some parsers read otherwise.
	NoEmptyLine
	// BadDisposition is a Content-Disposition that does not follow RFC 2183
	// (it is read leniently).
	BadDisposition
	// BadEncodingField is a Content-Transfer-Encoding that is more than a
	// bare name (quotes, a comment): the name inside is used, which strict
	// parsers do not find.
	BadEncodingField
	// DuplicateParam is a Content-Type or Content-Disposition parameter
	// given twice (such as two boundary parameters); the first counts.
	DuplicateParam
)

var anomalyNames = map[AnomalyKind]string{
	HeaderLine:       "header line that is no field",
	DuplicateField:   "repeated Content-Type or Content-Transfer-Encoding",
	BadContentType:   "invalid Content-Type",
	NoBoundary:       "multipart without boundary or delimiter",
	Unclosed:         "multipart without closing delimiter",
	SqueezedPart:     "delimiter without line break before it",
	MixedLineBreaks:  "delimiters after CRLF and after bare LF",
	DelimiterPadding: "delimiter line with more than white space after the boundary",
	BoundaryPrefix:   "line starting with the boundary that is no delimiter",
	TooDeep:          "nesting deeper than the limit",
	TooManyParts:     "more parts than the limit",
	EncodedMessage:   "encoded message/rfc822 part",
	UnknownEncoding:  "unknown Content-Transfer-Encoding",
	DuplicateParam:   "repeated parameter",
	BadDisposition:   "invalid Content-Disposition",
	BareCR:           "CR without LF in the header",
	NoEmptyLine:      "header without empty line after it",
}

// String describes the kind in a few words.
func (k AnomalyKind) String() string {
	if s, ok := anomalyNames[k]; ok {
		return s
	}
	return "AnomalyKind(" + strconv.Itoa(int(k)) + ")"
}

// Anomaly is one departure from the standards found while parsing, and
// where.
type Anomaly struct {
	Kind AnomalyKind
	// Part is the entity's part number in the IMAP style ("2.1"), "" for
	// the top-level header of the message.
	Part string
}

// String describes the anomaly: "multipart without closing delimiter in
// part 2".
func (a Anomaly) String() string {
	where := "message"
	if a.Part != "" {
		where = "part " + a.Part
	}
	return a.Kind.String() + " in " + where
}

// maxAnomalies bounds the anomalies recorded for one message.
const maxAnomalies = 64

// Anomalies returns the departures from the standards found in the
// message, at most 64: those that shaped the structure in the order met,
// then those of parameter syntax (checked on the first call, as only
// callers that must not guess need them). A message without any is read the
// same way by every parser that follows the RFCs; a caller that must not
// guess (a virus scanner handing parts to another program) can treat a
// message with any as one to look at whole.
func (m *Message) Anomalies() []Anomaly {
	m.checkOnce.Do(m.checkSyntax)
	return m.anomalies
}

// checkSyntax adds the anomalies of Content-Type and Content-Disposition
// syntax: a repeated parameter, parameters RFC 2045 and RFC 2183 do not
// allow (which ParseMediaType reads leniently).
func (m *Message) checkSyntax() {
	p := &parser{anomalies: m.anomalies}
	var walk func(e *Part, path []int)
	walk = func(e *Part, path []int) {
		if ct := e.hdr.Get("Content-Type"); ct != "" {
			if _, _, params, ok := ParseMediaType(ct); ok {
				switch {
				case hasDuplicateParams(ct):
					p.note(DuplicateParam, path)
				case !strictMediaType(ct), !sameParams(ct, params):
					p.note(BadContentType, path)
				}
			}
		}
		if cd := e.hdr.Get("Content-Disposition"); hasDuplicateParams(cd) {
			p.note(DuplicateParam, path)
		} else if cd != "" && !strictMediaType(cd) {
			p.note(BadDisposition, path)
		}
		for i, c := range e.children {
			walk(c, append(path[:len(path):len(path)], i+1))
		}
		if e.msg != nil {
			walk(e.msg, path)
		}
	}
	walk(m.root, nil)
	if hasBareCR(m.raw) {
		p.note(BareCR, nil)
	}
	m.anomalies = p.anomalies
}

// hasBareCR reports a CR not followed by LF anywhere in b, which parsers
// take for a line break or not.
func hasBareCR(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return false
		}
		if i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		b = b[i+2:]
	}
}

// note records an anomaly of the entity at path.
func (p *parser) note(kind AnomalyKind, path []int) {
	if len(p.anomalies) >= maxAnomalies {
		return
	}
	p.anomalies = append(p.anomalies, Anomaly{Kind: kind, Part: PartNumber(path)})
}

// PartNumber formats a part path as IMAP writes part numbers: "1.2.3".
func PartNumber(path []int) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
