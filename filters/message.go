package filters

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"

	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// maxHeaderBytes bounds how much of a message NewMessage parses as header.
const maxHeaderBytes = 256 << 10

// ConnInfo describes the SMTP session a message arrived on.
type ConnInfo struct {
	// RemoteAddr is the address and port of the client.
	RemoteAddr netip.AddrPort
	// HELO is the name the client gave in HELO or EHLO.
	HELO string
	// TLS reports whether the session is encrypted.
	TLS bool
	// AuthUser is the authenticated user, or "" if the client did not
	// authenticate.
	AuthUser string
	// Hostname is our own host name, as announced in the greeting.
	Hostname string
}

// Envelope is the SMTP envelope of a message.
type Envelope struct {
	// MailFrom is the reverse path, "" for the null sender.
	MailFrom string
	// Recipients are the accepted forward paths.
	Recipients []string
}

// Message is what filters see of a message: the parsed header and a way to
// read the whole raw message again. Filters must not modify it; they express
// changes through their Verdict.
type Message struct {
	Conn     ConnInfo
	Envelope Envelope
	// Header is parsed from the raw message. It may be partial for broken
	// mail.
	Header textproto.Header
	// Size is the size of the raw message in bytes.
	Size int64
	// Open returns a fresh reader over the whole raw message (header and
	// body) from the start, each call. It must be safe to call
	// concurrently: a filter that outlives its timeout may still be
	// reading while the next one starts.
	Open func() io.Reader
	// Policy is what the recipients' domains ask of the filters; the zero
	// Policy keeps the server's settings.
	Policy Policy
	// Users are the local users the message is for, when the MTA knows
	// them (e.g. for the spam classifier trained by each user).
	Users []LocalUser

	// Prior is, for a stage of a Chain, the evidence of the stages that
	// ran before it (e.g. rspamd's score, for the spam filter). Unlike
	// header fields, it cannot come from the message.
	Prior []Evidence

	// original is the header as parsed from the raw message, when Header
	// also has fields that earlier stages of a chain added; see
	// OriginalHeader.
	original *textproto.Header
}

// OriginalHeader returns the header as parsed from the raw message: Header
// without the fields earlier stages of the chain added (such as
// Authentication-Results for the spam filter). Filters that read the raw
// message again can compare its header with this one.
func (m *Message) OriginalHeader() textproto.Header {
	if m.original != nil {
		return *m.original
	}
	return m.Header
}

// LocalUser is a local user a message is for.
type LocalUser struct {
	// ID is the user's account ID.
	ID int64
	// Address is the user's own (canonical) address.
	Address string
}

// Policy adjusts the filters for one message, after the settings of its
// recipients' domains (see StrictestPolicy). The zero Policy changes
// nothing.
type Policy struct {
	// JunkScore and RejectScore, when not nil, are spam thresholds set by
	// the recipients' domains: the lowest among them.
	JunkScore, RejectScore *float64
	// ServerJunkScore and ServerRejectScore report that some recipient's
	// domain has no threshold of its own, so the server's applies to it
	// too: the lower of it and JunkScore (RejectScore) is used.
	ServerJunkScore, ServerRejectScore bool
	// SkipSpam and SkipVirus skip the spam filter and the virus scanner:
	// every recipient's domain turned it off.
	SkipSpam, SkipVirus bool
	// NoDMARCEnforce records DMARC results without acting on p=reject and
	// p=quarantine: every recipient's domain turned enforcement off.
	NoDMARCEnforce bool
}

// DomainPolicy is the filter settings of one recipient domain; nil fields
// mean the server's setting.
type DomainPolicy struct {
	JunkScore, RejectScore              *float64
	SpamFilter, VirusScan, DMARCEnforce *bool
}

// StrictestPolicy returns the Policy of a message to recipients in the
// given domains (each once): the lowest spam thresholds among them (with
// the server's for domains without one), a filter skipped only if every
// domain turns it off, and DMARC enforced if any domain enforces it. No
// domains give the zero Policy.
func StrictestPolicy(domains ...DomainPolicy) Policy {
	if len(domains) == 0 {
		return Policy{}
	}
	p := Policy{SkipSpam: true, SkipVirus: true, NoDMARCEnforce: true}
	lowest := func(cur **float64, server *bool, v *float64) {
		switch {
		case v == nil || !(*v > 0):
			*server = true
		case *cur == nil || *v < **cur:
			x := *v
			*cur = &x
		}
	}
	off := func(b *bool) bool { return b != nil && !*b }
	for _, d := range domains {
		lowest(&p.JunkScore, &p.ServerJunkScore, d.JunkScore)
		lowest(&p.RejectScore, &p.ServerRejectScore, d.RejectScore)
		p.SkipSpam = p.SkipSpam && off(d.SpamFilter)
		p.SkipVirus = p.SkipVirus && off(d.VirusScan)
		p.NoDMARCEnforce = p.NoDMARCEnforce && off(d.DMARCEnforce)
	}
	return p
}

// Threshold returns the threshold to use given the domains' (set, nil if
// none), whether the server's applies too (server), and the server's own
// (def, 0 for none: e.g. never reject).
func Threshold(set *float64, server bool, def float64) float64 {
	if set == nil || !(*set > 0) {
		return def
	}
	if server && def > 0 && def < *set {
		return def
	}
	return *set
}

// ReadHeader reads the header of the raw message in r, at most limit bytes
// of it, as core/mimeparse reads it (the parser the MTA, the filters and
// the IMAP server share: up to the empty line, lines that are no field
// skipped), and returns its fields and the length of the header block,
// its empty line included.
func ReadHeader(r io.Reader, limit int) (textproto.Header, int, error) {
	block, _, err := mimeparse.ReadHeaderBlock(r, limit)
	return HeaderOf(block), len(block), err
}

// HeaderOf returns the fields of a header block as core/mimeparse reads
// them, as the textproto.Header filters see.
func HeaderOf(block []byte) textproto.Header {
	h := mimeparse.ParseHeader(block)
	var fields bytes.Buffer
	for i := range h.Len() {
		f := h.RawField(i)
		fields.Write(f)
		if f[len(f)-1] != '\n' {
			fields.WriteString("\r\n")
		}
	}
	fields.WriteString("\r\n")
	// Every line is a field (its name printable ASCII, as go-message
	// wants) or a continuation line: ReadHeader cannot fail.
	th, _ := textproto.ReadHeader(bufio.NewReader(&fields))
	return th
}

// NewMessage returns the Message for the raw message of size bytes in raw
// (e.g. a *bytes.Reader or a spool *os.File), with its header parsed. A
// malformed header is parsed as far as possible; reading is left to the
// filters, which see any I/O error through Open.
func NewMessage(conn ConnInfo, env Envelope, raw io.ReaderAt, size int64) *Message {
	open := func() io.Reader { return io.NewSectionReader(raw, 0, size) }
	// A read error leaves the fields read so far, which is what filters
	// should see of a broken message.
	header, _, _ := ReadHeader(open(), maxHeaderBytes)
	return &Message{
		Conn:     conn,
		Envelope: env,
		Header:   header,
		Size:     size,
		Open:     open,
	}
}
