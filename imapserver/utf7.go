package imapserver

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3): mailbox names on the wire of sessions
// that did not enable UTF8=ACCEPT.

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var errUTF7 = errors.New("invalid modified UTF-7")

// decodeUTF7 decodes a mailbox name in modified UTF-7.
func decodeUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	lastEncodedEnd := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+j]
		if enc == "" {
			b.WriteByte('&')
			i++
			continue
		}
		if lastEncodedEnd == i {
			// Two encoded runs next to each other must be one.
			return "", errUTF7
		}
		if err := decodeB64UTF16(&b, enc); err != nil {
			return "", err
		}
		i += j + 1
		lastEncodedEnd = i + 1
	}
	return b.String(), nil
}

// decodeB64UTF16 decodes one shifted run.
func decodeB64UTF16(b *strings.Builder, enc string) error {
	var bits uint32
	var nbits int
	var units []uint16
	for k := 0; k < len(enc); k++ {
		v := strings.IndexByte(b64chars, enc[k])
		if v < 0 {
			return errUTF7
		}
		bits = bits<<6 | uint32(v)
		nbits += 6
		if nbits >= 16 {
			nbits -= 16
			units = append(units, uint16(bits>>nbits))
			bits &= 1<<nbits - 1
		}
	}
	// Left-over bits are padding: fewer than 6 and all zero.
	if nbits >= 6 || bits != 0 || len(units) == 0 {
		return errUTF7
	}
	for k := 0; k < len(units); k++ {
		u := units[k]
		var r rune
		switch {
		case utf16.IsSurrogate(rune(u)):
			if u >= 0xdc00 || k+1 >= len(units) {
				return errUTF7
			}
			r = utf16.DecodeRune(rune(u), rune(units[k+1]))
			if r == utf8.RuneError {
				return errUTF7
			}
			k++
		default:
			r = rune(u)
		}
		// Printable ASCII must represent itself (RFC 3501 §5.1.3).
		if r >= 0x20 && r <= 0x7e {
			return errUTF7
		}
		b.WriteRune(r)
	}
	return nil
}

// encodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func encodeUTF7(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		var bits uint32
		nbits := 0
		for _, u := range run {
			bits = bits<<16 | uint32(u)
			nbits += 16
			for nbits >= 6 {
				nbits -= 6
				b.WriteByte(b64chars[(bits>>nbits)&63])
			}
			bits &= 1<<nbits - 1
		}
		if nbits > 0 {
			b.WriteByte(b64chars[(bits<<(6-nbits))&63])
		}
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		run = utf16.AppendRune(run, r)
	}
	flush()
	return b.String()
}
