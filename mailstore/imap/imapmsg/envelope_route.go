package imapmsg

import "github.com/yubinmail/yubin/core/mimeparse"

// Envelope is a message's ENVELOPE structure as RFC 3501 §7.4.2 and
// RFC 9051 §7.5.2 define it, including the source route (addr-adl) that
// go-imap's imap.Envelope cannot carry. Strings are "" for NIL. Date,
// Subject, InReplyTo and MessageID are the header values as written
// (unfolded, control characters replaced by spaces; text with 8-bit
// characters decoded to UTF-8 as for Address). Sender and ReplyTo default
// to From, as the RFCs require.
type Envelope struct {
	Date      string
	Subject   string
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo string
	MessageID string
}

// EnvelopeStructure returns the message's ENVELOPE with source routes
// (RFC 3501 §7.4.2, RFC 9051 §7.5.2). Write it with AppendIMAP.
func (m *Message) EnvelopeStructure() *Envelope {
	return envelopeStructureOf(m.root.Header())
}

// EnvelopeOf returns the ENVELOPE of a message given as raw bytes, which
// may be the whole message or only its header block (see ReadHeader).
func EnvelopeOf(raw []byte) *Envelope {
	h := mimeparse.ParseHeader(raw)
	return envelopeStructureOf(&h)
}

// envelopeStructureOf builds an Envelope from a header block.
func envelopeStructureOf(h *mimeparse.Header) *Envelope {
	env := &Envelope{
		Date:      envText(h.Get("Date")),
		Subject:   envText(h.Get("Subject")),
		From:      addressList(h, "From"),
		Sender:    addressList(h, "Sender"),
		ReplyTo:   addressList(h, "Reply-To"),
		To:        addressList(h, "To"),
		Cc:        addressList(h, "Cc"),
		Bcc:       addressList(h, "Bcc"),
		InReplyTo: envText(h.Get("In-Reply-To")),
		MessageID: envText(h.Get("Message-Id")),
	}
	if env.Sender == nil {
		env.Sender = env.From
	}
	if env.ReplyTo == nil {
		env.ReplyTo = env.From
	}
	return env
}

// AppendIMAP appends the envelope in its wire form, "(" env-date SP
// env-subject SP env-from ... env-message-id ")", to dst (RFC 9051 §9).
// nstring appends one non-empty string as an IMAP string (quoted or
// literal, that is the engine's choice); text is set for the subject and
// display names, the only fields a server without UTF8=ACCEPT may RFC 2047
// encode when they hold 8-bit text. Mailboxes and hosts with 8-bit text
// (RFC 6532) must go out as they are. AppendIMAP writes NIL for empty
// strings and lists.
func (e *Envelope) AppendIMAP(dst []byte, nstring func(dst []byte, s string, text bool) []byte) []byte {
	str := func(dst []byte, s string, text bool) []byte {
		if s == "" {
			return append(dst, "NIL"...)
		}
		return nstring(dst, s, text)
	}
	dst = append(dst, '(')
	dst = str(dst, e.Date, false)
	dst = append(dst, ' ')
	dst = str(dst, e.Subject, true)
	for _, list := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		dst = append(dst, ' ')
		dst = appendAddressList(dst, list, str)
	}
	dst = append(dst, ' ')
	dst = str(dst, e.InReplyTo, false)
	dst = append(dst, ' ')
	dst = str(dst, e.MessageID, false)
	return append(dst, ')')
}

// appendAddressList appends "(" 1*address ")" or NIL for an empty list.
func appendAddressList(dst []byte, list []Address, str func([]byte, string, bool) []byte) []byte {
	if len(list) == 0 {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for _, a := range list {
		dst = append(dst, '(')
		dst = str(dst, a.Name, true)
		dst = append(dst, ' ')
		dst = str(dst, a.Route, false)
		dst = append(dst, ' ')
		dst = str(dst, a.Mailbox, false)
		dst = append(dst, ' ')
		dst = str(dst, a.Host, false)
		dst = append(dst, ')')
	}
	return append(dst, ')')
}
