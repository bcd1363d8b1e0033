package imapmsg

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core/mimetext"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// PreviewMaxChars is the length of the longest preview Preview returns, in
// characters, well below the 256 characters RFC 8970 allows.
const PreviewMaxChars = 200

// Limits on how much of a part's encoded body is read for a preview.
const (
	previewPlainBytes = 64 << 10
	previewHTMLBytes  = 256 << 10
)

// Preview returns the message's PREVIEW (RFC 8970): up to
// PreviewMaxChars characters of plain text from the first text part that
// is not an attachment (text/plain preferred inside multipart/alternative,
// text/html converted to text), with the transfer encoding and charset
// decoded (ISO-2022-JP, Shift_JIS and every other charset go-message
// knows), quoted lines ("> ...") and the signature ("-- ") left out, and
// white space collapsed. It is "" when the message has no such text, which
// RFC 8970 says the server then returns as a zero-length string.
func (m *Message) Preview() string {
	p := m.previewPart(m.root, 0)
	if p == nil {
		return ""
	}
	limit := previewPlainBytes
	isHTML := p.Subtype() == "html"
	if isHTML {
		limit = previewHTMLBytes
	}
	body := p.Body()
	if len(body) > limit {
		body = body[:limit]
	}
	decoded, _ := decodeCTE(p.Encoding(), body, false)
	text := mimetext.DecodeBytes(p.Params()["charset"], decoded)
	if isHTML {
		if s := previewText(mimetext.HTMLToText(strings.NewReader(text), mimetext.HTMLOptions{SkipQuotes: true})); s != "" {
			return s
		}
		return previewText(mimetext.HTMLToText(strings.NewReader(text), mimetext.HTMLOptions{}))
	}
	return previewText(text)
}

// PreviewOf returns the PREVIEW of a message given as raw bytes; see
// Message.Preview.
func PreviewOf(raw []byte) string {
	return Parse(raw).Preview()
}

// previewPart finds the part a preview is made from, or nil.
func (m *Message) previewPart(p *mimeparse.Part, depth int) *mimeparse.Part {
	if depth > mimeparse.MaxDepth {
		return nil
	}
	switch {
	case p.IsMultipart():
		if p.Subtype() == "alternative" {
			for _, c := range p.Children() {
				if isPreviewText(c) && c.Subtype() == "plain" {
					return c
				}
			}
		}
		for _, c := range p.Children() {
			if r := m.previewPart(c, depth+1); r != nil {
				return r
			}
		}
		return nil
	case p.Embedded() != nil:
		return m.previewPart(p.Embedded(), depth+1)
	case isPreviewText(p):
		return p
	}
	return nil
}

// isPreviewText reports whether p is a text/plain or text/html leaf that
// is not an attachment.
func isPreviewText(p *mimeparse.Part) bool {
	if p.IsMultipart() || p.Embedded() != nil || p.Type() != "text" || (p.Subtype() != "plain" && p.Subtype() != "html") {
		return false
	}
	if d, _, ok := mimeparse.ParseDisposition(p.Header().Get("Content-Disposition")); ok && d == "attachment" {
		return false
	}
	return true
}

// previewText turns decoded text into a preview: quoted lines and the
// signature are dropped (unless nothing else is left), control characters
// removed, white space collapsed, and the result cut to PreviewMaxChars.
func previewText(text string) string {
	if s := collapsePreview(text, true); s != "" {
		return s
	}
	return collapsePreview(text, false)
}

// collapsePreview builds a preview, skipping quotes and the signature when
// skipQuotes is set.
func collapsePreview(text string, skipQuotes bool) string {
	var b strings.Builder
	n := 0
	space := false
	for line := range strings.Lines(text) {
		if skipQuotes {
			trimmed := strings.TrimLeft(line, " \t")
			if strings.HasPrefix(trimmed, ">") {
				continue
			}
			if strings.TrimRight(line, "\r\n") == "-- " {
				break
			}
		}
		for _, r := range line {
			switch {
			case unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff':
				space = b.Len() > 0
				continue
			case unicode.IsControl(r) || r == utf8.RuneError:
				continue
			}
			if n == PreviewMaxChars {
				return b.String()
			}
			if space {
				if n == PreviewMaxChars-1 {
					return b.String()
				}
				b.WriteByte(' ')
				n++
				space = false
			}
			b.WriteRune(r)
			n++
		}
	}
	return b.String()
}
