package sieve

import (
	"net/mail"
	"strings"

	"github.com/yubinmail/yubin/core/mimetext"
)

// mailAddress is one address found in a header field. valid is false for
// text that is not an address; only :all sees such text.
type mailAddress struct {
	addr  string // local@domain, or the raw text if not valid
	valid bool
}

// parseAddressList extracts the addresses of an address header field.
// Groups are flattened, display names dropped. An element that does not
// parse is kept as raw text (RFC 5228 section 5.1).
func parseAddressList(v string) []mailAddress {
	parser := mail.AddressParser{WordDecoder: mimetext.WordDecoder}
	if list, err := parser.ParseList(v); err == nil {
		out := make([]mailAddress, 0, len(list))
		for _, a := range list {
			out = append(out, mailAddress{addr: a.Address, valid: true})
		}
		return out
	}
	var out []mailAddress
	for _, piece := range splitAddressList(v) {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		if a, err := parser.Parse(piece); err == nil {
			out = append(out, mailAddress{addr: a.Address, valid: true})
			continue
		}
		out = append(out, mailAddress{addr: piece})
	}
	return out
}

// splitAddressList splits an address list at commas outside quotes,
// comments and angle brackets, dropping group names and their ";".
func splitAddressList(v string) []string {
	var out []string
	depth, angle, quoted := 0, false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ':' && !angle:
			start = i + 1 // a group name ends here
		case (c == ',' || c == ';') && !angle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// addressPart returns the part of a asked for by an address test (RFC
// 5228 section 2.7.4, RFC 5233). ok is false when the part does not exist
// (a :detail without a delimiter, a local part of text that is not an
// address).
func (r *run) addressPart(part string, a mailAddress) (string, bool) {
	if part == "all" {
		return a.addr, true
	}
	if !a.valid {
		return "", false
	}
	local, domain := a.addr, ""
	if at := strings.LastIndexByte(a.addr, '@'); at >= 0 {
		local, domain = a.addr[:at], a.addr[at+1:]
	}
	switch part {
	case "localpart":
		return local, true
	case "domain":
		return domain, true
	}
	delim := r.opts.SubaddressDelimiter
	i := -1
	if delim != "" {
		i = indexAnyDelimiter(local, delim)
	}
	if part == "user" {
		if i < 0 {
			return local, true
		}
		return local[:i], true
	}
	if i < 0 {
		return "", false
	}
	return local[i+1:], true
}

// indexAnyDelimiter finds the first of the delimiter characters in local
// (the configured delimiter may list several, e.g. "+-").
func indexAnyDelimiter(local, delims string) int {
	return strings.IndexAny(local, delims)
}
