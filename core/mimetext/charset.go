// Package mimetext turns the text of a mail message into UTF-8: RFC 2047
// encoded words in header fields, body text in any charset go-message
// knows (ISO-2022-JP, Shift_JIS, EUC-JP, the ISO-8859 and Windows code
// pages, HZ, ...) and UTF-7, and HTML bodies into plain text. It is the one
// decoder every part of Yubin uses; nothing in it ever fails on bad input.
// Importing it also loads go-message's charset tables into
// message.CharsetReader (go-message/charset does that on import), so
// message.New decodes the charsets of text parts for its importers.
package mimetext

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// DecodeBytes converts b from the named charset to UTF-8. Names are
// matched without case, quotes or surrounding blanks. An empty, ASCII,
// UTF-8 or unknown charset, and data the charset cannot convert, are read
// as UTF-8 if valid and otherwise as ISO-8859-1; the result is always
// valid UTF-8. 7-bit data is converted only when its charset shifts with
// 7-bit sequences (ISO-2022-JP, UTF-7, HZ).
func DecodeBytes(cs string, b []byte) string {
	cs = normalizeCharset(cs)
	if passThrough(cs) {
		return FallbackUTF8(b)
	}
	if isASCII(b) && !stateful7bit(cs, b) {
		return string(b)
	}
	if isUTF7(cs) {
		return strings.ToValidUTF8(decodeUTF7(b), "\uFFFD")
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return FallbackUTF8(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return FallbackUTF8(b)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// CharsetReader returns a reader of r's content converted from the named
// charset to UTF-8, as DecodeBytes converts it (unknown charsets included:
// it never fails but on a read error of r). It suits
// mime.WordDecoder.CharsetReader and message.CharsetReader.
func CharsetReader(cs string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(DecodeBytes(cs, b)), nil
}

// WordDecoder is an RFC 2047 decoder that knows every charset DecodeBytes
// does. It is safe for concurrent use.
var WordDecoder = &mime.WordDecoder{CharsetReader: CharsetReader}

// DecodeHeader turns a raw unfolded header value into UTF-8 text: raw
// ISO-2022-JP (as some Japanese mailers still send it without encoded
// words) is converted, other raw 8-bit bytes are read as UTF-8 or else
// ISO-8859-1, and then RFC 2047 encoded words are decoded. What cannot be
// decoded is kept as it is.
func DecodeHeader(raw string) string {
	s := raw
	if strings.Contains(s, "\x1b$") || strings.Contains(s, "\x1b(") {
		s = DecodeBytes("iso-2022-jp", []byte(s))
	}
	s = FallbackUTF8String(s)
	if !strings.Contains(s, "=?") {
		return s
	}
	dec, err := WordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return strings.ToValidUTF8(dec, "\uFFFD")
}

// FallbackUTF8 returns b as a string if it is valid UTF-8, and otherwise
// reads it as ISO-8859-1.
func FallbackUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// FallbackUTF8String is FallbackUTF8 for strings.
func FallbackUTF8String(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return FallbackUTF8([]byte(s))
}

// normalizeCharset lower-cases a charset name and strips quotes and
// blanks.
func normalizeCharset(cs string) string {
	return strings.ToLower(strings.Trim(cs, " \t\"'"))
}

// passThrough reports whether data in charset cs (normalized) is read as
// UTF-8 with the ISO-8859-1 fallback rather than converted.
func passThrough(cs string) bool {
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "default":
		return true
	}
	return false
}

// stateful7bit reports whether 7-bit data in charset cs may still need
// decoding: ISO-2022 escape sequences (ISO-2022-JP is how most Japanese mail
// is sent), UTF-7 and HZ shifts.
func stateful7bit(cs string, b []byte) bool {
	switch {
	case strings.HasPrefix(cs, "iso-2022") || strings.HasPrefix(cs, "csiso2022"):
		return bytes.IndexByte(b, 0x1b) >= 0
	case isUTF7(cs):
		return bytes.IndexByte(b, '+') >= 0
	case strings.HasPrefix(cs, "hz"):
		return bytes.Contains(b, []byte("~{"))
	}
	return false
}

// isASCII reports whether b has only 7-bit bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
