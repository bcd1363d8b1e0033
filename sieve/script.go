package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits bound what a script may cost. A zero field takes the value of
// DefaultLimits.
type Limits struct {
	// MaxScriptBytes is the largest script Compile accepts.
	MaxScriptBytes int
	// MaxNesting is how deeply blocks and tests may nest.
	MaxNesting int
	// MaxStringBytes is the longest string literal (and the longest
	// string a variable expansion may produce).
	MaxStringBytes int
	// MaxActions is how many actions one run may collect.
	MaxActions int
	// MaxRedirects is how many redirects one run may make (the per-user
	// cap).
	MaxRedirects int
	// MaxSteps bounds the CPU a run uses: each command, test and string
	// comparison step counts one.
	MaxSteps int
	// MaxVariableBytes bounds the total size of all variables.
	MaxVariableBytes int
	// MaxBodyBytes is how much of the message body the body test reads.
	MaxBodyBytes int
}

// DefaultLimits returns the limits used where a Limits field is zero.
func DefaultLimits() Limits {
	return Limits{
		MaxScriptBytes:   256 << 10,
		MaxNesting:       32,
		MaxStringBytes:   64 << 10,
		MaxActions:       64,
		MaxRedirects:     5,
		MaxSteps:         2_000_000,
		MaxVariableBytes: 1 << 20,
		MaxBodyBytes:     4 << 20,
	}
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxScriptBytes, d.MaxScriptBytes)
	fill(&l.MaxNesting, d.MaxNesting)
	fill(&l.MaxStringBytes, d.MaxStringBytes)
	fill(&l.MaxActions, d.MaxActions)
	fill(&l.MaxRedirects, d.MaxRedirects)
	fill(&l.MaxSteps, d.MaxSteps)
	fill(&l.MaxVariableBytes, d.MaxVariableBytes)
	fill(&l.MaxBodyBytes, d.MaxBodyBytes)
	return l
}

// Script is a checked Sieve script, ready to run any number of times. It
// is immutable and safe for concurrent use.
type Script struct {
	cmds     []*node
	requires map[string]bool
}

// Compile parses and checks a script (RFC 5228 with the extensions listed
// by Extensions). Errors are *Error values with the line and column of the
// problem; ManageSieve's PUTSCRIPT and CHECKSCRIPT and the REST API show
// them to the user.
func Compile(src string, lim Limits) (*Script, error) {
	lim = lim.withDefaults()
	if len(src) > lim.MaxScriptBytes {
		return nil, &Error{Pos: Pos{Line: 1, Column: 1}, Msg: fmt.Sprintf("script is %d bytes, more than the limit of %d", len(src), lim.MaxScriptBytes)}
	}
	if !utf8.ValidString(src) {
		off := 0
		for off < len(src) {
			r, size := utf8.DecodeRuneInString(src[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		line := 1 + strings.Count(src[:off], "\n")
		col := off - strings.LastIndexByte(src[:off], '\n')
		return nil, &Error{Pos: Pos{Line: line, Column: col}, Msg: "script is not valid UTF-8"}
	}
	raw, err := parseScript(src, lim)
	if err != nil {
		return nil, err
	}
	cmds, requires, err := compile(raw)
	if err != nil {
		return nil, err
	}
	return &Script{cmds: cmds, requires: requires}, nil
}

// Requires returns the capabilities the script requires, sorted.
func (s *Script) Requires() []string {
	var out []string
	for _, e := range Extensions() {
		if s.requires[e] {
			out = append(out, e)
		}
	}
	return out
}

// decodeEncodedChars expands "${hex:...}" and "${unicode:...}" (RFC 5228
// section 2.4.2.4). A sequence that is not well formed is left as it is;
// a unicode value that is not a valid scalar value is an error.
func decodeEncodedChars(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		// "${" kind ":" hex values "}", scanned in one pass.
		colon := 0
		for colon < len(rest) && isAlpha(rest[colon]) {
			colon++
		}
		end := colon + 1
		for end < len(rest) && (isHex(rest[end]) || rest[end] == ' ' || rest[end] == '\t' || rest[end] == '\r' || rest[end] == '\n') {
			end++
		}
		if colon >= len(rest) || rest[colon] != ':' || end >= len(rest) || rest[end] != '}' {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(rest[:colon])
		fields := strings.Fields(rest[colon+1 : end])
		var out []byte
		ok := kind == "hex" || kind == "unicode"
		for _, f := range fields {
			if !ok {
				break
			}
			n, err := strconv.ParseUint(f, 16, 32)
			switch {
			case err != nil:
				ok = false
			case kind == "hex":
				if n > 0xff {
					ok = false
				}
				out = append(out, byte(n))
			default:
				if n > utf8.MaxRune || (n >= 0xd800 && n <= 0xdfff) {
					return "", fmt.Errorf("${unicode:%s} is not a Unicode scalar value", f)
				}
				out = utf8.AppendRune(out, rune(n))
			}
		}
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.Write(out)
		s = rest[end+1:]
	}
}

// parseRedirectAddress checks a redirect target: a single address, with
// or without angle brackets and a display name.
func parseRedirectAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%q is not a mail address", s)
	}
	return a.Address, nil
}

// parseZone parses a "+hhmm" or "-hhmm" zone into seconds east of UTC.
func parseZone(s string) (int, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	for i := 1; i < 5; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	h, _ := strconv.Atoi(s[1:3])
	m, _ := strconv.Atoi(s[3:5])
	if h > 23 || m > 59 {
		return 0, false
	}
	off := (h*60 + m) * 60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
