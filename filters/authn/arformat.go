package authn

import (
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// formatAuthResults returns the value of an Authentication-Results field
// (RFC 8601 section 2.2) with the given authserv-id and results:
//
//	authserv-id; method=result reason="..." ptype.property=pvalue; ...
//
// Every value is written as the grammar allows it: a pvalue unquoted only
// when it is a token (RFC 2045) or an address or domain name, anything
// else (a DKIM header.b with "/" or "=", a reason with spaces) as a
// quoted-string.
func formatAuthResults(authservID string, results []authres.Result) string {
	var b strings.Builder
	b.WriteString(formatValue(authservID))
	if len(results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	for _, r := range results {
		method, value, reason, props := resultParts(r)
		if method == "" {
			continue
		}
		b.WriteString("; ")
		b.WriteString(method)
		b.WriteByte('=')
		b.WriteString(formatValue(value))
		if reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quoted(reason)) // always quoted: a readable text
		}
		// Quoted values last: parsers such as python3-authres 1.2 take
		// a quoted pvalue only at the end of a result.
		for _, last := range []bool{false, true} {
			for _, p := range props {
				if p[1] == "" {
					continue
				}
				v := formatPvalue(p[1])
				if (v[0] == '"') != last {
					continue
				}
				b.WriteByte(' ')
				b.WriteString(p[0])
				b.WriteByte('=')
				b.WriteString(v)
			}
		}
	}
	return b.String()
}

// resultParts returns the method, result, reason and properties of r.
func resultParts(r authres.Result) (method, value, reason string, props [][2]string) {
	switch r := r.(type) {
	case *authres.AuthResult:
		return "auth", string(r.Value), r.Reason, [][2]string{{"smtp.auth", r.Auth}}
	case *authres.SPFResult:
		return "spf", string(r.Value), r.Reason, [][2]string{{"smtp.mailfrom", r.From}, {"smtp.helo", r.Helo}}
	case *authres.DKIMResult:
		return "dkim", string(r.Value), r.Reason, [][2]string{{"header.d", r.Domain}, {"header.i", r.Identifier}}
	case *authres.DMARCResult:
		return "dmarc", string(r.Value), r.Reason, [][2]string{{"header.from", r.From}}
	case *authres.GenericResult:
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			if k != "reason" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			props = append(props, [2]string{k, r.Params[k]})
		}
		return r.Method, string(r.Value), r.Params["reason"], props
	}
	return "", "", "", nil
}

// isTSpecial reports the tspecials of RFC 2045 section 5.1.
func isTSpecial(c byte) bool {
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0
}

// isToken reports whether s is an RFC 2045 token: printable US-ASCII
// without space and tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || isTSpecial(c) {
			return false
		}
	}
	return true
}

// isAtext reports the atext of RFC 5322 section 3.2.3.
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDotAtom reports whether s is a dot-atom-text (RFC 5322).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && !isAtext(c) {
			return false
		}
	}
	return true
}

// isPvalueDomain reports whether s is a domain-name as RFC 8601 means it
// (RFC 6376 section 3.5: sub-domain *("." sub-domain), letters, digits and
// inner hyphens).
func isPvalueDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// formatValue writes a value (RFC 2045: token / quoted-string).
func formatValue(s string) string {
	if isToken(s) {
		return s
	}
	return quoted(s)
}

// formatPvalue writes a pvalue (RFC 8601: value / [[local-part] "@"]
// domain-name): unquoted when a token, an address with a dot-atom local
// part, or "@" and a domain; quoted otherwise.
func formatPvalue(s string) string {
	if isToken(s) {
		return s
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 && isPvalueDomain(s[at+1:]) && (at == 0 || isDotAtom(s[:at])) {
		return s
	}
	return quoted(s)
}

// quoted returns s as a quoted-string (RFC 5322 section 3.2.4), with
// control characters left out and '"' and '\' escaped. UTF-8 is kept (RFC
// 6532).
func quoted(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case r < ' ' || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
