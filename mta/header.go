package mta

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
)

// maxHeaderBytes bounds the header of a message: a header that does not
// end (blank line or end of the message) within it is refused (552 5.3.4,
// see errHeaderTooLarge). Every filter sees every field of the messages
// Yubin accepts, and every field Yubin removes (forged
// Authentication-Results, Bcc) is found wherever it is: a limit that only
// capped what is looked at would let padding hide a From field from the
// DMARC check while the reader's program still shows it.
const maxHeaderBytes = 1 << 20

// span is a byte range of the spooled message.
type span struct{ off, n int64 }

// headerScan is what scanHeader learned about a message's header.
type headerScan struct {
	end int64 // offset where the header ends: the blank line, EOF, or the limit
	// complete is false when the header did not end within the limit.
	complete bool
	received int // number of Received fields
	// malformed counts the lines that belong to no field: lines that are
	// no field (with their continuation lines), continuation lines at the
	// very start.
	malformed int
	drop      []span // fields to remove from the stored copy, in order, merged
	// fields are the header's fields as written, each with its
	// continuation lines and a line end, without the lines that are not
	// fields; only when scanHeader was asked to collect them.
	fields []byte
}

// scanHeader walks the header of the message in r line by line, without
// holding more than one buffer of it in memory, counting Received fields and
// recording the byte ranges (with their continuation lines and line ends) of
// the fields for which remove reports true, and of continuation lines at the
// very start, which belong to no field. The header runs to the blank line
// (or EOF), as RFC 5322 says: a line in it that is neither a field nor a
// continuation is skipped with its continuation lines, not taken as the
// end of the header, since the programs that read the mail later may well
// skip it too and show the fields that follow it. A header longer than
// limit bytes is not complete (hs.complete false). remove gets the field
// name as written without trailing blanks (callers compare
// case-insensitively); it may be nil. With collect, hs.fields gets the
// fields for parseFields.
func scanHeader(r io.Reader, limit int64, remove func(name string) bool, collect bool) (headerScan, error) {
	var hs headerScan
	br := bufio.NewReaderSize(r, 4096)
	var (
		off     int64
		inField bool // in a field (or orphan or junk lines)
		junk    bool // the current "field" is a line that is not a field, kept but not parsed
		name    string
		start   int64
		orphan  bool // the current "field" is continuation lines at the very start
		cur     []byte
	)
	finish := func(end int64) {
		if !inField {
			return
		}
		inField = false
		if collect && !junk && !orphan {
			if n := len(cur); n == 0 || cur[n-1] != '\n' {
				cur = append(cur, '\r', '\n')
			}
			hs.fields = append(hs.fields, cur...)
		}
		cur = cur[:0]
		if junk || orphan {
			hs.malformed++
		}
		if junk {
			junk = false
			return
		}
		if strings.EqualFold(name, "Received") {
			hs.received++
		}
		drop := orphan || remove != nil && remove(name)
		orphan = false
		if !drop {
			return
		}
		if k := len(hs.drop) - 1; k >= 0 && hs.drop[k].off+hs.drop[k].n == start {
			hs.drop[k].n += end - start
			return
		}
		hs.drop = append(hs.drop, span{start, end - start})
	}
	done := func(complete bool) (headerScan, error) {
		finish(off)
		hs.end, hs.complete = off, complete
		return hs, nil
	}
	for {
		if off >= limit {
			return done(false)
		}
		line, err := br.ReadSlice('\n')
		if len(line) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return done(true)
			}
			return hs, fmt.Errorf("scan header: %w", err)
		}
		switch {
		case isBlankLine(line):
			return done(true)
		case line[0] == ' ' || line[0] == '\t':
			if !inField && off == 0 {
				// A header cannot start with a continuation line. Left
				// in place it would continue the last field Yubin
				// prepends (a forged Authentication-Results, say), so
				// these lines are always dropped.
				inField, name, start = true, "", 0
				orphan = true
			}
		default:
			finish(off)
			n, ok := fieldName(line)
			inField, name, start, junk = true, n, off, !ok
		}
		if collect && inField {
			cur = append(cur, line...)
		}
		off += int64(len(line))
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			if collect && inField && off < limit {
				cur = append(cur, line...)
			}
			off += int64(len(line))
		}
		if errors.Is(err, io.EOF) {
			return done(off <= limit)
		}
		if err != nil {
			return hs, fmt.Errorf("scan header: %w", err)
		}
	}
}

func isBlankLine(line []byte) bool {
	return len(line) <= 2 && len(bytes.TrimRight(line, "\r\n")) == 0
}

// fieldName returns the name of the header field that line starts, if it is
// one: printable ASCII up to a colon (trailing blanks before the colon, seen
// in the wild and accepted by many readers, are tolerated: "From :" is a
// From field).
func fieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return "", false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(name), true
}

// parseFields parses the fields scanHeader collected into the header the
// filters see: every field of the header, in order, whatever lines that
// are not fields stood between them.
func parseFields(fields []byte) textproto.Header {
	// Every collected line is a field or a continuation line, which
	// ReadHeader accepts: there is no error to handle.
	h, _ := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(fields), strings.NewReader("\r\n"))))
	return h
}

// foldWidth is the line length formatField folds at when it can (RFC 5322
// §2.1.1 recommends 78; 998 is the hard limit).
const foldWidth = 78

// formatField formats one header field for prepending to a message. The
// filter chain hands over values unfolded; formatField folds them again at
// white space so that lines stay within foldWidth where the words allow.
// Line breaks and control characters in the value become white space, so
// that a value can never start a new field. It reports false for a name
// that is not a valid field name.
func formatField(name, value string) (string, bool) {
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return "", false
		}
	}
	value = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, value)
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	col := len(name) + 1
	first := true
	for _, w := range strings.Fields(value) {
		if !first && col+1+len(w) > foldWidth {
			b.WriteString("\r\n\t")
			col = 1
		} else {
			b.WriteString(" ")
			col++
		}
		b.WriteString(w)
		col += len(w)
		first = false
	}
	b.WriteString("\r\n")
	return b.String(), true
}

// traceInfo is what the Received field records about one transaction.
type traceInfo struct {
	helo     string
	remote   netip.Addr
	hostname string
	tls      *tls.ConnectionState // nil without TLS
	auth     bool
	utf8     bool
	id       string
	rcpt     string // the single recipient, or "" when there are several
	date     time.Time
}

// protocol is the "with" keyword of RFC 5321 §4.4, as registered by RFC 3848
// and RFC 6531: ESMTP, ESMTPS, ESMTPA, ESMTPSA and their UTF8SMTP forms.
func (t *traceInfo) protocol() string {
	p := "ESMTP"
	if t.utf8 {
		p = "UTF8SMTP"
	}
	if t.tls != nil {
		p += "S"
	}
	if t.auth {
		p += "A"
	}
	return p
}

// received formats the Received field (RFC 5321 §4.4) that Yubin puts on
// top of every message it accepts. Yubin does no reverse DNS lookup, so the
// "from" clause carries the HELO name and the address literal only.
func (t *traceInfo) received() string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(cleanHELO(t.helo))
	b.WriteString(" (")
	b.WriteString(addressLiteral(t.remote))
	b.WriteString(")\r\n\tby ")
	b.WriteString(t.hostname)
	b.WriteString(" (Yubin) with ")
	b.WriteString(t.protocol())
	if t.tls != nil {
		fmt.Fprintf(&b, "\r\n\t(version=%s cipher=%s)", strings.ReplaceAll(tls.VersionName(t.tls.Version), " ", ""), tls.CipherSuiteName(t.tls.CipherSuite))
	}
	b.WriteString("\r\n\tid ")
	b.WriteString(t.id)
	if t.rcpt != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(t.rcpt)
		b.WriteString(">")
	}
	b.WriteString("; ")
	b.WriteString(t.date.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// addressLiteral formats an IP address as an RFC 5321 address literal.
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Unmap().Is4():
		return "[" + ip.Unmap().String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// cleanHELO makes the client's HELO argument safe to put in a header: at
// most 255 characters, anything outside the characters of domain names and
// address literals replaced by '?'.
func cleanHELO(helo string) string {
	if helo == "" {
		return "unknown"
	}
	if len(helo) > 255 {
		helo = helo[:255]
	}
	b := []byte(helo)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.:[]_", c) >= 0:
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

// replyText makes text usable as the text of an SMTP reply line: printable
// ASCII only, one line, at most 400 characters.
func replyText(text, fallback string) string {
	text = strings.TrimSpace(text)
	if text == "" {
		return fallback
	}
	b := []byte(text)
	for i, c := range b {
		if c < 32 || c > 126 {
			b[i] = ' '
		}
	}
	if len(b) > 400 {
		b = b[:400]
	}
	return string(b)
}

// newQueueID returns a fresh, random queue id: 16 characters of base32
// (80 bits), unique enough to find one message in the logs.
func newQueueID() string {
	return rand.Text()[:16]
}
