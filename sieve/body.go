package sieve

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/core/mimetext"
)

// Bounds on the MIME walk of the body test.
const (
	maxBodyDepth = 20
	maxBodyParts = 200
)

// bodyCache reads the message body once, up to max bytes.
type bodyCache struct {
	msg    *Message
	max    int
	raw    []byte
	read   bool
	err    error
	parts  []bodyPart
	walked bool
}

func (b *bodyCache) get() ([]byte, error) {
	if !b.read {
		b.read = true
		if b.msg.Body != nil {
			b.raw, b.err = io.ReadAll(io.LimitReader(b.msg.Body, int64(b.max)))
		}
	}
	return b.raw, b.err
}

// bodyPart is the decoded text of one MIME leaf.
type bodyPart struct {
	mediaType string // lower case type/subtype
	text      string
}

// bodyTest runs the body test (RFC 5173).
func (r *run) bodyTest(t *node) (bool, error) {
	raw, err := r.body.get()
	if err != nil {
		return false, errors.New("body: cannot read the message body")
	}
	var values []string
	switch {
	case t.has("raw"):
		values = []string{mimetext.FallbackUTF8(raw)}
	default:
		var types []string
		if a, ok := t.tags["content"]; ok {
			if types, err = r.strs(a.strs); err != nil {
				return false, err
			}
		} else {
			types = []string{"text"}
		}
		if !r.body.walked {
			r.body.parts, r.body.walked = r.bodyParts(raw), true
		}
		for _, p := range r.body.parts {
			if !contentTypeMatches(p.mediaType, types) {
				continue
			}
			text := p.text
			if !t.has("content") && p.mediaType == "text/html" {
				text = htmlToText(text)
			}
			values = append(values, text)
		}
	}
	if err := r.steps.charge(len(raw) / 256); err != nil {
		return false, err
	}
	return r.matchValues(t, values, t.args[0])
}

// contentTypeMatches applies a :content list (RFC 5173 section 5.3): ""
// matches every part, "type" every subtype of it, "type/subtype" exactly.
func contentTypeMatches(mediaType string, types []string) bool {
	main, _, _ := strings.Cut(mediaType, "/")
	for _, ct := range types {
		ct = strings.ToLower(strings.TrimSpace(ct))
		switch {
		case ct == "":
			return true
		case strings.Contains(ct, "/"):
			if ct == mediaType {
				return true
			}
		case ct == main:
			return true
		}
	}
	return false
}

// bodyParts walks the MIME structure of the message with core/mimeparse
// (the parser the filters and the IMAP server use) and returns its leaf
// parts, transfer-decoded and converted to UTF-8 (text parts).
func (r *run) bodyParts(raw []byte) []bodyPart {
	hdr := r.body.msg.Header
	full := make([]byte, 0, len(hdr)+4+len(raw))
	full = append(full, hdr...)
	switch {
	case len(hdr) == 0, bytes.HasSuffix(hdr, []byte("\n\n")), bytes.HasSuffix(hdr, []byte("\n\r\n")):
	case bytes.HasSuffix(hdr, []byte("\n")):
		full = append(full, '\r', '\n')
	default:
		full = append(full, "\r\n\r\n"...)
	}
	full = append(full, raw...)
	var parts []bodyPart
	walkPart(mimeparse.Parse(full).Root(), 0, &parts)
	return parts
}

func walkPart(p *mimeparse.Part, depth int, parts *[]bodyPart) {
	if len(*parts) >= maxBodyParts {
		return
	}
	switch {
	case p.IsMultipart() && depth < maxBodyDepth:
		for _, c := range p.Children() {
			if len(*parts) >= maxBodyParts {
				break
			}
			walkPart(c, depth+1, parts)
		}
		return
	case p.Embedded() != nil && depth < maxBodyDepth:
		walkPart(p.Embedded(), depth+1, parts)
		return
	}
	body, _ := p.Decoded()
	text := ""
	if cs := p.Params()["charset"]; cs != "" && p.Type() == "text" {
		text = mimetext.DecodeBytes(cs, body)
	} else {
		text = mimetext.FallbackUTF8(body)
	}
	*parts = append(*parts, bodyPart{mediaType: p.MediaType(), text: text})
}

// htmlToText reduces HTML to its text for the :text transform (RFC 5173):
// the visible text as core/mimetext sees it, white space collapsed.
func htmlToText(s string) string {
	return strings.Join(strings.Fields(mimetext.HTMLToText(strings.NewReader(s), mimetext.HTMLOptions{})), " ")
}
