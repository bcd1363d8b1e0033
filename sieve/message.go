package sieve

import (
	"bytes"
	"io"
	"strings"

	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/core/mimetext"
)

// JunkHeader is the header field through which a script sees the filter
// chain's verdict: "yes" when Message.Junk is set, "no" otherwise. A field
// of that name in the message itself is hidden from the script, so a
// sender cannot forge it.
const JunkHeader = "X-Yubin-Junk"

// Message is the message a script runs against. Run reads it and never
// changes it.
type Message struct {
	// Header is the raw header block: the header fields, optionally
	// followed by the empty line.
	Header []byte
	// Body reads the body (what follows the empty line). It is read at
	// most once and only if a body test needs it; nil means an empty body.
	Body io.Reader
	// Size is the size of the whole message in octets (the size test).
	Size int64
	// EnvelopeFrom is the SMTP MAIL FROM address, "" for the null sender.
	EnvelopeFrom string
	// EnvelopeTo is the SMTP RCPT TO address this delivery is for.
	EnvelopeTo string
	// Junk is the filter chain's verdict: the message is spam. The script
	// sees it as the JunkHeader field; the caller files an implicit or
	// explicit keep into the Junk mailbox when it is set.
	Junk bool
}

// field is one header field, unfolded.
type field struct {
	name    string // as written
	value   string // raw value, unfolded, without leading and trailing white space
	decoded *string
}

// parseHeader splits a raw header block into fields, as core/mimeparse
// (the parser the MTA, the filters and the IMAP server use) reads it: up
// to the empty line, lines that are neither a field nor a continuation
// skipped. Values are unfolded with each line's surrounding white space
// reduced to one space. It never fails.
func parseHeader(raw []byte) []field {
	h := mimeparse.ParseHeader(raw)
	fields := make([]field, 0, h.Len())
	for i := range h.Len() {
		f := h.RawField(i)
		_, v, _ := bytes.Cut(f, []byte(":"))
		var value string
		for j, line := range bytes.Split(bytes.TrimRight(v, "\r\n"), []byte("\n")) {
			line = bytes.TrimSpace(line)
			if j == 0 {
				value = string(line)
			} else {
				value = strings.TrimSpace(value + " " + string(line))
			}
		}
		fields = append(fields, field{name: string(h.Name(i)), value: value})
	}
	return fields
}

// header is the parsed header of the message, with the Junk field.
type header struct {
	fields []field
}

func newHeader(raw []byte, junk bool) *header {
	all := parseHeader(raw)
	h := &header{fields: make([]field, 0, len(all)+1)}
	v := "no"
	if junk {
		v = "yes"
	}
	h.fields = append(h.fields, field{name: JunkHeader, value: v})
	for _, f := range all {
		if !strings.EqualFold(f.name, JunkHeader) {
			h.fields = append(h.fields, f)
		}
	}
	return h
}

// values returns the raw values of the fields named name, in order.
func (h *header) values(name string) []string {
	var out []string
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// decodedValues returns the values of the fields named name with RFC 2047
// words decoded, decoding each field once per run.
func (h *header) decodedValues(name string) []string {
	var out []string
	for i := range h.fields {
		f := &h.fields[i]
		if !strings.EqualFold(f.name, name) {
			continue
		}
		if f.decoded == nil {
			d := mimetext.DecodeHeader(f.value)
			f.decoded = &d
		}
		out = append(out, *f.decoded)
	}
	return out
}
