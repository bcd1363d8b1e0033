package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of what the command parser accepts.
const (
	// maxLineBytes bounds a command outside its literals: the command
	// name, quoted strings, literal headers and separators.
	maxLineBytes = 8 << 10
	// maxQuotedBytes is the longest quoted string (RFC 5804 §4: up to
	// 1024 octets).
	maxQuotedBytes = 1024
	// maxArgs bounds the arguments of one command (the most any command
	// takes is two).
	maxArgs = 8
	// discardFactor: a literal larger than the literal limit but at most
	// discardFactor times it is read and dropped, so that the client gets a
	// NO and the session goes on; a larger one ends the connection.
	discardFactor = 4
)

// argKind is the kind of a command argument.
type argKind uint8

const (
	argAtom   argKind = iota // a bare word: a number, or a lenient mechanism name
	argString                // a quoted string or a literal
)

// arg is one argument of a command.
type arg struct {
	kind argKind
	s    string
}

// command is one parsed client command.
type command struct {
	name string // upper case
	args []arg
}

// errSyntax is a client error within one command: the session answers NO
// with its text, and the rest of the command has been skipped.
type errSyntax struct {
	code string // response code, e.g. "QUOTA/MAXSIZE"; may be empty
	msg  string
}

func (e *errSyntax) Error() string { return e.msg }

func syntaxf(format string, args ...any) error {
	return &errSyntax{msg: fmt.Sprintf(format, args...)}
}

// errFatalInput is a client error the session cannot recover from (the
// rest of the stream cannot be told apart from the next command): the
// session answers BYE with its text and closes.
type errFatalInput struct{ msg string }

func (e *errFatalInput) Error() string { return e.msg }

// reader parses commands from a client stream with bounded memory.
type reader struct {
	br *bufio.Reader
	// maxLiteral is the largest literal kept; up to discardFactor times
	// it is skipped with a NO.
	maxLiteral int64
	lineBytes  int // bytes of the current command outside literals
}

// readByte reads one byte of the current command line, counting it.
func (r *reader) readByte() (byte, error) {
	if r.lineBytes >= maxLineBytes {
		return 0, &errFatalInput{msg: "Command line too long"}
	}
	b, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.lineBytes++
	return b, nil
}

// peek returns the next byte without consuming it.
func (r *reader) peek() (byte, error) {
	p, err := r.br.Peek(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// readCommand reads the next command. On an *errSyntax the rest of the
// command was consumed and the session can go on; an *errFatalInput or an
// I/O error ends it. An empty line is skipped.
func (r *reader) readCommand() (*command, error) {
	for {
		r.lineBytes = 0
		cmd, err := r.parseCommand()
		var se *errSyntax
		if errors.As(err, &se) {
			if serr := r.skipCommand(); serr != nil {
				return nil, serr
			}
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		if cmd != nil {
			return cmd, nil
		}
	}
}

// parseCommand reads one command up to its CRLF; nil for an empty line.
func (r *reader) parseCommand() (*command, error) {
	if err := r.skipSpaces(); err != nil {
		return nil, err
	}
	if end, err := r.atEOL(); err != nil || end {
		return nil, err
	}
	name, err := r.atom()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, syntaxf("Expected a command name")
	}
	cmd := &command{name: strings.ToUpper(name)}
	for {
		sawSpace, err := r.spaces()
		if err != nil {
			return nil, err
		}
		end, err := r.atEOL()
		if err != nil {
			return nil, err
		}
		if end {
			return cmd, nil
		}
		if !sawSpace {
			return nil, syntaxf("Expected a space between arguments")
		}
		if len(cmd.args) >= maxArgs {
			return nil, syntaxf("Too many arguments")
		}
		a, err := r.argument()
		if err != nil {
			return nil, err
		}
		cmd.args = append(cmd.args, a)
	}
}

// spaces skips spaces and reports whether there was any.
func (r *reader) spaces() (bool, error) {
	saw := false
	for {
		b, err := r.peek()
		if err != nil {
			return saw, err
		}
		if b != ' ' {
			return saw, nil
		}
		saw = true
		if _, err := r.readByte(); err != nil {
			return saw, err
		}
	}
}

func (r *reader) skipSpaces() error {
	_, err := r.spaces()
	return err
}

// atEOL consumes a CRLF (or a bare LF) if one is next.
func (r *reader) atEOL() (bool, error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	switch b {
	case '\n':
		_, err := r.readByte()
		return true, err
	case '\r':
		if _, err := r.readByte(); err != nil {
			return false, err
		}
		b, err := r.readByte()
		if err != nil {
			return false, err
		}
		if b != '\n' {
			return false, syntaxf("CR without LF")
		}
		return true, nil
	}
	return false, nil
}

// isAtomChar reports whether b may appear in a command name or a bare
// argument.
func isAtomChar(b byte) bool {
	return b > ' ' && b < 0x7f && b != '"' && b != '{' && b != '}' && b != '(' && b != ')' && b != '\\'
}

// atom reads a run of atom characters.
func (r *reader) atom() (string, error) {
	var sb strings.Builder
	for {
		b, err := r.peek()
		if err != nil {
			return "", err
		}
		if !isAtomChar(b) {
			if sb.Len() == 0 && b != '\r' && b != '\n' && b != ' ' {
				return "", syntaxf("Unexpected character %q", b)
			}
			return sb.String(), nil
		}
		if _, err := r.readByte(); err != nil {
			return "", err
		}
		sb.WriteByte(b)
	}
}

// argument reads a quoted string, a literal or an atom.
func (r *reader) argument() (arg, error) {
	b, err := r.peek()
	if err != nil {
		return arg{}, err
	}
	switch b {
	case '"':
		s, err := r.quoted()
		return arg{kind: argString, s: s}, err
	case '{':
		s, err := r.literal()
		return arg{kind: argString, s: s}, err
	}
	s, err := r.atom()
	return arg{kind: argAtom, s: s}, err
}

// quoted reads a quoted string (RFC 5804 §4): at most 1024 octets of
// UTF-8 without CR, LF or NUL; a backslash escapes only '"' and '\'.
func (r *reader) quoted() (string, error) {
	if _, err := r.readByte(); err != nil { // the opening quote
		return "", err
	}
	var sb strings.Builder
	for {
		b, err := r.readByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '"':
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", syntaxf("Quoted string is not valid UTF-8")
			}
			return s, nil
		case '\\':
			if b, err = r.readByte(); err != nil {
				return "", err
			}
			if b != '"' && b != '\\' {
				return "", syntaxf("Invalid escape in a quoted string")
			}
		case '\r', '\n':
			// Leave the line end for skipCommand.
			if err := r.br.UnreadByte(); err == nil {
				r.lineBytes--
			}
			return "", syntaxf("Unterminated quoted string")
		case 0:
			return "", syntaxf("NUL in a quoted string")
		}
		if sb.Len() >= maxQuotedBytes {
			return "", syntaxf("Quoted string longer than %d octets; use a literal", maxQuotedBytes)
		}
		sb.WriteByte(b)
	}
}

// literalHeader reads "{n+}" or "{n}" and the CRLF after it, and returns n.
func (r *reader) literalHeader() (int64, error) {
	if _, err := r.readByte(); err != nil { // '{'
		return 0, err
	}
	var digits strings.Builder
	for {
		b, err := r.peek()
		if err != nil {
			return 0, err
		}
		if b == '\r' || b == '\n' {
			return 0, syntaxf("Malformed literal") // the line end stays for skipCommand
		}
		if _, err := r.readByte(); err != nil {
			return 0, err
		}
		if b < '0' || b > '9' {
			if b == '+' {
				if b, err = r.readByte(); err != nil {
					return 0, err
				}
			}
			if b != '}' {
				return 0, syntaxf("Malformed literal")
			}
			break
		}
		if digits.Len() >= 10 {
			return 0, syntaxf("Literal length too large")
		}
		digits.WriteByte(b)
	}
	n, err := strconv.ParseInt(digits.String(), 10, 64)
	if err != nil || n > 1<<32-1 {
		return 0, syntaxf("Malformed literal length")
	}
	end, err := r.atEOL()
	if err != nil {
		return 0, err
	}
	if !end {
		return 0, syntaxf("Expected CRLF after the literal length")
	}
	return n, nil
}

// literal reads a literal (RFC 5804 §4: "{n+}" CRLF and n octets; the
// synchronizing form "{n}" is accepted too, without a continuation, since
// ManageSieve has none). A literal larger than maxLiteral is skipped and
// refused with QUOTA/MAXSIZE; one much larger ends the connection.
func (r *reader) literal() (string, error) {
	n, err := r.literalHeader()
	if err != nil {
		return "", err
	}
	if n > r.maxLiteral {
		if n > discardFactor*r.maxLiteral {
			return "", &errFatalInput{msg: fmt.Sprintf("Literal of %d octets is far over the limit of %d", n, r.maxLiteral)}
		}
		if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
			return "", err
		}
		return "", &errSyntax{code: "QUOTA/MAXSIZE", msg: fmt.Sprintf("String of %d octets is larger than the limit of %d", n, r.maxLiteral)}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// skipCommand consumes the rest of a command after a syntax error: up to
// the line end, skipping the contents of any literal announced on the
// way, so that they are not taken for commands.
func (r *reader) skipCommand() error {
	for {
		b, err := r.peek()
		if err != nil {
			return err
		}
		switch b {
		case '\r', '\n':
			end, err := r.atEOL()
			var se *errSyntax
			if err != nil && !errors.As(err, &se) {
				return err
			}
			if end {
				return nil
			}
		case '{':
			n, err := r.literalHeader()
			var se *errSyntax
			if errors.As(err, &se) {
				continue // not a literal after all
			}
			if err != nil {
				return err
			}
			if n > discardFactor*r.maxLiteral {
				return &errFatalInput{msg: "Literal far over the limit"}
			}
			if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
				return err
			}
		default:
			if _, err := r.readByte(); err != nil {
				return err
			}
		}
	}
}
