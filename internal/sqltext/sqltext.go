// Package sqltext prepares text for SQL statements and columns: LIKE
// patterns that match a string literally, prefix conditions that mean the
// same on SQLite and PostgreSQL, and values cut to a column's size and
// made storable on both engines. The packages that own tables (mailstore,
// tokens, audit, stats, the outbound queue) share it.
package sqltext

import (
	"strings"
	"unicode/utf8"
)

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// EscapeLike returns s with the LIKE wildcards escaped, for a pattern
// written with ESCAPE '\'.
func EscapeLike(s string) string { return likeEscaper.Replace(s) }

// HasPrefix returns a condition, with its arguments, that column starts
// with prefix, byte for byte on both engines: LIKE 'prefix%' ignores ASCII
// case on SQLite but not on PostgreSQL. (It uses no index; for filters on
// a query already narrowed, or on small tables.)
func HasPrefix(column, prefix string) (string, []any) {
	return "substr(" + column + ", 1, ?) = ?", []any{utf8.RuneCountInString(prefix), prefix}
}

// Clip returns s as valid UTF-8 without NUL characters (invalid bytes and
// NULs dropped: PostgreSQL's text refuses both) cut to at most n bytes
// without splitting a character.
func Clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
