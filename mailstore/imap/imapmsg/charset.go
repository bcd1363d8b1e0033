package imapmsg

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// decodeCharset converts b from the named charset to UTF-8. Unknown charsets
// and undecodable data fall back to fallbackUTF8; it never fails.
func decodeCharset(cs string, b []byte) string {
	cs = strings.ToLower(strings.Trim(cs, " \t\"'"))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "default":
		return fallbackUTF8(b)
	}
	if isASCII(b) && !stateful7bit(cs, b) {
		return string(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return fallbackUTF8(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return fallbackUTF8(b)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// stateful7bit reports whether 7-bit data in charset cs may still need
// decoding: ISO-2022 escape sequences (ISO-2022-JP is how most Japanese mail
// is sent), UTF-7 and HZ shifts.
func stateful7bit(cs string, b []byte) bool {
	switch {
	case strings.HasPrefix(cs, "iso-2022") || strings.HasPrefix(cs, "csiso2022"):
		return bytes.IndexByte(b, 0x1b) >= 0
	case cs == "utf-7" || cs == "unicode-1-1-utf-7" || cs == "csunicode11utf7":
		return bytes.IndexByte(b, '+') >= 0
	case strings.HasPrefix(cs, "hz"):
		return bytes.Contains(b, []byte("~{"))
	}
	return false
}

// fallbackUTF8 returns b as a string if it is valid UTF-8, and otherwise
// reads it as ISO-8859-1.
func fallbackUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// fallbackUTF8String is fallbackUTF8 for strings.
func fallbackUTF8String(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return fallbackUTF8([]byte(s))
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

// wordDecoder decodes RFC 2047 encoded words with any charset go-message
// knows, and never fails on an unknown one.
var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(decodeCharset(cs, b)), nil
	},
}

// decodeHeaderText turns a raw unfolded header value into UTF-8 text:
// raw 8-bit bytes are fixed up first, then encoded words are decoded.
func decodeHeaderText(raw string) string {
	s := fallbackUTF8String(raw)
	if !strings.Contains(s, "=?") {
		return s
	}
	dec, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return strings.ToValidUTF8(dec, "\uFFFD")
}

// cleanText makes raw header text safe to put in an IMAP string: valid
// UTF-8, no control characters (they become spaces, except tab).
func cleanText(s string) string {
	s = fallbackUTF8String(s)
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// envText prepares raw header text for an envelope or body structure:
// ASCII text is kept raw (encoded words are left for the client), while
// text with 8-bit characters, which will be RFC 2047 encoded as a whole,
// has its encoded words decoded first so they are not encoded twice.
func envText(s string) string {
	s = cleanText(s)
	if isASCII([]byte(s)) {
		return s
	}
	return cleanText(decodeHeaderText(s))
}

// wireText is envText plus RFC 2047 encoding of non-ASCII text, for
// BODYSTRUCTURE strings that go-imap writes without encoding them.
func wireText(s string) string {
	s = envText(s)
	if isASCII([]byte(s)) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}
