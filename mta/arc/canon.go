package arc

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// field is one header field as it appears, with its CRLF.
type field struct {
	name string
	raw  string
}

// value is the field's value, after the colon, unfolded lines kept.
func (f field) value() string {
	_, v, _ := strings.Cut(f.raw, ":")
	return v
}

// splitMessage splits a message at its first empty line. A message
// without one is all header.
func splitMessage(msg []byte) (header, body []byte) {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return nil, msg[2:]
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2], msg[i+4:]
	}
	return msg, nil
}

// parseFields splits a header block into its fields; lines that are not
// fields are skipped.
func parseFields(header []byte) []field {
	var out []field
	for len(header) > 0 {
		end := 0
		for {
			i := bytes.Index(header[end:], []byte("\r\n"))
			if i < 0 {
				end = len(header)
				break
			}
			end += i + 2
			if end >= len(header) || (header[end] != ' ' && header[end] != '\t') {
				break
			}
		}
		raw := string(header[:end])
		header = header[end:]
		name, _, ok := strings.Cut(raw, ":")
		if !ok {
			continue
		}
		name = strings.TrimRight(name, " \t")
		if name == "" || strings.ContainsAny(name, " \t\r\n") {
			continue
		}
		if !strings.HasSuffix(raw, "\r\n") {
			raw += "\r\n"
		}
		out = append(out, field{name: name, raw: raw})
	}
	return out
}

// selectFields picks the fields named, as DKIM does (RFC 6376 section
// 5.4.2): for a name listed k times, its k last occurrences, bottom up; a
// name with no occurrence left signs as nothing.
func selectFields(fields []field, names []string) []field {
	used := make(map[int]bool)
	var out []field
	for _, n := range names {
		for i := len(fields) - 1; i >= 0; i-- {
			if !used[i] && strings.EqualFold(fields[i].name, n) {
				used[i] = true
				out = append(out, fields[i])
				break
			}
		}
	}
	return out
}

// relaxedHeader is the relaxed canonical form of one field (RFC 6376
// section 3.4.2), with CRLF.
func relaxedHeader(raw string) string {
	name, value, _ := strings.Cut(raw, ":")
	value = strings.NewReplacer("\r\n", "").Replace(value)
	return strings.ToLower(strings.TrimRight(name, " \t")) + ":" + strings.TrimSpace(collapseWSP(value)) + "\r\n"
}

// collapseWSP turns every run of spaces and tabs into one space.
func collapseWSP(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	ws := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' {
			ws = true
			continue
		}
		if ws {
			b.WriteByte(' ')
			ws = false
		}
		b.WriteByte(c)
	}
	if ws {
		b.WriteByte(' ')
	}
	return b.String()
}

// relaxedBody is the relaxed canonical form of a body (RFC 6376 section
// 3.4.4): whitespace runs made one space, none at line ends, no empty
// lines at the end, and a final CRLF unless empty.
func relaxedBody(body []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(body))
	lines := bytes.Split(body, []byte("\r\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	empty := 0
	for _, l := range lines {
		c := strings.TrimRight(collapseWSP(string(l)), " ")
		if c == "" {
			empty++
			continue
		}
		for ; empty > 0; empty-- {
			out.WriteString("\r\n")
		}
		out.WriteString(c)
		out.WriteString("\r\n")
	}
	return out.Bytes()
}

// parseTags reads a tag=value list (RFC 6376 section 3.2).
func parseTags(v string) (map[string]string, error) {
	tags := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("tag without value: %q", part)
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; dup {
			return nil, fmt.Errorf("tag %s twice", k)
		}
		tags[k] = strings.Join(strings.Fields(val), " ")
	}
	return tags, nil
}

// stripSig returns a signature field with the value of its b= tag
// removed, as it was signed.
func stripSig(raw string) string {
	// b= is a tag of its own: after the start or a ";", spaces allowed.
	for i := 0; i < len(raw); i++ {
		if raw[i] != 'b' {
			continue
		}
		j := i - 1
		for j >= 0 && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\r' || raw[j] == '\n') {
			j--
		}
		if j < 0 || (raw[j] != ';' && raw[j] != ':') {
			continue
		}
		k := i + 1
		for k < len(raw) && (raw[k] == ' ' || raw[k] == '\t') {
			k++
		}
		if k >= len(raw) || raw[k] != '=' {
			continue
		}
		end := strings.IndexByte(raw[k:], ';')
		if end < 0 {
			end = len(raw) - k
			// Keep the field's final CRLF.
			if strings.HasSuffix(raw, "\r\n") {
				end -= 2
			}
		}
		return raw[:k+1] + raw[k+end:]
	}
	return raw
}

// foldList writes a colon-separated list of field names, folded.
func foldList(names []string) string {
	var b strings.Builder
	line := 0
	for i, n := range names {
		if i > 0 {
			b.WriteByte(':')
			line++
			if line+len(n) > 70 {
				b.WriteString("\r\n\t")
				line = 0
			}
		}
		b.WriteString(n)
		line += len(n)
	}
	return b.String()
}

// foldSig writes a signature in base64, folded.
func foldSig(sig []byte) string {
	s := base64.StdEncoding.EncodeToString(sig)
	var b strings.Builder
	for len(s) > 70 {
		b.WriteString(s[:70])
		b.WriteString("\r\n\t")
		s = s[70:]
	}
	b.WriteString(s)
	return b.String()
}

// parseKey reads the public key of a DKIM key record (RFC 6376 section
// 3.6.1): k=rsa (PKIX or PKCS#1) or k=ed25519 (RFC 8463).
func parseKey(record string) (any, error) {
	tags, err := parseTags(record)
	if err != nil {
		return nil, err
	}
	p := strings.Join(strings.Fields(tags["p"]), "")
	if p == "" {
		return nil, errors.New("key revoked or missing (empty p=)")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("p=: %w", err)
	}
	switch k := tags["k"]; k {
	case "", "rsa":
		if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
			return pub, nil
		}
		return x509.ParsePKCS1PublicKey(der)
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 key size")
		}
		return ed25519.PublicKey(der), nil
	default:
		return nil, fmt.Errorf("key type %q not supported", k)
	}
}
