package pop3server

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Errors of parseCommand.
var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("malformed command keyword")
	errBadChar      = errors.New("control character in command")
)

// command is one parsed command line.
type command struct {
	// name is the keyword, upper-cased.
	name string
	// args are the space-separated arguments.
	args []string
	// rest is the whole line after the keyword and one space, as sent: the
	// argument of PASS, which may contain spaces (RFC 1939 §7).
	rest string
}

// parseCommand parses a command line without its line ending: a keyword of
// three or four letters, then arguments separated by spaces (RFC 1939 §3).
// It is lenient about repeated and trailing spaces, strict about control
// characters, and never fails on anything else, so that a command's handler
// can give the specific error.
func parseCommand(line []byte) (command, error) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return command{}, errBadChar
		}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return command{}, errEmptyCommand
	}
	kw, rest, _ := bytes.Cut(line, []byte(" "))
	if len(kw) < 3 || len(kw) > 4 {
		return command{}, errBadKeyword
	}
	for _, c := range kw {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errBadKeyword
		}
	}
	cmd := command{name: strings.ToUpper(string(kw)), rest: string(rest)}
	for _, f := range bytes.Fields(rest) {
		cmd.args = append(cmd.args, string(f))
	}
	return cmd, nil
}

// parseMsgNumber parses a message number: a decimal integer from 1 to n.
func parseMsgNumber(s string, n int) (int, bool) {
	i, ok := parseCount(s)
	if !ok || i < 1 || i > n {
		return 0, false
	}
	return i, true
}

// parseCount parses a non-negative decimal integer without sign, as
// message numbers and TOP's line count are written.
func parseCount(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}
