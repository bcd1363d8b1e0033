package imapmsg

import (
	"bytes"
	"math"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// BodyStructure returns the message's BODYSTRUCTURE (extended) or BODY
// (not extended). Every multipart in the result has at least one child, so
// go-imap can always write it.
func (m *Message) BodyStructure(extended bool) imap.BodyStructure {
	return m.structure(m.root, extended)
}

// structure builds the body structure of one entity.
func (m *Message) structure(p *mimeparse.Part, extended bool) imap.BodyStructure {
	if p.IsMultipart() {
		mp := &imap.BodyStructureMultiPart{
			Children: make([]imap.BodyStructure, 0, len(p.Children())),
			Subtype:  p.Subtype(),
		}
		for _, c := range p.Children() {
			mp.Children = append(mp.Children, m.structure(c, extended))
		}
		if extended {
			mp.Extended = &imap.BodyStructureMultiPartExt{
				Params:      wireParams(p.Params()),
				Disposition: disposition(p.Header()),
				Language:    languages(p.Header()),
				Location:    location(p.Header()),
			}
		}
		return mp
	}

	body := p.Body()
	sp := &imap.BodyStructureSinglePart{
		Type:        p.Type(),
		Subtype:     p.Subtype(),
		Params:      wireParams(p.Params()),
		ID:          wireText(p.Header().Get("Content-Id")),
		Description: wireText(p.Header().Get("Content-Description")),
		Encoding:    p.Encoding(),
		Size:        clampUint32(len(body)),
	}
	if sp.Encoding == "" {
		sp.Encoding = "7bit"
	}
	switch {
	case p.Embedded() != nil:
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      envelopeOf(p.Embedded().Header()),
			BodyStructure: m.structure(p.Embedded(), extended),
			NumLines:      countLines(body),
		}
	case p.Type() == "text":
		sp.Text = &imap.BodyStructureText{NumLines: countLines(body)}
	}
	if extended {
		sp.Extended = &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p.Header()),
			Language:    languages(p.Header()),
			Location:    location(p.Header()),
		}
	}
	return sp
}

// countLines counts the lines of body, including a last line without a
// line ending.
func countLines(body []byte) int64 {
	n := int64(bytes.Count(body, []byte{'\n'}))
	if len(body) > 0 && body[len(body)-1] != '\n' {
		n++
	}
	return n
}

// clampUint32 converts a length to the uint32 BODYSTRUCTURE sizes use.
func clampUint32(n int) uint32 {
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// wireParams makes parameter values safe for the wire; nil when empty.
func wireParams(params map[string]string) map[string]string {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]string, len(params))
	for k, v := range params {
		k = wireText(k)
		if k == "" {
			continue
		}
		out[k] = wireText(v)
	}
	return out
}

// disposition parses Content-Disposition; nil when absent or invalid.
func disposition(h *mimeparse.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if v == "" {
		return nil
	}
	disp, params, ok := mimeparse.ParseDisposition(v)
	if !ok {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: disp, Params: wireParams(params)}
}

// languages parses Content-Language into its language tags.
func languages(h *mimeparse.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	var out []string
	for _, tag := range strings.Split(stripComments(v), ",") {
		tag = strings.TrimSpace(tag)
		if tag != "" {
			out = append(out, wireText(tag))
		}
	}
	return out
}

// location returns Content-Location with folding white space removed.
func location(h *mimeparse.Header) string {
	v := h.Get("Content-Location")
	if v == "" {
		return ""
	}
	return wireText(strings.Join(strings.Fields(v), ""))
}
