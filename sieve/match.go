package sieve

import (
	"github.com/yubinmail/yubin/core/collate"
	"strconv"
	"strings"
	"unicode/utf8"
)

// asciiLower lowers ASCII letters only (the i;ascii-casemap comparator,
// RFC 4790 section 9.2).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// fold returns the canonical form of s under comparator c, for equality,
// substring and ordering tests.
func fold(c, s string) string {
	switch c {
	case comparatorASCII:
		return asciiLower(s)
	case comparatorUni:
		return collate.UnicodeCasemap(s)
	}
	return s
}

// runeEqual compares two characters under comparator c.
func runeEqual(c string, a, b rune) bool {
	if a == b {
		return true
	}
	switch c {
	case comparatorASCII, comparatorNum:
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			return asciiLower(string(a)) == asciiLower(string(b))
		}
		return false
	case comparatorUni:
		return collate.UnicodeCasemap(string(a)) == collate.UnicodeCasemap(string(b))
	}
	return false
}

// numericValue is the value of s under i;ascii-numeric (RFC 4790 section
// 9.1): its leading digits, or "infinity" (ok false) if it has none.
func numericValue(s string) (digits string, ok bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return "", false
	}
	d := strings.TrimLeft(s[:i], "0")
	return d, true
}

// compareNumeric orders a and b under i;ascii-numeric.
func compareNumeric(a, b string) int {
	da, oka := numericValue(a)
	db, okb := numericValue(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return 1
	case !okb:
		return -1
	case len(da) != len(db):
		if len(da) < len(db) {
			return -1
		}
		return 1
	}
	return strings.Compare(da, db)
}

// compare orders a and b under comparator c.
func compare(c, a, b string) int {
	if c == comparatorNum {
		return compareNumeric(a, b)
	}
	return strings.Compare(fold(c, a), fold(c, b))
}

// relationHolds applies a relational operator (RFC 5231) to an ordering.
func relationHolds(rel string, cmp int) bool {
	switch rel {
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	}
	return false
}

// matcher evaluates match types; it charges its work to the run's step
// budget.
type matcher struct {
	comparator string
	match      string
	relation   string
	steps      *stepper
}

// matchOne tests one value against one key. For :matches it returns the
// match variables (${0} is the whole value, then one per wildcard).
func (m *matcher) matchOne(value, key string) (bool, []string, error) {
	if err := m.steps.charge(1 + (len(value)+len(key))/64); err != nil {
		return false, nil, err
	}
	switch m.match {
	case "is":
		if m.comparator == comparatorNum {
			return compareNumeric(value, key) == 0, nil, nil
		}
		return fold(m.comparator, value) == fold(m.comparator, key), nil, nil
	case "contains":
		return strings.Contains(fold(m.comparator, value), fold(m.comparator, key)), nil, nil
	case "value":
		return relationHolds(m.relation, compare(m.comparator, value, key)), nil, nil
	case "matches":
		return m.glob(value, key)
	}
	return false, nil, nil
}

// patternToken is one element of a :matches pattern.
type patternToken struct {
	r    rune
	kind byte // 0 literal, '?' or '*'
}

func parsePattern(p string) []patternToken {
	var toks []patternToken
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*', '?':
			toks = append(toks, patternToken{kind: byte(rs[i])})
		case '\\':
			if i+1 < len(rs) {
				i++
			}
			toks = append(toks, patternToken{r: rs[i]})
		default:
			toks = append(toks, patternToken{r: rs[i]})
		}
	}
	return toks
}

// glob matches value against a :matches pattern ("*" any sequence, "?"
// one character, "\" quotes). Earlier wildcards match as little as
// possible, as RFC 5229 section 3.2 describes for match variables. It
// runs in O(len(value)*len(pattern)) steps without recursion.
func (m *matcher) glob(value, pattern string) (bool, []string, error) {
	p := parsePattern(pattern)
	s := []rune(value)
	type span struct{ start, end int }
	caps := make([]span, len(p))
	si, pi := 0, 0
	starP, starS := -1, 0
	n := 0
	for si < len(s) {
		if n++; n&1023 == 0 {
			if err := m.steps.charge(1024); err != nil {
				return false, nil, err
			}
		}
		switch {
		case pi < len(p) && p[pi].kind == '?':
			caps[pi] = span{si, si + 1}
			pi++
			si++
		case pi < len(p) && p[pi].kind == '*':
			starP, starS = pi, si
			caps[pi] = span{si, si}
			pi++
		case pi < len(p) && p[pi].kind == 0 && runeEqual(m.comparator, p[pi].r, s[si]):
			pi++
			si++
		case starP >= 0:
			starS++
			caps[starP].end = starS
			pi, si = starP+1, starS
		default:
			return false, nil, nil
		}
	}
	for pi < len(p) && p[pi].kind == '*' {
		caps[pi] = span{si, si}
		pi++
	}
	if pi != len(p) {
		return false, nil, nil
	}
	vars := []string{value}
	for i, t := range p {
		if t.kind != 0 {
			vars = append(vars, string(s[caps[i].start:caps[i].end]))
		}
	}
	return true, vars, nil
}

// matchCount applies :count: the number of values against each key.
func (m *matcher) matchCount(count int, keys []string) bool {
	c := strconv.Itoa(count)
	for _, k := range keys {
		if relationHolds(m.relation, compare(m.comparator, c, k)) {
			return true
		}
	}
	return false
}
