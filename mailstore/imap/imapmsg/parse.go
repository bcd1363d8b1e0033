package imapmsg

// MaxDepth is how deeply multiparts and message/rfc822 parts may nest. A
// container at this depth is presented as a text/plain leaf.
const MaxDepth = 50

// MaxParts caps the number of MIME entities parsed from one message.
const MaxParts = 1000

// Message is the parsed MIME structure of one message. It refers to the raw
// bytes given to Parse, which must not be modified afterwards. The zero value
// is not usable; a Message is safe for concurrent use once parsed.
type Message struct {
	raw  []byte
	root *part
}

// part is one MIME entity. Offsets index Message.raw.
type part struct {
	start     int // first byte of the entity's header
	hdrEnd    int // end of the header lines (before the empty line)
	bodyStart int // first byte of the body
	end       int // end of the entity

	hdr      header
	typ, sub string            // presented media type, lower case
	params   map[string]string // decoded Content-Type parameters
	encoding string            // normalised Content-Transfer-Encoding

	children []*part // multipart children; never empty for a multipart
	msg      *part   // embedded message of a message/rfc822 part
}

// isMultipart reports whether p is presented as a multipart.
func (p *part) isMultipart() bool {
	return len(p.children) > 0
}

// body returns the entity body.
func (p *part) body(raw []byte) []byte {
	return raw[p.bodyStart:p.end]
}

// parser holds the state of one Parse call.
type parser struct {
	raw    []byte
	budget int // entities that may still be created
}

// Parse parses a message into its structure. It never fails: malformed
// input is presented as described in the package documentation. raw is
// retained, not copied.
func Parse(raw []byte) *Message {
	p := &parser{raw: raw, budget: MaxParts - 1}
	return &Message{raw: raw, root: p.entity(0, len(raw), 0, false, true)}
}

// entity parses the entity in raw[start:end]. The caller has already
// charged it against the part budget.
func (p *parser) entity(start, end, depth int, inDigest, top bool) *part {
	e := &part{start: start, end: end}
	e.hdr, e.hdrEnd, e.bodyStart = parseHeader(p.raw, start, end, top)
	e.encoding = normalizeCTE(e.hdr.get("Content-Transfer-Encoding"))

	var ok bool
	if ct := e.hdr.get("Content-Type"); ct != "" {
		e.typ, e.sub, e.params, ok = parseMediaType(ct)
	}
	if !ok {
		if inDigest && !e.hdr.has("Content-Type") {
			e.typ, e.sub, e.params = "message", "rfc822", nil
		} else {
			e.typ, e.sub = "text", "plain"
			e.params = map[string]string{"charset": "us-ascii"}
		}
	}

	switch {
	case e.typ == "multipart":
		p.multipart(e, depth)
	case e.typ == "message" && (e.sub == "rfc822" || e.sub == "global"):
		if depth >= MaxDepth || p.budget <= 0 || classifyCTE(e.encoding) != cteIdentity {
			e.downgrade()
			break
		}
		p.budget--
		e.msg = p.entity(e.bodyStart, e.end, depth+1, false, false)
	}
	return e
}

// multipart splits e's body into children, or downgrades e to a leaf.
func (p *parser) multipart(e *part, depth int) {
	boundary := e.params["boundary"]
	if depth >= MaxDepth || p.budget <= 0 || boundary == "" {
		e.downgrade()
		return
	}
	spans := splitMultipart(p.raw, e.bodyStart, e.end, boundary)
	if len(spans) == 0 {
		e.downgrade()
		return
	}
	if len(spans) > p.budget {
		spans = spans[:p.budget]
	}
	p.budget -= len(spans)
	e.children = make([]*part, 0, len(spans))
	for _, s := range spans {
		e.children = append(e.children, p.entity(s.start, s.end, depth+1, e.sub == "digest", false))
	}
}

// downgrade presents e as a text/plain leaf covering the same bytes.
func (e *part) downgrade() {
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
