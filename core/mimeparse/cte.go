package mimeparse

import (
	"fmt"
	"strings"
)

// cteKind classifies a Content-Transfer-Encoding.
type cteKind int

const (
	cteIdentity cteKind = iota // 7bit, 8bit, binary or absent
	cteBase64
	cteQP
	cteUnknown
)

// normalizeCTE turns a raw Content-Transfer-Encoding value into a lower-case
// token ("" when absent). Comments and surrounding quotes are dropped.
func normalizeCTE(v string) string {
	s := stripLeadingCFWS(v)
	s = strings.Trim(s, "\"' \t")
	tok, _ := readToken(s)
	if tok == "" && s != "" {
		// Not a token at all: keep something printable so that BINARY
		// reports it as unknown rather than treating it as identity.
		return "x-invalid"
	}
	return strings.ToLower(tok)
}

// classifyCTE maps a normalised encoding name to its kind.
func classifyCTE(enc string) cteKind {
	switch enc {
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit":
		return cteIdentity
	case "base64":
		return cteBase64
	case "quoted-printable":
		return cteQP
	}
	return cteUnknown
}

// UnknownEncodingError reports a Content-Transfer-Encoding that is neither
// an identity encoding (7bit, 8bit, binary) nor base64 nor
// quoted-printable.
type UnknownEncodingError struct {
	Encoding string // the normalised name
}

func (e *UnknownEncodingError) Error() string {
	return fmt.Sprintf("mimeparse: unknown Content-Transfer-Encoding %q", e.Encoding)
}

// MalformedEncodingError reports base64 or quoted-printable content that
// had to be decoded leniently: bytes outside the base64 alphabet (other
// than white space), data after padding or a group cut short; "=" not
// followed by two hexadecimal digits or a line break, or a control
// character left unencoded, in quoted-printable.
// Decoders disagree on such content.
type MalformedEncodingError struct {
	Encoding string // "base64" or "quoted-printable"
}

func (e *MalformedEncodingError) Error() string {
	return "mimeparse: malformed " + e.Encoding + " content"
}

// Decode undoes the transfer encoding enc (as Part.Encoding gives it) of
// body, leniently: malformed base64 and quoted-printable decode as far as
// they can, and come with a *MalformedEncodingError. An unknown encoding
// returns body unchanged with an *UnknownEncodingError. The result is
// always usable and may share memory with body.
func Decode(enc string, body []byte) ([]byte, error) {
	switch classifyCTE(enc) {
	case cteBase64:
		out, clean := decodeBase64(body)
		if !clean {
			return out, &MalformedEncodingError{Encoding: "base64"}
		}
		return out, nil
	case cteQP:
		out, clean := decodeQP(body)
		if !clean {
			return out, &MalformedEncodingError{Encoding: "quoted-printable"}
		}
		return out, nil
	case cteUnknown:
		return body, &UnknownEncodingError{Encoding: enc}
	}
	return body, nil
}

// NormalizeEncoding turns a raw Content-Transfer-Encoding value into the
// form Part.Encoding has.
func NormalizeEncoding(v string) string {
	return normalizeCTE(v)
}

// b64Values maps base64 alphabet bytes (standard and URL-safe) to values;
// 0xff marks bytes that are skipped.
var b64Values = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xff
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(std); i++ {
		t[std[i]] = byte(i)
	}
	t['-'] = 62
	t['_'] = 63
	return t
}()

// decodeBase64 decodes base64 leniently: bytes outside the alphabet are
// skipped, padding flushes a partial group (so concatenated encodings
// decode), and a trailing partial group yields the bytes it holds. clean
// reports standard base64 (RFC 2045 §6.8): only the standard alphabet and
// white space, padding only at the end, no group cut short.
func decodeBase64(b []byte) (out []byte, clean bool) {
	out = make([]byte, 0, len(b)*3/4+3)
	clean = true
	padded := false
	var acc uint32
	n := 0
	flush := func() {
		if n == 1 {
			clean = false
		}
		switch n {
		case 2:
			out = append(out, byte(acc>>4))
		case 3:
			out = append(out, byte(acc>>10), byte(acc>>2))
		}
		acc, n = 0, 0
	}
	pads := 0 // padding characters still due
	for _, c := range b {
		if c == '=' {
			switch {
			case !padded && (n == 2 || n == 3):
				pads = 4 - n - 1
			case padded && pads > 0:
				pads--
			default:
				clean = false // padding where no group needs it
			}
			flush()
			padded = true
			continue
		}
		v := b64Values[c]
		if v == 0xff {
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				clean = false
			}
			continue
		}
		if padded || c == '-' || c == '_' {
			clean = false
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	if n != 0 || pads > 0 {
		clean = false // a group cut short, or its padding
	}
	flush()
	return out, clean
}

// decodeQP decodes quoted-printable leniently: malformed escapes are kept
// literally, soft line breaks may have trailing white space, and white space
// at the end of a line is dropped as RFC 2045 requires. clean is false when
// an escape was malformed or a control character was not encoded.
func decodeQP(b []byte) (out []byte, clean bool) {
	out = make([]byte, 0, len(b))
	clean = true
	for i := 0; i < len(b); {
		c := b[i]
		switch c {
		case '=':
			if i+2 < len(b) {
				if c, ok := hexPair(b[i+1], b[i+2]); ok {
					out = append(out, c)
					i += 3
					continue
				}
			}
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			switch {
			case j == len(b):
				clean = false // a soft line break without its line break
				i = j
			case b[j] == '\n':
				i = j + 1
			case b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n':
				i = j + 2
			case b[j] == '\r' && j+1 == len(b):
				clean = false
				i = j + 1
			default:
				out = append(out, '=')
				clean = false
				i++
			}
		case ' ', '\t':
			j := i
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			if j < len(b) && b[j] != '\r' && b[j] != '\n' {
				out = append(out, b[i:j]...)
			}
			i = j
		default:
			if (c < ' ' && c != '\r' && c != '\n') || c == 0x7f || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
				clean = false // a control character or a bare CR, which RFC 2045 §6.7 encodes
			}
			out = append(out, c)
			i++
		}
	}
	return out, clean
}
