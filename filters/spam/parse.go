package spam

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/core/mimetext"
	"github.com/yubinmail/yubin/filters"
)

// Limits of the MIME parser. Whatever lies beyond them is not looked at.
const (
	maxParts     = 200      // MIME parts visited
	maxDepth     = 10       // nesting of multiparts and attached messages
	maxReadBytes = 10 << 20 // bytes of the raw message read
	maxTextBytes = 1 << 20  // decoded text kept for tokenizing, all parts together
	maxZipBytes  = 8 << 20  // size of a zip attachment that is opened
	maxZipFiles  = 1000     // entries of a zip attachment looked at
	maxLinks     = 500      // links kept
)

// link is a hyperlink found in the message.
type link struct {
	Href string // the URL
	Host string // its host, lower-case, without port
	Text string // the text of an HTML link, "" for a bare URL in text
}

// attachment is a file attached to the message, or a file inside an
// attached zip archive (Name is then "archive.zip/inner.exe").
type attachment struct {
	Name string
}

// parsedMessage is what the rules and the tokenizer look at. It is built as
// far as the message can be read: broken MIME yields a partial result, never
// an error.
type parsedMessage struct {
	Header      textproto.Header // top-level header
	Subject     string           // decoded
	Texts       []string         // text/plain bodies and text of text/html bodies
	HasPlain    bool             // a text/plain part (or a body without Content-Type)
	HasHTML     bool             // a text/html part
	Links       []link
	Attachments []attachment
	MediaTypes  []string // of the parts, in order
	Parts       int
	Truncated   bool // a limit was hit

	textBytes int
	from      *addressList // Header's From, once parsed
}

// addressList is a parsed address list header field.
type addressList struct {
	addrs []*mail.Address
	err   error
}

// addressList returns the addresses of header field key, as
// mail.Header.AddressList does, parsing From only once for the rules and the
// tokenizer.
func (pm *parsedMessage) addressList(key string) ([]*mail.Address, error) {
	if key == "From" && pm.from != nil {
		return pm.from.addrs, pm.from.err
	}
	mh := mail.Header{Header: message.Header{Header: pm.Header}}
	addrs, err := mh.AddressList(key)
	if key == "From" {
		pm.from = &addressList{addrs, err}
	}
	return addrs, err
}

// parseMessage reads msg as far as the limits allow.
func parseMessage(ctx context.Context, header textproto.Header, open func() io.Reader) *parsedMessage {
	pm := &parsedMessage{Header: header}
	pm.Subject = mimetext.DecodeHeader(header.Get("Subject"))
	if open == nil {
		return pm
	}
	buf := rawBufs.Get().(*[]byte)
	defer putRawBuf(buf)
	raw := readUpTo(open(), (*buf)[:0], maxReadBytes+1)
	*buf = raw
	if len(raw) > maxReadBytes {
		raw = raw[:maxReadBytes]
		pm.Truncated = true
	}
	// The structure is core/mimeparse's, the one the IMAP server shows the
	// reader; header holds the fields the rules see (with those earlier
	// filters added).
	pm.walk(ctx, mimeparse.Parse(raw).Root(), 0)
	return pm
}

// parseMessageOf parses msg: its Header for the rules, and the raw message
// for the body.
func parseMessageOf(ctx context.Context, msg *filters.Message) *parsedMessage {
	return parseMessage(ctx, msg.Header, msg.Open)
}

// rawBufs holds the buffers parseMessage reads messages into: nothing of
// them is kept once it returns (texts are copied out).
var rawBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// maxPooledRawBuf is the largest buffer put back into rawBufs.
const maxPooledRawBuf = 1 << 20

func putRawBuf(b *[]byte) {
	if cap(*b) > maxPooledRawBuf {
		return
	}
	*b = (*b)[:0]
	rawBufs.Put(b)
}

func (pm *parsedMessage) walk(ctx context.Context, p *mimeparse.Part, depth int) {
	if ctx.Err() != nil {
		return
	}
	if pm.Parts >= maxParts {
		pm.Truncated = true
		return
	}
	pm.Parts++
	mediaType := p.MediaType()
	pm.MediaTypes = append(pm.MediaTypes, mediaType)

	if p.IsMultipart() {
		if depth >= maxDepth {
			pm.Truncated = true
			return
		}
		for _, c := range p.Children() {
			pm.walk(ctx, c, depth+1)
			if pm.Parts >= maxParts || ctx.Err() != nil {
				pm.Truncated = pm.Truncated || pm.Parts >= maxParts
				break
			}
		}
		return
	}

	name := attachmentName(p)
	disposition, _ := p.Disposition()
	isAttachment := name != "" || disposition == "attachment"
	switch {
	case p.Embedded() != nil && depth < maxDepth:
		if name != "" {
			pm.Attachments = append(pm.Attachments, attachment{Name: name})
		}
		pm.walk(ctx, p.Embedded(), depth+1)
	case (mediaType == "text/plain" || mediaType == "text/html") && disposition != "attachment":
		if name != "" {
			pm.Attachments = append(pm.Attachments, attachment{Name: name})
		}
		pm.readText(p, mediaType == "text/html")
	case isAttachment:
		pm.Attachments = append(pm.Attachments, attachment{Name: name})
		if isZip(name, mediaType) {
			body, _ := p.Decoded()
			pm.readZip(name, body)
		}
	}
}

// attachmentName returns the file name of a part, "" if it has none.
func attachmentName(p *mimeparse.Part) string {
	name := p.Filename()
	if name == "" {
		// Malformed parameters: look for the file name ourselves.
		for _, k := range []string{"Content-Disposition", "Content-Type"} {
			if m := rawNameRe.FindStringSubmatch(p.Header().Get(k)); m != nil {
				name = m[1]
				break
			}
		}
	}
	name = mimetext.DecodeHeader(strings.Trim(strings.TrimSpace(name), `"`))
	// Keep the base name only, whatever the separator.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name
}

var rawNameRe = regexp.MustCompile(`(?i)\b(?:file)?name\*?=\s*"?([^";]+)`)

func isZip(name, mediaType string) bool {
	return strings.EqualFold(path.Ext(name), ".zip") ||
		mediaType == "application/zip" || mediaType == "application/x-zip-compressed"
}

// readZip records the names of the files in a zip attachment, read from its
// central directory.
func (pm *parsedMessage) readZip(name string, data []byte) {
	if len(data) > maxZipBytes {
		pm.Truncated = true
		return
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return
	}
	for i, f := range zr.File {
		if i >= maxZipFiles {
			pm.Truncated = true
			break
		}
		inner := f.Name
		if j := strings.LastIndexAny(inner, `/\`); j >= 0 {
			inner = inner[j+1:]
		}
		if inner == "" {
			continue
		}
		pm.Attachments = append(pm.Attachments, attachment{Name: name + "/" + inner})
	}
}

// readText reads a text part, keeping its (tag-stripped) text and links:
// the transfer encoding undone, and the charset converted to UTF-8 when
// the part names one other than UTF-8 or US-ASCII (other text is kept as
// it is).
func (pm *parsedMessage) readText(p *mimeparse.Part, isHTML bool) {
	if isHTML {
		pm.HasHTML = true
	} else {
		pm.HasPlain = true
	}
	budget := maxTextBytes - pm.textBytes
	if budget <= 0 {
		pm.Truncated = true
		return
	}
	// Read a little more than the budget from HTML, whose markup is
	// stripped.
	limit := budget
	if isHTML {
		limit *= 4
	}
	data, _ := p.Decoded()
	if cs := p.Params()["charset"]; cs != "" && !plainCharset(cs) {
		data = []byte(mimetext.DecodeBytes(cs, data))
	}
	if len(data) > limit {
		data = data[:limit]
		pm.Truncated = true
	}
	if len(data) == 0 {
		return
	}
	var text string
	if isHTML {
		text = mimetext.HTMLToText(bytes.NewReader(data), mimetext.HTMLOptions{SeparateWords: true, Link: pm.addLink})
	} else {
		text = string(data)
		pm.textLinks(text)
	}
	if len(text) > budget {
		text = text[:budget]
		pm.Truncated = true
	}
	pm.textBytes += len(text)
	pm.Texts = append(pm.Texts, text)
}

// plainCharset reports a charset whose text is kept as it is.
func plainCharset(cs string) bool {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"`))
	return cs == "utf-8" || cs == "us-ascii" || cs == "utf8"
}

// readUpTo appends what it reads from r to buf until EOF, an error or n
// bytes in all, as io.ReadAll(io.LimitReader(r, n)) would, and returns buf.
func readUpTo(r io.Reader, buf []byte, n int64) []byte {
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 1)
		}
		room := buf[len(buf):cap(buf)]
		if rest := n - int64(len(buf)); int64(len(room)) > rest {
			room = room[:rest]
		}
		m, err := r.Read(room)
		buf = buf[:len(buf)+m]
		if err != nil {
			break
		}
	}
	return buf
}

// textLinks records the URLs of plain text.
func (pm *parsedMessage) textLinks(text string) {
	for i, n := 0, 0; n < maxLinks; n++ {
		start, end := nextURL(text, i)
		if start < 0 {
			return
		}
		pm.addLink(text[start:end], "")
		i = end
	}
}

// nextURL returns the bounds of the first http, https or ftp URL in s that
// starts at or after from, or -1, -1 if there is none. It finds what the
// regular expression
//
//	(?i)\b(?:https?|ftp)://(?:\[[0-9a-f:.]+\]|[^\s<>"'()\[\]{}/])[^\s<>"'()\[\]{}]*
//
// finds (regexp.FindAllString calling it with the end of the previous
// match), which it replaced because the regexp engine tried it at every
// position of every text; reference_test.go checks that they agree. It
// looks for "://" and then checks the scheme before it, so that text
// without URLs costs one strings.Index.
func nextURL(s string, from int) (start, end int) {
	for from < len(s) {
		i := strings.Index(s[from:], "://")
		if i < 0 {
			break
		}
		colon := from + i
		from = colon + 1
		start := schemeStart(s, colon)
		if start < 0 || (start > 0 && isASCIIWordByte(s[start-1])) {
			continue // not a scheme we know, or no \b before it
		}
		p := colon + 3
		switch {
		case p == len(s):
			continue
		case s[p] == '[':
			// An IPv6 literal: [0-9a-f:.]+ then ']'.
			q := p + 1
			for q < len(s) && isIPLiteralByte(s[q]) {
				q++
			}
			if q == p+1 || q == len(s) || s[q] != ']' {
				continue
			}
			p = q + 1
		case s[p] == '/' || urlStop[s[p]]:
			continue
		}
		// The rest: all but the stop bytes, which are ASCII, so that
		// scanning bytes instead of runes gives the same end (the regexp
		// takes an invalid byte for U+FFFD, which is no stop either).
		for p < len(s) && !urlStop[s[p]] {
			p++
		}
		return start, p
	}
	return -1, -1
}

// schemeStart returns where "http", "https" or "ftp" (in any case) ends
// right before s[colon], -1 if none does. The long s ("ſ", U+017F) counts as
// an "s", as in regexp's (?i).
func schemeStart(s string, colon int) int {
	pre := s[:colon]
	switch {
	case hasSuffixFold(pre, "http"):
		return colon - 4
	case hasSuffixFold(pre, "https"):
		return colon - 5
	case strings.HasSuffix(pre, "ſ") && hasSuffixFold(pre[:len(pre)-len("ſ")], "http"):
		return colon - 4 - len("ſ")
	case hasSuffixFold(pre, "ftp"):
		return colon - 3
	}
	return -1
}

// hasSuffixFold reports whether s ends with the lower-case ASCII suffix,
// ignoring ASCII case.
func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

// isASCIIWordByte reports whether c is a word character for regexp's \b.
func isASCIIWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isIPLiteralByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.'
}

// urlStop are the bytes that end a URL in text: \s (which for regexp is
// ASCII only) and the brackets and quotes of [^\s<>"'()\[\]{}].
var urlStop = func() (t [256]bool) {
	for _, c := range []byte("\t\n\f\r <>\"'()[]{}") {
		t[c] = true
	}
	return t
}()

func (pm *parsedMessage) addLink(href, text string) {
	if len(pm.Links) >= maxLinks {
		return
	}
	host := urlHost(href)
	if host == "" {
		return
	}
	pm.Links = append(pm.Links, link{Href: href, Host: host, Text: text})
}

// urlHost returns the lower-case host of an absolute http(s) or ftp URL, ""
// for anything else.
func urlHost(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
	default:
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return h
}
