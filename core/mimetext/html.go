package mimetext

import (
	"io"
	"strings"

	"golang.org/x/net/html"
)

// maxLinkText is how much of a link's text HTMLToText hands to
// HTMLOptions.Link, in bytes.
const maxLinkText = 1000

// HTMLOptions tunes HTMLToText.
type HTMLOptions struct {
	// SkipQuotes drops what is inside <blockquote>, where mail clients
	// put quoted messages.
	SkipQuotes bool
	// SeparateWords writes a space at every tag that does not break the
	// line, so text in adjacent elements never runs together (for word
	// tokenizers: "a<b>b</b>" gives "a b ", and adjacent links stay apart).
	SeparateWords bool
	// Link, if set, is called for every <a href> with the raw href and
	// the link's text (trimmed, at most about 1000 bytes).
	Link func(href, text string)
}

// htmlSkippedElements hold no visible text.
var htmlSkippedElements = map[string]bool{
	"head": true, "script": true, "style": true, "title": true, "template": true, "noscript": true,
}

// HTMLToText returns the visible text of an HTML document as a mail client
// shows it: tags, comments and the content of head, script, style, title,
// template and noscript elements removed, entities decoded, block-level
// elements (p, div, br, td, li, ...) turned into line breaks and images
// into a space; inline elements join their text. White space is kept as
// written. It reads r to its end or first error and never fails.
func HTMLToText(r io.Reader, opt HTMLOptions) string {
	var b strings.Builder
	z := html.NewTokenizer(r)
	skip := 0 // depth inside elements without visible text
	var link linkState
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			link.end(opt.Link)
			return b.String()
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := z.Text() // valid until the next z.Next
			b.Write(t)
			link.text(t)
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if tag == "body" {
				skip = 0 // an unclosed <head> hides nothing after <body>
			}
			if htmlSkippedElements[tag] || (opt.SkipQuotes && tag == "blockquote") {
				switch tt {
				case html.StartTagToken:
					skip++
				case html.EndTagToken:
					if skip > 0 {
						skip--
					}
				}
				continue
			}
			if tag == "a" && opt.Link != nil {
				link.end(opt.Link)
				if tt != html.EndTagToken {
					link.start(z, hasAttr, tt == html.SelfClosingTagToken, opt.Link)
				}
			}
			switch {
			case isBlockElement(tag):
				b.WriteByte('\n')
			case tag == "img" || opt.SeparateWords:
				b.WriteByte(' ')
			}
		}
	}
}

// linkState follows the <a> element HTMLToText is in.
type linkState struct {
	open bool
	href string
	buf  strings.Builder
}

// start opens a link at the current <a> tag of z, if it has an href.
func (l *linkState) start(z *html.Tokenizer, hasAttr, selfClosing bool, report func(href, text string)) {
	l.href = ""
	l.buf.Reset()
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		if string(k) == "href" {
			l.href = string(v)
		}
	}
	if l.href == "" {
		return
	}
	if selfClosing {
		report(l.href, "")
		return
	}
	l.open = true
}

// text adds t to the open link's text.
func (l *linkState) text(t []byte) {
	if l.open && l.buf.Len() < maxLinkText {
		l.buf.Write(t)
	}
}

// end reports the open link, if any, and closes it.
func (l *linkState) end(report func(href, text string)) {
	if l.open && report != nil {
		report(l.href, strings.TrimSpace(l.buf.String()))
	}
	l.open = false
}

// isBlockElement reports whether the element breaks a line.
func isBlockElement(tag string) bool {
	switch tag {
	case "br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "hr",
		"h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section", "article":
		return true
	}
	return false
}
