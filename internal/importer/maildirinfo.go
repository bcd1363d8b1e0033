package importer

import (
	"bufio"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/yubinmail/yubin/mailstore"
)

// ParseMaildirName splits a maildir file name into its unique part and the
// flags of its info suffix (":2,FLAGS", http://cr.yp.to/proto/maildir.html):
// S \Seen, R \Answered, F \Flagged, T \Deleted, D \Draft (P, passed, has
// no IMAP flag), and Dovecot's keywords as the lower-case letters a to z,
// the n-th naming keywords[n] (from the folder's dovecot-keywords). A name
// without an info suffix (a message still in new/) has no flags.
func ParseMaildirName(name string, keywords []string) (unique string, flags []string) {
	unique, info, ok := strings.Cut(name, ":")
	if !ok {
		return name, nil
	}
	rest, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return unique, nil // experimental ":1," semantics: no flags
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == 'S':
			flags = appendFlag(flags, mailstore.FlagSeen)
		case c == 'R':
			flags = appendFlag(flags, mailstore.FlagAnswered)
		case c == 'F':
			flags = appendFlag(flags, mailstore.FlagFlagged)
		case c == 'T':
			flags = appendFlag(flags, mailstore.FlagDeleted)
		case c == 'D':
			flags = appendFlag(flags, mailstore.FlagDraft)
		case c >= 'a' && c <= 'z':
			if n := int(c - 'a'); n < len(keywords) && keywords[n] != "" {
				flags = appendFlag(flags, keywords[n])
			}
		}
	}
	return unique, flags
}

func appendFlag(flags []string, f string) []string {
	for _, x := range flags {
		if x == f {
			return flags
		}
	}
	return append(flags, f)
}

// ParseDovecotKeywords reads a dovecot-keywords file: lines "N name" give
// the keyword of the maildir flag letter 'a'+N (N from 0 to 25).
func ParseDovecotKeywords(r io.Reader) []string {
	kw := make([]string, 26)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		num, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n >= len(kw) {
			continue
		}
		kw[n] = strings.TrimSpace(name)
	}
	return kw
}

// parseDovecotUIDList reads the order of a maildir's messages from its
// dovecot-uidlist (version 3: a header line, then "UID [EXT...] :NAME"
// per message): unique name → UID.
func parseDovecotUIDList(r io.Reader) map[string]uint32 {
	uids := map[string]uint32{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			continue
		}
		head, name, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(head, " ")
		uid, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
		if err != nil {
			continue
		}
		unique, _ := ParseMaildirName(name, nil)
		uids[unique] = uint32(uid)
	}
	return uids
}

// decodeMUTF7 decodes a mailbox name in IMAP's modified UTF-7 (RFC 3501
// §5.1.3), as Dovecot names maildir folders; a name that is not valid
// modified UTF-7 is returned as it is.
func decodeMUTF7(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '&' {
			if c < 0x20 || c > 0x7e {
				return s
			}
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return s
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(enc, ",", "/"))
		if err != nil || len(raw)%2 != 0 {
			return s
		}
		u := make([]uint16, len(raw)/2)
		for j := range u {
			u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || r < 0x80 && r >= 0x20 && r <= 0x7e {
				return s // ASCII must not be encoded
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
