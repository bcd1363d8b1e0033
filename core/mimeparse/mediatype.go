package mimeparse

import (
	"maps"
	"mime"
	"sort"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core/mimetext"
)

// ParseMediaType leniently parses a Content-Type value. typ and sub are
// lower-case tokens; ok is false when the value is not "type/subtype".
// Parameter names are lower case and values decoded to UTF-8 (RFC 2231
// extended values and continuations included); the first occurrence of a
// name wins and an extended value wins over a plain one.
func ParseMediaType(v string) (typ, sub string, params map[string]string, ok bool) {
	s := stripLeadingCFWS(v)
	typ, s = readToken(s)
	s = stripLeadingCFWS(s)
	if typ == "" || !strings.HasPrefix(s, "/") {
		return "", "", nil, false
	}
	s = stripLeadingCFWS(s[1:])
	sub, s = readToken(s)
	if sub == "" {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), parseParams(s), true
}

// ParseDisposition leniently parses a Content-Disposition value: the
// disposition type lower case, parameters as ParseMediaType decodes them.
func ParseDisposition(v string) (disp string, params map[string]string, ok bool) {
	s := stripLeadingCFWS(v)
	disp, s = readToken(s)
	if disp == "" {
		return "", nil, false
	}
	return strings.ToLower(disp), parseParams(s), true
}

// isTokenChar reports whether c may appear in an RFC 2045 token.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// readToken reads an RFC 2045 token from the start of s.
func readToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// stripLeadingCFWS removes leading white space and comments.
func stripLeadingCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		s = skipComment(s)
	}
}

// SkipComment removes the (possibly nested, possibly unterminated) RFC 5322
// comment at the start of s, which begins with "(".
func SkipComment(s string) string {
	return skipComment(s)
}

// skipComment removes the (possibly nested, possibly unterminated) comment
// at the start of s.
func skipComment(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}

// rawParam is one attribute=value pair as written.
type rawParam struct {
	name, value string
}

// splitParams splits the ";"-separated parameter list at the start of s.
// Junk without "=" is skipped; unquoted values run to the next ";".
func splitParams(s string) []rawParam {
	var out []rawParam
	for len(s) > 0 {
		s = stripLeadingCFWS(s)
		if s == "" {
			break
		}
		if s[0] == ';' {
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		name := strings.ToLower(s[:i])
		s = strings.TrimLeft(s[i:], " \t\r\n")
		if !strings.HasPrefix(s, "=") {
			if j := strings.IndexByte(s, ';'); j >= 0 {
				s = s[j:]
			} else {
				s = ""
			}
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		var value string
		if strings.HasPrefix(s, `"`) {
			value, s = readQuoted(s)
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			value = strings.TrimRight(s[:j], " \t\r\n")
			if k := strings.IndexByte(value, '('); k > 0 && strings.HasSuffix(value, ")") {
				value = strings.TrimRight(value[:k], " \t")
			}
			s = s[j:]
		}
		if name != "" {
			out = append(out, rawParam{name, value})
		}
	}
	return out
}

// readQuoted reads a quoted string at the start of s (which begins with a
// double quote); an unterminated string runs to the end. A backslash
// quotes only a special character (RFC 2045 tspecials); before any other
// it is kept, as mailers write Windows paths ("C:\temp\a.exe") unquoted
// and Go's mime package and most clients read them so.
func readQuoted(s string) (value, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				if strings.IndexByte(`()<>@,;:\"/[]?=`, s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// strictMediaType reports whether v follows the grammar of RFC 2045 §5.1
// (with RFC 2231 parameters), as the standard library's strict parser
// checks it; ParseMediaType reads what does not leniently.
func strictMediaType(v string) bool {
	_, _, err := mime.ParseMediaType(v)
	return err == nil
}

// sameParams reports whether the strict parser reads the parameters of v as
// ParseMediaType does (an RFC 2231 value without its charset, say, it
// drops).
func sameParams(v string, params map[string]string) bool {
	_, strict, err := mime.ParseMediaType(v)
	return err == nil && maps.Equal(strict, params)
}

// hasDuplicateParams reports whether the parameter list of a Content-Type
// or Content-Disposition value v names a parameter twice (RFC 2045 §5.1
// allows each once; parsers disagree on which one counts).
func hasDuplicateParams(v string) bool {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return false
	}
	seen := make(map[string]bool)
	for _, p := range splitParams(v[i:]) {
		if seen[p.name] {
			return true
		}
		seen[p.name] = true
	}
	return false
}

// contSegment is one RFC 2231 continuation segment.
type contSegment struct {
	n       int
	value   string
	encoded bool
}

// parseParams parses a parameter list, decoding RFC 2231 extended values and
// continuations into UTF-8. Names are lower case; the first occurrence wins
// and an extended value wins over a plain one.
func parseParams(s string) map[string]string {
	raw := splitParams(s)
	if len(raw) == 0 {
		return nil
	}
	plain := make(map[string]string)
	extended := make(map[string]string)
	conts := make(map[string][]contSegment)
	for _, p := range raw {
		name, value := p.name, p.value
		star := strings.IndexByte(name, '*')
		if star < 0 {
			if _, dup := plain[name]; !dup {
				plain[name] = value
			}
			continue
		}
		base, sect := name[:star], name[star+1:]
		if base == "" {
			continue
		}
		if sect == "" {
			if _, dup := extended[base]; !dup {
				extended[base] = decode2231(value)
			}
			continue
		}
		encoded := strings.HasSuffix(sect, "*")
		n, err := strconv.Atoi(strings.TrimSuffix(sect, "*"))
		if err != nil || n < 0 || n > 999 {
			continue
		}
		conts[base] = append(conts[base], contSegment{n, value, encoded})
	}
	for base, segs := range conts {
		if _, dup := extended[base]; dup {
			continue
		}
		extended[base] = joinContinuations(segs)
	}
	params := make(map[string]string, len(plain)+len(extended))
	for k, v := range plain {
		params[k] = mimetext.FallbackUTF8String(v)
	}
	for k, v := range extended {
		params[k] = v
	}
	return params
}

// joinContinuations assembles name*0, name*1*, ... into one UTF-8 value.
func joinContinuations(segs []contSegment) string {
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	var cs string
	var b []byte
	for i, seg := range segs {
		if i > 0 && seg.n == segs[i-1].n {
			continue
		}
		v := seg.value
		if seg.encoded {
			if i == 0 {
				cs, v = split2231(v)
			}
			b = append(b, percentDecode(v)...)
		} else {
			b = append(b, v...)
		}
	}
	return mimetext.DecodeBytes(cs, b)
}

// decode2231 decodes a single RFC 2231 extended value ("charset'lang'%XX").
func decode2231(v string) string {
	cs, v := split2231(v)
	return mimetext.DecodeBytes(cs, percentDecode(v))
}

// split2231 splits "charset'language'value"; without two quotes the whole
// string is the value.
func split2231(v string) (charset, value string) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v
	}
	return v[:i], v[i+1+j+1:]
}

// percentDecode decodes %XX escapes, keeping malformed ones literally.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if c, ok := hexPair(s[i+1], s[i+2]); ok {
				b = append(b, c)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return b
}

// hexPair decodes two hexadecimal digits into a byte.
func hexPair(hi, lo byte) (byte, bool) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	return h<<4 | l, ok1 && ok2
}

// unhex decodes one hexadecimal digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
