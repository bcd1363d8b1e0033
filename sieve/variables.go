package sieve

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// set runs the "set" command with its modifiers, applied in the order of
// RFC 5229 section 4.1: :lower/:upper, then :lowerfirst/:upperfirst, then
// :quotewildcard, then :length.
func (r *run) set(c *node) error {
	value, err := r.str(c.args[1].strs[0])
	if err != nil {
		return err
	}
	switch {
	case c.has("lower"):
		value = strings.ToLower(value)
	case c.has("upper"):
		value = strings.ToUpper(value)
	}
	switch {
	case c.has("lowerfirst"):
		value = mapFirst(value, unicode.ToLower)
	case c.has("upperfirst"):
		value = mapFirst(value, unicode.ToUpper)
	}
	if c.has("quotewildcard") {
		var b strings.Builder
		for _, ch := range value {
			if ch == '*' || ch == '?' || ch == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(ch)
		}
		value = b.String()
	}
	if c.has("length") {
		value = strconv.Itoa(utf8.RuneCountInString(value))
	}
	return r.setVariable(c.args[0].strs[0], value)
}

func mapFirst(s string, f func(rune) rune) string {
	ch, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(f(ch)) + s[size:]
}

// splitFlags turns flag strings into a flag list: each string may hold
// several flags separated by spaces; duplicates (compared without case,
// as IMAP does) and flags IMAP cannot store are dropped.
func splitFlags(in []string) []string {
	var valid []string
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			if f = validFlag(f); f != "" {
				valid = append(valid, f)
			}
		}
	}
	return mergeFlags(nil, valid)
}

// validFlag returns f in its canonical form if a message may carry it: a
// system flag other than \Recent (RFC 9051 section 2.3.2), or a keyword
// that is an IMAP atom. It returns "" otherwise.
func validFlag(f string) string {
	if strings.HasPrefix(f, "\\") {
		for _, sys := range []string{"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"} {
			if strings.EqualFold(f, sys) {
				return sys
			}
		}
		return ""
	}
	if len(f) > 100 {
		return ""
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("(){%*\"\\]", c) >= 0 {
			return ""
		}
	}
	return f
}

// mergeFlags returns the union of two flag lists, in order, appending to
// a. It takes time linear in the number of flags.
func mergeFlags(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	seen := make(map[string]bool, len(a)+len(b))
	for _, f := range a {
		seen[strings.ToLower(f)] = true
	}
	out := a
	for _, f := range b {
		if k := strings.ToLower(f); !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

// removeFlags returns a without the flags in b.
func removeFlags(a, b []string) []string {
	drop := make(map[string]bool, len(b))
	for _, f := range b {
		drop[strings.ToLower(f)] = true
	}
	var out []string
	for _, f := range a {
		if !drop[strings.ToLower(f)] {
			out = append(out, f)
		}
	}
	return out
}

func cloneFlags(f []string) []string {
	if len(f) == 0 {
		return nil
	}
	return append([]string(nil), f...)
}

// flagCommand runs setflag, addflag and removeflag (RFC 5232 section 3)
// on the internal flags variable or on a named variable.
func (r *run) flagCommand(c *node) error {
	list, err := r.strs(c.args[len(c.args)-1].strs)
	if err != nil {
		return err
	}
	change := splitFlags(list)
	var current []string
	named := len(c.args) == 2
	if named {
		current = strings.Fields(r.variable(c.args[0].strs[0]))
	} else {
		current = r.flags
	}
	switch c.name {
	case "setflag":
		current = change
	case "addflag":
		current = mergeFlags(cloneFlags(current), change)
	case "removeflag":
		current = removeFlags(current, change)
	}
	if named {
		return r.setVariable(c.args[0].strs[0], strings.Join(current, " "))
	}
	if len(current) > 256 {
		return errors.New("more than 256 flags")
	}
	r.flags = current
	return nil
}

// actionFlags returns the flags for keep or fileinto: the :flags argument
// if given, else the internal flags variable (RFC 5232 section 5).
func (r *run) actionFlags(c *node) ([]string, error) {
	if a, ok := c.tags["flags"]; ok {
		list, err := r.strs(a.strs)
		if err != nil {
			return nil, err
		}
		return splitFlags(list), nil
	}
	return cloneFlags(r.flags), nil
}

// hasflagTest runs hasflag (RFC 5232 section 4).
func (r *run) hasflagTest(t *node) (bool, error) {
	var flags []string
	if len(t.args) == 2 {
		for _, name := range t.args[0].strs {
			flags = mergeFlags(flags, strings.Fields(r.variable(name)))
		}
	} else {
		flags = r.flags
	}
	keys := t.args[len(t.args)-1]
	list, err := r.strs(keys.strs)
	if err != nil {
		return false, err
	}
	var split []string
	for _, k := range list {
		split = append(split, strings.Fields(k)...)
	}
	return r.matchKeys(t, flags, split)
}
