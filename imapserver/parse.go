package imapserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the parser: everything a client controls is bounded.
const (
	// maxLine is the longest line of a command, literals not counted.
	maxLine = 64 << 10
	// maxStringLiteral is the largest literal that is not a message.
	maxStringLiteral = 64 << 10
	// maxCommandLiterals bounds the literals of one command, messages
	// (APPEND) not counted.
	maxCommandLiterals = 1 << 20
	// maxDiscard is the most a refused non-synchronizing literal may
	// hold: the server reads and drops it (RFC 7888 §4); a larger one
	// ends the connection.
	maxDiscard = 1 << 30
)

// statusError is the answer to a command that failed: BAD for a command the
// server cannot parse or does not accept in this state, NO for one it
// refuses. The text is for the user; it never carries internal ids.
type statusError struct {
	bad  bool
	code string // response code without brackets; "" for none
	text string
}

func (e *statusError) Error() string {
	kind := "NO"
	if e.bad {
		kind = "BAD"
	}
	if e.code != "" {
		return kind + " [" + e.code + "] " + e.text
	}
	return kind + " " + e.text
}

// badf returns a BAD answer.
func badf(format string, args ...any) *statusError {
	return &statusError{bad: true, text: fmt.Sprintf(format, args...)}
}

// noErr returns a NO answer with an optional response code.
func noErr(code, text string) *statusError {
	return &statusError{code: code, text: text}
}

// errLineTooLong is the answer to a command line over maxLine bytes.
var errLineTooLong = &statusError{bad: true, code: "TOOBIG", text: "Command line too long"}

// errFatal wraps errors after which the connection cannot go on.
var errFatal = errors.New("imapserver: connection unusable")

// reader reads commands from a client: lines and the literals between
// them. Tokens are parsed from the current line; a literal replaces the
// line with the one that follows it.
type reader struct {
	br   *bufio.Reader
	line []byte // the current line without its CRLF
	pos  int    // parse position in line
	// tail is the end of an over-long line, kept to see whether a
	// literal follows it.
	tail []byte
	// discard is the size of a non-synchronizing literal announced at the
	// end of the current line that the parser refused: skip drops it.
	discard int64
	// literals counts the literal bytes of the current command.
	literals int64
	// cont asks the client for a synchronizing literal ("+ ...").
	cont func() error
}

func newReader(br *bufio.Reader, cont func() error) *reader {
	return &reader{br: br, cont: cont}
}

// readLine reads the next line into r.line. An over-long line is read to
// its end and answered with errLineTooLong; its tail is kept.
func (r *reader) readLine() error {
	r.line, r.pos, r.tail, r.discard = r.line[:0], 0, nil, 0
	if cap(r.line) > 8<<10 {
		r.line = nil // do not keep a long line's buffer on an idle connection
	}
	overlong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !overlong && len(r.line)+len(chunk) > maxLine+2 {
			overlong = true
		}
		if overlong {
			r.tail = append(r.tail, chunk...)
			if len(r.tail) > 64 {
				r.tail = append(r.tail[:0], r.tail[len(r.tail)-64:]...)
			}
		} else {
			r.line = append(r.line, chunk...)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return fmt.Errorf("%w: read command: %w", errFatal, err)
		}
	}
	if overlong {
		r.line = r.line[:0]
		r.tail = trimEOL(r.tail)
		return errLineTooLong
	}
	r.line = trimEOL(r.line)
	return nil
}

// trimEOL drops a trailing LF or CRLF.
func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// trailingLiteral parses a literal announcement ending line: "{n}",
// "{n+}", "~{n}" or "~{n+}".
func trailingLiteral(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := len(line) - 2
	sync = true
	if line[i] == '+' {
		sync = false
		i--
	}
	end := i + 1
	for i >= 0 && line[i] >= '0' && line[i] <= '9' {
		i--
	}
	if i < 0 || line[i] != '{' || i+1 == end || end-i-1 > 19 {
		return 0, false, false
	}
	n, err := strconv.ParseInt(string(line[i+1:end]), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, sync, true
}

// skip drops the rest of a command that failed: the rest of the line and
// every non-synchronizing literal announced at the end of it (with the
// lines after them). A synchronizing literal is never sent by the client,
// which waits for a "+" it does not get. skip returns an error only if
// the connection cannot go on.
func (r *reader) skip() error {
	for {
		n, sync := r.discard, false
		if n == 0 {
			line := r.line
			if r.tail != nil {
				line = r.tail
			}
			var ok bool
			if n, sync, ok = trailingLiteral(line); !ok || sync {
				return nil
			}
		}
		if n > maxDiscard {
			return fmt.Errorf("%w: refused literal of %d bytes too large to discard", errFatal, n)
		}
		if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
			return fmt.Errorf("%w: discard literal: %w", errFatal, err)
		}
		if err := r.readLine(); err != nil && !errors.Is(err, errLineTooLong) {
			return err
		}
	}
}

// atEnd reports whether the line is consumed.
func (r *reader) atEnd() bool { return r.pos >= len(r.line) }

// peek returns the next byte of the line, 0 at its end.
func (r *reader) peek() byte {
	if r.pos >= len(r.line) {
		return 0
	}
	return r.line[r.pos]
}

// accept consumes c if it comes next.
func (r *reader) accept(c byte) bool {
	if r.peek() == c && !r.atEnd() {
		r.pos++
		return true
	}
	return false
}

// expect consumes c or fails.
func (r *reader) expect(c byte, what string) error {
	if !r.accept(c) {
		return r.unexpected(what)
	}
	return nil
}

// sp consumes one space.
func (r *reader) sp() error { return r.expect(' ', "a space") }

// end checks that the command line is over.
func (r *reader) end() error {
	if !r.atEnd() {
		return badf("Unexpected %q after the command's arguments", r.snippet())
	}
	return nil
}

// unexpected describes what was found where what was expected.
func (r *reader) unexpected(what string) error {
	if r.atEnd() {
		return badf("Expected %s, found the end of the line", what)
	}
	return badf("Expected %s at %q", what, r.snippet())
}

// snippet is the next few bytes of the line, for error texts.
func (r *reader) snippet() string {
	s := r.line[r.pos:]
	if len(s) > 20 {
		s = s[:20]
	}
	return strings.ToValidUTF8(string(s), "?")
}

// isAtomChar reports whether c is an ATOM-CHAR (RFC 9051 §9).
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// atom reads an atom; extra lists further bytes allowed in it.
func (r *reader) atomWith(what string, extra string) (string, error) {
	start := r.pos
	for r.pos < len(r.line) && (isAtomChar(r.line[r.pos]) || strings.IndexByte(extra, r.line[r.pos]) >= 0) {
		r.pos++
	}
	if r.pos == start {
		return "", r.unexpected(what)
	}
	return string(r.line[start:r.pos]), nil
}

// atom reads an atom.
func (r *reader) atom(what string) (string, error) { return r.atomWith(what, "") }

// tag reads a command tag: ASTRING-CHARs but "+".
func (r *reader) tag() (string, error) {
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if c == '+' || !(isAtomChar(c) || c == ']') {
			break
		}
		r.pos++
	}
	if r.pos == start {
		return "", badf("Missing command tag")
	}
	return string(r.line[start:r.pos]), nil
}

// number reads a 32-bit number (RFC 9051 number: 0 to 4294967295).
func (r *reader) number(what string) (uint32, error) {
	n, err := r.number64(what)
	if err != nil {
		return 0, err
	}
	if n > 1<<32-1 {
		return 0, badf("Number %d out of range for %s", n, what)
	}
	return uint32(n), nil
}

// number64 reads a 63-bit number (number64, RFC 9051).
func (r *reader) number64(what string) (uint64, error) {
	start := r.pos
	for r.pos < len(r.line) && r.line[r.pos] >= '0' && r.line[r.pos] <= '9' {
		r.pos++
	}
	if r.pos == start {
		return 0, r.unexpected(what)
	}
	digits := string(r.line[start:r.pos])
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0, badf("Number %.20s out of range for %s", digits, what)
	}
	return n, nil
}

// quoted reads a quoted string (the opening quote is next).
func (r *reader) quoted() (string, error) {
	r.pos++
	var b []byte
	start := r.pos
	for {
		if r.pos >= len(r.line) {
			return "", badf("Unterminated quoted string")
		}
		c := r.line[r.pos]
		switch c {
		case '"':
			var s string
			if b == nil {
				s = string(r.line[start:r.pos])
			} else {
				s = string(b)
			}
			r.pos++
			if !utf8.ValidString(s) {
				return "", badf("Quoted string is not valid UTF-8")
			}
			return s, nil
		case '\\':
			if b == nil {
				b = append([]byte{}, r.line[start:r.pos]...)
			}
			r.pos++
			if r.pos >= len(r.line) || (r.line[r.pos] != '"' && r.line[r.pos] != '\\') {
				return "", badf(`Only \" and \\ may be escaped in a quoted string`)
			}
			b = append(b, r.line[r.pos])
		case 0:
			return "", badf("NUL in a quoted string")
		default:
			if b != nil {
				b = append(b, c)
			}
		}
		r.pos++
	}
}

// literalHeader parses the announcement of a literal that ends the line
// ("{n}", "{n+}", and with binary "~{n}" too). The literal's bytes follow.
func (r *reader) literalHeader(binary bool) (n int64, isBinary, sync bool, err error) {
	if binary && r.accept('~') {
		isBinary = true
	}
	if err := r.expect('{', "a literal"); err != nil {
		return 0, false, false, err
	}
	n, sync, ok := trailingLiteral(r.line[r.pos-1:])
	if !ok {
		if isBinary {
			return 0, false, false, badf("Malformed literal8 announcement")
		}
		return 0, false, false, badf("Malformed literal announcement (a literal ends the line: {n} or {n+})")
	}
	r.pos = len(r.line)
	return n, isBinary, sync, nil
}

// refuse turns down the literal just announced: a non-synchronizing one
// is dropped by skip.
func (r *reader) refuse(n int64, sync bool, err error) error {
	if !sync {
		r.discard = n
	}
	return err
}

// startLiteral asks for a synchronizing literal of n bytes.
func (r *reader) startLiteral(sync bool) error {
	if sync {
		if err := r.cont(); err != nil {
			return fmt.Errorf("%w: %w", errFatal, err)
		}
	}
	return nil
}

// finishLiteral reads the line after a literal.
func (r *reader) finishLiteral() error { return r.readLine() }

// literal reads a whole literal of at most max bytes.
func (r *reader) literal(binary bool, max int64) ([]byte, error) {
	n, isBinary, sync, err := r.literalHeader(binary)
	if err != nil {
		return nil, err
	}
	if n > max || r.literals+n > maxCommandLiterals {
		return nil, r.refuse(n, sync, &statusError{bad: true, code: "TOOBIG", text: fmt.Sprintf("Literal of %d bytes too large here", n)})
	}
	r.literals += n
	if err := r.startLiteral(sync); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, fmt.Errorf("%w: read literal: %w", errFatal, err)
	}
	if !isBinary && bytesHasNUL(b) {
		if err := r.finishLiteral(); err != nil {
			return nil, err
		}
		return nil, badf("NUL in a literal (send it as literal8)")
	}
	return b, r.finishLiteral()
}

func bytesHasNUL(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// str reads a string: quoted or literal.
func (r *reader) str(what string) (string, error) {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		b, err := r.literal(false, maxStringLiteral)
		if err != nil {
			return "", err
		}
		if !utf8.Valid(b) {
			return "", badf("%s is not valid UTF-8", what)
		}
		return string(b), nil
	}
	return "", r.unexpected(what)
}

// astring reads an atom, a quoted string or a literal.
func (r *reader) astring(what string) (string, error) {
	switch r.peek() {
	case '"', '{':
		return r.str(what)
	}
	return r.atomWith(what, "]")
}

// nstring reads NIL or a string.
func (r *reader) nstring(what string) (string, bool, error) {
	if r.peek() == 'N' || r.peek() == 'n' {
		a, err := r.atom(what)
		if err != nil {
			return "", false, err
		}
		if !strings.EqualFold(a, "NIL") {
			return "", false, badf("Expected %s or NIL, found %q", what, a)
		}
		return "", false, nil
	}
	s, err := r.str(what)
	return s, true, err
}

// listMailbox reads a LIST pattern: an atom with "%", "*" and "]", or a
// string.
func (r *reader) listMailbox() (string, error) {
	switch r.peek() {
	case '"', '{':
		return r.str("a mailbox pattern")
	}
	return r.atomWith("a mailbox pattern", "%*]")
}

// flag reads a flag: "\"atom or a keyword atom.
func (r *reader) flag() (string, error) {
	if r.accept('\\') {
		if r.accept('*') {
			return `\*`, nil
		}
		a, err := r.atom("a flag")
		return `\` + a, err
	}
	return r.atom("a flag")
}

// flagList reads "(" [flag *(SP flag)] ")", or with bare a single flag
// without parentheses (STORE allows that).
func (r *reader) flagList(bare bool) ([]string, error) {
	if bare && r.peek() != '(' {
		var flags []string
		for {
			f, err := r.flag()
			if err != nil {
				return nil, err
			}
			flags = append(flags, f)
			if r.peek() != ' ' || r.pos+1 >= len(r.line) || r.line[r.pos+1] == '(' {
				return flags, nil
			}
			r.pos++
		}
	}
	if err := r.expect('(', "a flag list"); err != nil {
		return nil, err
	}
	var flags []string
	for !r.accept(')') {
		if len(flags) > 0 {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if len(flags) >= 1000 {
			return nil, badf("Too many flags")
		}
		f, err := r.flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
	}
	return flags, nil
}
