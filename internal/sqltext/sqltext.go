// Package sqltext prepares text for SQL statements and columns: LIKE
// patterns that match a string literally, and values cut to a column's
// size. The packages that own tables (mailstore, tokens, audit, stats)
// share it.
package sqltext

import (
	"strings"
	"unicode/utf8"
)

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// EscapeLike returns s with the LIKE wildcards escaped, for a pattern
// written with ESCAPE '\'.
func EscapeLike(s string) string { return likeEscaper.Replace(s) }

// Clip returns s as valid UTF-8 (invalid bytes dropped) cut to at most n
// bytes without splitting a character.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
