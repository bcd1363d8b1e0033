package sieve

import (
	"bytes"
	"errors"
	"io"
	"strings"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

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

// bodyParts walks the MIME structure of the message and returns its leaf
// parts, transfer-decoded and converted to UTF-8 (text parts).
func (r *run) bodyParts(raw []byte) []bodyPart {
	var h textproto.Header
	for i := len(r.hdr.fields) - 1; i >= 0; i-- {
		f := r.hdr.fields[i]
		h.Add(f.name, f.value)
	}
	e, err := message.New(message.Header{Header: h}, bytes.NewReader(raw))
	if e == nil {
		return []bodyPart{{mediaType: "text/plain", text: mimetext.FallbackUTF8(raw)}}
	}
	_ = err // unknown charsets and encodings still give a readable entity
	var parts []bodyPart
	walkEntity(e, 0, &parts)
	return parts
}

func walkEntity(e *message.Entity, depth int, parts *[]bodyPart) {
	if len(*parts) >= maxBodyParts {
		return
	}
	mediaType, _, err := e.Header.ContentType()
	if err != nil || !strings.Contains(mediaType, "/") {
		mediaType = "text/plain"
	}
	mediaType = strings.ToLower(mediaType)
	if mr := e.MultipartReader(); mr != nil && depth < maxBodyDepth {
		for len(*parts) < maxBodyParts {
			p, err := mr.NextPart()
			if p == nil || err != nil {
				break
			}
			walkEntity(p, depth+1, parts)
		}
		return
	}
	body, _ := io.ReadAll(e.Body)
	if mediaType == "message/rfc822" && depth < maxBodyDepth {
		if inner, _ := message.Read(bytes.NewReader(body)); inner != nil {
			walkEntity(inner, depth+1, parts)
			return
		}
	}
	*parts = append(*parts, bodyPart{mediaType: mediaType, text: mimetext.FallbackUTF8(body)})
}

// htmlToText reduces HTML to its text for the :text transform (RFC 5173):
// the visible text as core/mimetext sees it, white space collapsed.
func htmlToText(s string) string {
	return strings.Join(strings.Fields(mimetext.HTMLToText(strings.NewReader(s), mimetext.HTMLOptions{})), " ")
}
