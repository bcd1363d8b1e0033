package smtpserver

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// command is one parsed command line: its verb in upper case and the rest
// of the line after the verb and one space.
type command struct {
	verb string
	arg  string
}

// errSyntax marks a command line that cannot be read at all.
var errSyntax = errors.New("syntax error")

// parseCommand splits a command line (without its line end) into verb and
// argument (RFC 5321 §4.1.1: the verb is a word of letters; the argument
// follows one space). Control characters other than the tab inside
// arguments (SASL and URL arguments never carry them) make it a syntax
// error.
func parseCommand(line string) (command, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return command{}, errSyntax
		}
	}
	verb, arg, _ := strings.Cut(line, " ")
	if verb == "" || len(verb) > 16 {
		return command{}, errSyntax
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errSyntax
		}
	}
	return command{verb: strings.ToUpper(verb), arg: arg}, nil
}

// replyError is a reply with its enhanced status code, as the parser
// returns it for a bad argument.
func replyError(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// parsePathArg reads the argument of MAIL ("FROM:<path> params") or RCPT
// ("TO:<path> params"): prefix is "FROM:" or "TO:". One space after the
// colon is tolerated, as real clients write it. It returns the address
// (without angle brackets and source route; "" for the null path) and the
// parameters.
func parsePathArg(arg, prefix string) (string, []param, *smtp.SMTPError) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Syntax: "+strings.TrimSuffix(prefix, ":")+":<address> [parameters]")
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "The address must be written in angle brackets: <address>")
	}
	end := pathEnd(rest)
	if end < 0 {
		return "", nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Unterminated address: no closing >")
	}
	addr := rest[1:end]
	rest = rest[end+1:]
	// A source route (obsolete, RFC 5321 §4.1.2, "@a,@b:") is ignored.
	if strings.HasPrefix(addr, "@") {
		i := strings.IndexByte(addr, ':')
		if i < 0 {
			return "", nil, replyError(501, smtp.EnhancedCode{5, 1, 3}, "Bad source route in the address")
		}
		addr = addr[i+1:]
	}
	if rest != "" && rest[0] != ' ' {
		return "", nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Parameters must follow the address after a space")
	}
	params, err := parseParams(strings.TrimLeft(rest, " "))
	if err != nil {
		return "", nil, err
	}
	return addr, params, nil
}

// pathEnd returns the index of the ">" closing the path that begins
// rest, with quoted strings and quoted pairs skipped; -1 if none.
func pathEnd(rest string) int {
	quoted := false
	for i := 1; i < len(rest); i++ {
		switch c := rest[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '>':
			return i
		case !quoted && (c == '<' || c == ' '):
			return -1
		}
	}
	return -1
}

// param is one ESMTP parameter (RFC 5321 §4.1.2: esmtp-keyword
// ["=" esmtp-value]); the keyword is in upper case.
type param struct {
	key, value string
	hasValue   bool
}

// maxParams bounds the parameters of one MAIL or RCPT.
const maxParams = 16

// parseParams reads space-separated ESMTP parameters.
func parseParams(s string) ([]param, *smtp.SMTPError) {
	var out []param
	for _, f := range strings.Fields(s) {
		if len(out) == maxParams {
			return nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Too many parameters")
		}
		k, v, has := strings.Cut(f, "=")
		if k == "" || !isKeyword(k) {
			return nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Malformed parameter "+printable(f))
		}
		if has && v == "" {
			return nil, replyError(501, smtp.EnhancedCode{5, 5, 4}, "Parameter "+printable(k)+" has an empty value")
		}
		out = append(out, param{key: strings.ToUpper(k), value: v, hasValue: has})
	}
	return out, nil
}

// isKeyword reports whether s is an esmtp-keyword: a letter or digit,
// then letters, digits and hyphens.
func isKeyword(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// printable makes client text safe to echo in a reply: at most 64 bytes,
// control and non-ASCII bytes as "?".
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// parseSize reads a non-negative decimal size, at most 20 digits.
func parseSize(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseChunkArg reads the argument of BDAT ("size [LAST]", RFC 3030) or
// BURL ("url [LAST]", RFC 4468): the first word and whether LAST follows.
func parseChunkArg(arg string) (first string, last bool, ok bool) {
	f := strings.Fields(arg)
	switch {
	case len(f) == 1:
		return f[0], false, true
	case len(f) == 2 && strings.EqualFold(f[1], "LAST"):
		return f[0], true, true
	}
	return "", false, false
}

// xtextDecode decodes an xtext value (RFC 3461 §4: "+" and two upper-case
// hex digits stand for a byte), as the AUTH= parameter of MAIL carries.
func xtextDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
