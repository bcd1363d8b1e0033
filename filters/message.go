package filters

import (
	"bufio"
	"io"
	"net/netip"

	"github.com/emersion/go-message/textproto"
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
}

// NewMessage returns the Message for the raw message of size bytes in raw
// (e.g. a *bytes.Reader or a spool *os.File), with its header parsed. A
// malformed header is parsed as far as possible; reading is left to the
// filters, which see any I/O error through Open.
func NewMessage(conn ConnInfo, env Envelope, raw io.ReaderAt, size int64) *Message {
	open := func() io.Reader { return io.NewSectionReader(raw, 0, size) }
	br := bufio.NewReader(io.LimitReader(open(), maxHeaderBytes))
	// On error ReadHeader returns the fields read so far, which is what
	// filters should see of a broken message.
	header, _ := textproto.ReadHeader(br)
	return &Message{
		Conn:     conn,
		Envelope: env,
		Header:   header,
		Size:     size,
		Open:     open,
	}
}
