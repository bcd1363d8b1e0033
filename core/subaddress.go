package core

import (
	"fmt"
	"strings"
)

// DefaultSubaddressDelimiters is the subaddress delimiter used unless
// configured otherwise: ann+newsletter@example.com reaches ann.
const DefaultSubaddressDelimiters = "+"

// Subaddress is the detail part of an address (RFC 5233): for
// ann+newsletter@example.com, Delimiter "+" and Detail "newsletter". The
// zero value is an address without one; an address such as ann+@ has a
// detail that is empty (Delimiter set, Detail "").
type Subaddress struct {
	Delimiter string // the delimiter character as it was used; "" = no detail
	Detail    string
}

// HasDetail reports whether the address had a delimiter, and so a detail
// (possibly empty).
func (s Subaddress) HasDetail() bool { return s.Delimiter != "" }

// Apply returns addr with the detail added to its local part
// (ann@example.com becomes ann+newsletter@example.com); addr itself when
// there is no detail, or when its local part is quoted.
func (s Subaddress) Apply(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if !s.HasDetail() || at <= 0 || strings.HasPrefix(addr, `"`) {
		return addr
	}
	return addr[:at] + s.Delimiter + s.Detail + addr[at:]
}

// SubaddressSplit is one reading of a local part as user, delimiter and
// detail.
type SubaddressSplit struct {
	User string // the local part before the delimiter: "ann"
	Subaddress
}

// SplitSubaddress returns the readings of the local part local as
// user+detail, for each occurrence of a character of delims: the longest
// user first, so that ann-smith+news reads as ann-smith before ann when
// delims is "+-" (the caller takes the first user that exists). Quoted
// local parts, and readings whose user would not be a valid local part
// (empty, ending with a dot), give none. An empty delims turns
// subaddressing off.
func SplitSubaddress(local, delims string) []SubaddressSplit {
	if delims == "" || strings.HasPrefix(local, `"`) {
		return nil
	}
	var out []SubaddressSplit
	for i := len(local) - 1; i > 0; i-- {
		if strings.IndexByte(delims, local[i]) < 0 {
			continue
		}
		user := local[:i]
		if strings.HasSuffix(user, ".") {
			continue
		}
		out = append(out, SubaddressSplit{User: user, Subaddress: Subaddress{Delimiter: local[i : i+1], Detail: local[i+1:]}})
	}
	return out
}

// CheckSubaddressDelimiters validates a set of subaddress delimiters: ASCII
// characters allowed in a local part that are neither letters, digits nor
// the dot, each once ("+", "+-", "-_"). The empty set (subaddressing off)
// is valid.
func CheckSubaddressDelimiters(delims string) error {
	for i := 0; i < len(delims); i++ {
		c := delims[i]
		if c >= 0x80 || !isAtext(c) || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			return fmt.Errorf("subaddress delimiter %q: want punctuation allowed in a local part, such as + - _ = (not a letter, digit or dot): %w", delims[i:i+1], ErrInvalid)
		}
		if strings.IndexByte(delims[:i], c) >= 0 {
			return fmt.Errorf("subaddress delimiter %q given twice: %w", delims[i:i+1], ErrInvalid)
		}
	}
	return nil
}
