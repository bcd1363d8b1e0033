// Package collate implements the i;unicode-casemap collation of RFC 5051,
// which IMAP SORT and THREAD (RFC 5256) and Sieve's comparators (RFC 5228)
// share.
package collate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// UnicodeCasemap returns the canonical form of s under the i;unicode-casemap
// collation (RFC 5051 §2): every character is mapped to its simple titlecase
// form and the result is decomposed with NFKD (and mapped once more where
// the decomposition brought back lower case, as in "ﬁ"). Two strings are equal under
// the collation when their canonical forms are equal, and the collation
// orders strings by the octets of their canonical forms, so sort keys can be
// mapped once and then compared with strings.Compare. Invalid UTF-8 is
// replaced by U+FFFD first.
func UnicodeCasemap(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// Titlecase of ASCII is uppercase; NFKD leaves ASCII alone.
		return strings.ToUpper(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = norm.NFKD.String(strings.Map(unicode.ToTitle, s))
	// A compatibility decomposition can bring back lower-case letters
	// ("ﬁ" becomes "fi"); map those too, so that equal-ignoring-case
	// strings always get the same key.
	if again := strings.Map(unicode.ToTitle, s); again != s {
		s = norm.NFKD.String(again)
	}
	return s
}

// CompareUnicodeCasemap compares a and b under the i;unicode-casemap
// collation (RFC 5051 §2): it returns -1, 0 or +1 as a sorts before, equal
// to or after b. RFC 5256 §3 and RFC 5255 (I18NLEVEL=1) make it the
// collation of SORT and THREAD.
func CompareUnicodeCasemap(a, b string) int {
	return strings.Compare(UnicodeCasemap(a), UnicodeCasemap(b))
}
