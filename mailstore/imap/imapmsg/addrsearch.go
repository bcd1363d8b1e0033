package imapmsg

import (
	"strings"

	"github.com/yubinmail/yubin/core/mimetext"
)

// isAddressSearchField reports whether SEARCH matches the named header
// field on its parsed addresses: the FROM, TO, CC and BCC keys (RFC 3501
// §6.4.4, RFC 9051 §6.4.4).
func isAddressSearchField(name string) bool {
	switch strings.ToLower(name) {
	case "from", "to", "cc", "bcc":
		return true
	}
	return false
}

// MatchAddressField reports whether an address-list header value (From,
// To, Cc or Bcc) matches the string of a SEARCH FROM, TO, CC or BCC key
// (RFC 3501 §6.4.4, RFC 9051 §6.4.4): a case-insensitive substring (full
// Unicode case folding) of one parsed address, tried as the decoded
// display name, as local@domain (comments, folding and quoting of the
// addr-spec removed, so "<user (comment)@ (comment) domain>" gives
// "user@domain"), as "name <local@domain>", or as a group's name. Only when
// the value does not parse as an address list (no address, or one without
// a mailbox or domain) is the decoded header text searched as a whole. An
// empty needle matches any value.
func MatchAddressField(value, needle string) bool {
	n := fold(needle)
	if n == "" {
		return true
	}
	list := parseAddressList(value)
	parsed := len(list) > 0
	for _, a := range list {
		if a.isGroupMarker() {
			if a.Mailbox != "" && a.Mailbox != missingGroup && strings.Contains(fold(mimetext.DecodeHeader(a.Mailbox)), n) {
				return true
			}
			continue
		}
		valid := isLocalPart(a.Mailbox) && isDomain(a.Host)
		if !valid {
			parsed = false
		}
		name := strings.TrimSpace(mimetext.DecodeHeader(a.Name))
		if name != "" && strings.Contains(fold(name), n) {
			return true
		}
		if !valid {
			continue
		}
		addr := fold(mimetext.DecodeHeader(a.Mailbox) + "@" + a.Host)
		if strings.Contains(addr, n) {
			return true
		}
		if name != "" && strings.Contains(fold(name)+" <"+addr+">", n) {
			return true
		}
	}
	if !parsed {
		return strings.Contains(fold(mimetext.DecodeHeader(value)), n)
	}
	return false
}

// isLocalPart reports whether s is a plausible RFC 5322 local part: a
// quoted string, or atext (UTF-8 included, RFC 6532) and dots.
func isLocalPart(s string) bool {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return true
	}
	return s != "" && s != missingMailbox && s != invalidMailbox && isDotAtomText(s)
}

// isDomain reports whether s is a plausible domain: a domain literal, or
// atext and dots.
func isDomain(s string) bool {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return true
	}
	return s != "" && s != missingHost && s != invalidHost && isDotAtomText(s)
}

// isDotAtomText reports whether s has only atext characters and dots.
func isDotAtomText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}
