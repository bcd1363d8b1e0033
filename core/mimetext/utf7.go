package mimetext

import (
	"strings"
	"unicode/utf16"
)

// isUTF7 reports whether the normalized charset name cs is UTF-7, which
// go-message's tables lack.
func isUTF7(cs string) bool {
	return cs == "utf-7" || cs == "unicode-1-1-utf-7" || cs == "csunicode11utf7"
}

// decodeUTF7 decodes UTF-7 (RFC 2152): "+" starts a run of modified
// base64 holding UTF-16 code units, ended by any other character (a "-"
// ending it is dropped), and "+-" is a plus sign. Broken runs decode to
// what they hold; bad UTF-16 becomes U+FFFD.
func decodeUTF7(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '+' {
			out.WriteByte(c)
			i++
			continue
		}
		i++
		if i < len(b) && b[i] == '-' {
			out.WriteByte('+')
			i++
			continue
		}
		var units []uint16
		var bits uint32
		n := 0
		for ; i < len(b); i++ {
			v := base64Value(b[i])
			if v < 0 {
				break
			}
			bits = bits<<6 | uint32(v)
			n += 6
			if n >= 16 {
				n -= 16
				units = append(units, uint16(bits>>n))
				bits &= 1<<n - 1
			}
		}
		out.WriteString(string(utf16.Decode(units)))
		if i < len(b) && b[i] == '-' {
			i++
		}
	}
	return out.String()
}

// base64Value returns the value of a base64 digit, or -1.
func base64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
