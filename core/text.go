package core

import (
	"strings"
	"unicode/utf8"
)

// TruncateUTF8 cuts s to at most n bytes without splitting a character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// OneLine makes a remote party's text safe to store and show on one line:
// invalid UTF-8 replaced, control characters turned into spaces, trimmed
// and cut to at most n bytes.
func OneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return TruncateUTF8(strings.TrimSpace(s), n)
}
