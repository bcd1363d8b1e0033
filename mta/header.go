package mta

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/filters"
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

// scanHeader reads the header of the message in r (at most limit bytes of
// it) and parses it with core/mimeparse, the parser the filters and the
// IMAP server read messages with, so that the MTA checks and removes
// exactly the fields they see: the header runs to the first empty line (or
// the end of the message), and a line in it that is neither a field nor a
// continuation is kept and skipped with its continuation lines, not taken
// as the end of the header, since the programs that read the mail later
// may well skip it too and show the fields that follow it. It counts
// Received fields and records the byte ranges (with their continuation
// lines and line ends) of the fields for which remove reports true, and of
// continuation lines at the very start, which belong to no field. A header
// longer than limit bytes, or with more fields than mimeparse indexes, is
// not complete (hs.complete false). remove gets the field name as written
// (callers compare case-insensitively); it may be nil. With collect,
// hs.fields gets the fields for parseFields.
func scanHeader(r io.Reader, limit int64, remove func(name string) bool, collect bool) (headerScan, error) {
	var hs headerScan
	block, complete, err := mimeparse.ReadHeaderBlock(r, int(limit))
	if err != nil {
		return hs, fmt.Errorf("scan header: %w", err)
	}
	h := mimeparse.ParseHeader(block)
	hs.end = int64(len(block) - len(emptyLineAtEnd(block)))
	hs.complete = complete && h.Complete()
	hs.malformed = h.Junk()
	if bytes.HasPrefix(block, []byte("From ")) {
		if firstFieldStart(&h) != 0 {
			hs.malformed++ // an mbox From line, which mimeparse skips
		}
	}
	dropSpan := func(start, end int64) {
		if k := len(hs.drop) - 1; k >= 0 && hs.drop[k].off+hs.drop[k].n == start {
			hs.drop[k].n += end - start
			return
		}
		hs.drop = append(hs.drop, span{start, end - start})
	}
	// A header cannot start with a continuation line. Left in place it
	// would continue the last field Yubin prepends (a forged
	// Authentication-Results, say), so these lines are always dropped.
	if n := leadingContinuation(block); n > 0 {
		dropSpan(0, int64(n))
	}
	for i := range h.Len() {
		name := string(h.Name(i))
		if strings.EqualFold(name, "Received") {
			hs.received++
		}
		start, end := h.FieldSpan(i)
		if remove != nil && remove(name) {
			dropSpan(int64(start), int64(end))
		}
		if collect {
			f := block[start:end]
			hs.fields = append(hs.fields, f...)
			if f[len(f)-1] != '\n' {
				hs.fields = append(hs.fields, '\r', '\n')
			}
		}
	}
	return hs, nil
}

// emptyLineAtEnd returns the empty line that ends a header block, if any.
func emptyLineAtEnd(block []byte) []byte {
	switch {
	case string(block) == "\n", bytes.HasSuffix(block, []byte("\n\n")):
		return block[len(block)-1:]
	case string(block) == "\r\n", bytes.HasSuffix(block, []byte("\n\r\n")):
		return block[len(block)-2:]
	}
	return nil
}

// firstFieldStart returns where the first field of h starts, -1 if it has
// none.
func firstFieldStart(h *mimeparse.Header) int {
	if h.Len() == 0 {
		return -1
	}
	start, _ := h.FieldSpan(0)
	return start
}

// leadingContinuation returns the length of the continuation lines at the
// very start of a header block.
func leadingContinuation(block []byte) int {
	n := 0
	for n < len(block) && (block[n] == ' ' || block[n] == '\t') {
		i := bytes.IndexByte(block[n:], '\n')
		if i < 0 {
			return len(block)
		}
		n += i + 1
	}
	return n
}

// parseFields parses the fields scanHeader collected into the header the
// filters see: every field of the header, in order, whatever lines that
// are not fields stood between them.
func parseFields(fields []byte) textproto.Header {
	return filters.HeaderOf(fields)
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
