package imapmsg

import (
	"strings"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// Address is one address structure of an ENVELOPE (RFC 3501 §7.4.2,
// RFC 9051 §7.5.2): addr-name, addr-adl, addr-mailbox and addr-host, with
// "" standing for NIL. Route is the obsolete source route of a route-addr
// ("@a,@b" of "<@a,@b:user@domain>", RFC 5322 §4.4 obs-route). A group
// start has the group name in Mailbox and no Host; a group end is the
// zero Address. Every other address has a Host (a placeholder such as
// ".MISSING-HOST-NAME." when the header lacks one). Name and Mailbox are
// the header's text made safe: ASCII stays as written (encoded words
// included), text with 8-bit characters is decoded to UTF-8.
type Address struct {
	Name    string
	Route   string
	Mailbox string
	Host    string
}

// isGroupMarker reports whether a is a group start or end.
func (a Address) isGroupMarker() bool {
	return a.Host == ""
}

// Placeholders for address parts that are missing or unparseable, in the
// tradition of UW IMAP. A host is never empty, so that an address is not
// mistaken for a group marker.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingHost    = ".MISSING-HOST-NAME."
	invalidMailbox = "INVALID_ADDRESS"
	invalidHost    = ".SYNTAX-ERROR."
	missingGroup   = "MISSING_GROUP_NAME"
)

// maxAddresses caps how many addresses one header field yields.
const maxAddresses = 10000

// atok is one token of an address list.
type atok struct {
	kind byte   // 'w' word, 'q' quoted string, 'c' comment, or a special: < > @ : ; ,
	text string // word text, unescaped quoted/comment content
	raw  string // quoted string with its quotes, as written
}

// tokenizeAddresses splits an unfolded address-list value into tokens.
func tokenizeAddresses(s string) []atok {
	var toks []atok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
				j++
			}
			if j < len(s) {
				j++
			}
			toks = append(toks, atok{kind: 'q', text: b.String(), raw: s[i:j]})
			i = j
		case c == '(':
			rest := mimeparse.SkipComment(s[i:])
			end := len(s) - len(rest)
			inner := strings.TrimSuffix(s[i+1:end], ")")
			toks = append(toks, atok{kind: 'c', text: strings.TrimSpace(inner)})
			i = end
		case strings.IndexByte("<>@:;,", c) >= 0:
			toks = append(toks, atok{kind: c, text: string(c)})
			i++
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, atok{kind: 'w', text: s[i : i+j+1]})
			i += j + 1
		default:
			j := i
			for j < len(s) && !isAddrSpecial(s[j]) {
				j++
			}
			if j == i {
				// A stray ")" or "]": keep it as a word of its own.
				j = i + 1
			}
			toks = append(toks, atok{kind: 'w', text: s[i:j]})
			i = j
		}
	}
	return toks
}

// isAddrSpecial reports whether c ends an atom in an address list.
func isAddrSpecial(c byte) bool {
	return c <= ' ' || strings.IndexByte(`()<>@:;,"[]`, c) >= 0
}

// parseAddressList leniently parses an unfolded address-list header value
// into IMAP envelope addresses, including group start and end markers.
// Malformed entries are kept with placeholder mailbox or host names.
func parseAddressList(v string) []Address {
	toks := tokenizeAddresses(cleanText(v))
	var (
		out     []Address
		cur     []atok
		inGroup bool
		inAngle bool
	)
	flush := func() {
		if a, ok := buildAddress(cur); ok && len(out) < maxAddresses {
			out = append(out, a)
		}
		cur = nil
	}
	for _, t := range toks {
		switch {
		case inAngle:
			cur = append(cur, t)
			if t.kind == '>' {
				inAngle = false
			}
		case t.kind == '<':
			inAngle = true
			cur = append(cur, t)
		case t.kind == ',':
			flush()
		case t.kind == ':' && !inGroup && !hasKind(cur, '@'):
			name := phrase(cur)
			if name == "" {
				name = missingGroup
			}
			out = append(out, Address{Mailbox: name})
			inGroup = true
			cur = nil
		case t.kind == ';':
			flush()
			if inGroup {
				out = append(out, Address{})
				inGroup = false
			}
		default:
			cur = append(cur, t)
		}
	}
	flush()
	if inGroup {
		out = append(out, Address{})
	}
	return out
}

// hasKind reports whether toks contains a token of the given kind.
func hasKind(toks []atok, kind byte) bool {
	for _, t := range toks {
		if t.kind == kind {
			return true
		}
	}
	return false
}

// phrase joins the words and quoted strings of toks with single spaces;
// without any, it returns the first comment.
func phrase(toks []atok) string {
	var words []string
	comment := ""
	for _, t := range toks {
		switch t.kind {
		case 'w', 'q':
			if t.text != "" {
				words = append(words, t.text)
			}
		case 'c':
			if comment == "" {
				comment = t.text
			}
		default:
			words = append(words, t.text)
		}
	}
	if len(words) == 0 {
		return comment
	}
	return strings.Join(words, " ")
}

// buildAddress turns the tokens of one list entry into an address.
func buildAddress(toks []atok) (Address, bool) {
	meaningful := false
	for _, t := range toks {
		if t.kind != 'c' {
			meaningful = true
			break
		}
	}
	if !meaningful {
		return Address{}, false
	}

	var a Address
	if lt := indexKind(toks, '<'); lt >= 0 {
		a.Name = phrase(toks[:lt])
		inner := toks[lt+1:]
		if gt := indexKind(inner, '>'); gt >= 0 {
			inner = inner[:gt]
		}
		// Split off an obsolete source route ("@a,@b:"); anything else
		// before a colon is dropped.
		if colon := lastIndexKind(inner, ':'); colon >= 0 {
			a.Route = sourceRoute(inner[:colon])
			inner = inner[colon+1:]
		}
		a.Mailbox, a.Host = addrSpec(inner)
	} else if hasKind(toks, '@') {
		a.Mailbox, a.Host = addrSpec(toks)
		for _, t := range toks {
			if t.kind == 'c' && t.text != "" {
				a.Name = t.text
				break
			}
		}
	} else {
		words := 0
		for _, t := range toks {
			if t.kind != 'c' {
				words++
			}
		}
		if words == 1 {
			a.Mailbox, _ = addrSpec(toks)
			a.Name = phrase(commentsOf(toks))
		} else {
			a.Name = phrase(toks)
			a.Mailbox, a.Host = invalidMailbox, invalidHost
		}
	}
	a.Name = envText(a.Name)
	if a.Mailbox == "" {
		a.Mailbox = missingMailbox
	}
	if a.Host == "" {
		a.Host = missingHost
	}
	return a, true
}

// sourceRoute renders the tokens of an obs-route's domain list ("@a, @b")
// as "@a,@b", or returns "" if they are not one (RFC 5322 §4.4: obs-route =
// obs-domain-list ":", obs-domain-list = *(CFWS / ",") "@" domain
// *("," [CFWS] ["@" domain])).
func sourceRoute(toks []atok) string {
	var b strings.Builder
	const (
		wantAt = iota
		wantDomain
		wantComma
	)
	state := wantAt
	for _, t := range toks {
		switch {
		case t.kind == 'c':
		case t.kind == ',' && state != wantDomain:
			state = wantAt
		case t.kind == '@' && state == wantAt:
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('@')
			state = wantDomain
		case t.kind == 'w' && state == wantDomain:
			b.WriteString(t.text)
			state = wantComma
		default:
			return ""
		}
	}
	if state == wantDomain {
		return ""
	}
	return b.String()
}

// commentsOf returns only the comment tokens of toks.
func commentsOf(toks []atok) []atok {
	var cs []atok
	for _, t := range toks {
		if t.kind == 'c' {
			cs = append(cs, t)
		}
	}
	return cs
}

// addrSpec splits tokens at the last "@" into local part and domain,
// concatenating tokens as written and dropping comments.
func addrSpec(toks []atok) (mailbox, host string) {
	at := lastIndexKind(toks, '@')
	join := func(ts []atok) string {
		var b strings.Builder
		for _, t := range ts {
			switch t.kind {
			case 'c':
			case 'q':
				b.WriteString(t.raw)
			default:
				b.WriteString(t.text)
			}
		}
		return b.String()
	}
	if at < 0 {
		return join(toks), ""
	}
	return join(toks[:at]), join(toks[at+1:])
}

// indexKind returns the index of the first token of the given kind, or -1.
func indexKind(toks []atok, kind byte) int {
	for i, t := range toks {
		if t.kind == kind {
			return i
		}
	}
	return -1
}

// lastIndexKind returns the index of the last token of the given kind, or -1.
func lastIndexKind(toks []atok, kind byte) int {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == kind {
			return i
		}
	}
	return -1
}
