package imapmsg

import (
	"mime"
	"strings"

	"github.com/yubinmail/yubin/core/mimetext"
)

// isASCII reports whether b has only 7-bit bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// cleanText makes raw header text safe to put in an IMAP string: valid
// UTF-8, no control characters (they become spaces, except tab).
func cleanText(s string) string {
	s = mimetext.FallbackUTF8String(s)
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
	return cleanText(mimetext.DecodeHeader(s))
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
