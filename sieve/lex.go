package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a position in a script: 1-based line and column (in bytes).
type Pos struct {
	Line   int
	Column int
}

// String formats p as "line:column".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) }

// Error is a script error: a syntax or validation error found when the
// script is checked, with the position it was found at.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the error as "line L, column C: message".
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Column, e.Msg)
}

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// tokenKind is the kind of a lexical token.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdentifier
	tokTag
	tokNumber
	tokString
	tokLBracket  // [
	tokRBracket  // ]
	tokLParen    // (
	tokRParen    // )
	tokLBrace    // {
	tokRBrace    // }
	tokComma     // ,
	tokSemicolon // ;
)

func (k tokenKind) String() string {
	switch k {
	case tokEOF:
		return "end of script"
	case tokIdentifier:
		return "identifier"
	case tokTag:
		return "tag"
	case tokNumber:
		return "number"
	case tokString:
		return "string"
	case tokLBracket:
		return `"["`
	case tokRBracket:
		return `"]"`
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokLBrace:
		return `"{"`
	case tokRBrace:
		return `"}"`
	case tokComma:
		return `","`
	case tokSemicolon:
		return `";"`
	}
	return "token"
}

// token is one lexical token. For identifiers and tags text is the name
// (lower case, without the colon); for strings it is the decoded value.
type token struct {
	kind tokenKind
	pos  Pos
	text string
	num  uint64
}

// lexer splits a script into tokens (RFC 5228 section 8.1).
type lexer struct {
	src       string
	off       int
	line      int
	lineStart int
	maxString int
}

func newLexer(src string, maxString int) *lexer {
	return &lexer{src: src, line: 1, maxString: maxString}
}

func (l *lexer) pos() Pos { return Pos{Line: l.line, Column: l.off - l.lineStart + 1} }

// newline records that a line ended just before offset off.
func (l *lexer) newline(off int) {
	l.line++
	l.lineStart = off
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.off++
		case c == '\n':
			l.off++
			l.newline(l.off)
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		case c == '/' && strings.HasPrefix(l.src[l.off:], "/*"):
			start := l.pos()
			l.off += 2
			for {
				if l.off >= len(l.src) {
					return errorf(start, "unterminated comment")
				}
				if strings.HasPrefix(l.src[l.off:], "*/") {
					l.off += 2
					break
				}
				if l.src[l.off] == '\n' {
					l.newline(l.off + 1)
				}
				l.off++
			}
		default:
			return nil
		}
	}
	return nil
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: p}, nil
	}
	c := l.src[l.off]
	if k, ok := punctuation(c); ok {
		l.off++
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == '"':
		s, err := l.quoted()
		return token{kind: tokString, pos: p, text: s}, err
	case c == ':':
		l.off++
		if l.off >= len(l.src) || !(isAlpha(l.src[l.off]) || l.src[l.off] == '_') {
			return token{}, errorf(p, "a tag needs a name after \":\"")
		}
		return token{kind: tokTag, pos: p, text: strings.ToLower(l.identifier())}, nil
	case isDigit(c):
		return l.number(p)
	case isAlpha(c) || c == '_':
		id := l.identifier()
		if strings.EqualFold(id, "text") && l.off < len(l.src) && l.src[l.off] == ':' {
			l.off++
			s, err := l.multiline(p)
			return token{kind: tokString, pos: p, text: s}, err
		}
		return token{kind: tokIdentifier, pos: p, text: strings.ToLower(id)}, nil
	}
	return token{}, errorf(p, "unexpected character %q", rune(c))
}

func (l *lexer) identifier() string {
	start := l.off
	for l.off < len(l.src) {
		c := l.src[l.off]
		if !(isAlpha(c) || isDigit(c) || c == '_') {
			break
		}
		l.off++
	}
	return l.src[start:l.off]
}

// number reads a number with an optional K, M or G quantifier.
func (l *lexer) number(p Pos) (token, error) {
	start := l.off
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		l.off++
	}
	n, err := strconv.ParseUint(l.src[start:l.off], 10, 64)
	if err != nil {
		return token{}, errorf(p, "number %s is too large", l.src[start:l.off])
	}
	var mult uint64 = 1
	if l.off < len(l.src) {
		switch l.src[l.off] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			l.off++
		}
	}
	if n > (1<<63-1)/mult {
		return token{}, errorf(p, "number %s is too large", l.src[start:l.off])
	}
	if l.off < len(l.src) && (isAlpha(l.src[l.off]) || l.src[l.off] == '_') {
		return token{}, errorf(p, "invalid number %q", l.src[start:l.off+1])
	}
	return token{kind: tokNumber, pos: p, num: n * mult}, nil
}

// quoted reads a quoted string; l.off is at the opening quote.
func (l *lexer) quoted() (string, error) {
	p := l.pos()
	l.off++
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return "", errorf(p, "unterminated string")
		}
		c := l.src[l.off]
		switch c {
		case '"':
			l.off++
			return b.String(), nil
		case '\\':
			if l.off+1 >= len(l.src) {
				return "", errorf(p, "unterminated string")
			}
			// RFC 5228 section 2.4.2: "\\" and "\"" are escapes; any other
			// backslash is dropped and the next character kept.
			l.off++
			c = l.src[l.off]
		}
		if c == '\n' {
			l.newline(l.off + 1)
		}
		b.WriteByte(c)
		l.off++
		if l.maxString > 0 && b.Len() > l.maxString {
			return "", errorf(p, "string longer than %d bytes", l.maxString)
		}
	}
}

// multiline reads a multi-line string after "text:" (RFC 5228 section
// 2.4.2): the rest of the line may hold only white space and a comment;
// the string ends at a line holding a single "."; a leading ".." on a line
// stands for ".".
func (l *lexer) multiline(p Pos) (string, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.off++
	}
	if l.off < len(l.src) && l.src[l.off] == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.off++
		}
	}
	if l.off < len(l.src) && l.src[l.off] == '\r' {
		l.off++
	}
	if l.off >= len(l.src) || l.src[l.off] != '\n' {
		return "", errorf(l.pos(), "\"text:\" must be followed by the end of the line")
	}
	l.off++
	l.newline(l.off)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return "", errorf(p, "unterminated multi-line string (a line with a single \".\" ends it)")
		}
		end := strings.IndexByte(l.src[l.off:], '\n')
		var line string
		next := len(l.src)
		if end >= 0 {
			line = l.src[l.off : l.off+end]
			next = l.off + end + 1
		} else {
			line = l.src[l.off:]
		}
		content := strings.TrimSuffix(line, "\r")
		if content == "." {
			l.off = next
			if end >= 0 {
				l.newline(l.off)
			}
			return b.String(), nil
		}
		if end < 0 {
			return "", errorf(p, "unterminated multi-line string (a line with a single \".\" ends it)")
		}
		b.WriteString(strings.TrimPrefix(content, ".")) // dot-stuffing
		b.WriteString("\r\n")
		if l.maxString > 0 && b.Len() > l.maxString {
			return "", errorf(p, "string longer than %d bytes", l.maxString)
		}
		l.off = next
		l.newline(l.off)
	}
}

// punctuation returns the token kind of a one-character token.
func punctuation(c byte) (tokenKind, bool) {
	switch c {
	case '[':
		return tokLBracket, true
	case ']':
		return tokRBracket, true
	case '(':
		return tokLParen, true
	case ')':
		return tokRParen, true
	case '{':
		return tokLBrace, true
	case '}':
		return tokRBrace, true
	case ',':
		return tokComma, true
	case ';':
		return tokSemicolon, true
	}
	return 0, false
}
