package imapmsg

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// Envelope returns the message's ENVELOPE (RFC 9051 §7.5.2). Subject and
// display names are the raw header text (encoded words are left for the
// client to decode; go-imap encodes any non-ASCII text), addresses are
// parsed leniently, and Sender and Reply-To default to From.
func (m *Message) Envelope() *imap.Envelope {
	return envelopeOf(m.root.Header())
}

// envelopeOf builds an envelope from a header block.
func envelopeOf(h *mimeparse.Header) *imap.Envelope {
	env := &imap.Envelope{
		Subject: envText(h.Get("Subject")),
		From:    addressField(h, "From"),
		Sender:  addressField(h, "Sender"),
		ReplyTo: addressField(h, "Reply-To"),
		To:      addressField(h, "To"),
		Cc:      addressField(h, "Cc"),
		Bcc:     addressField(h, "Bcc"),
	}
	if t, ok := parseDate(h.Get("Date")); ok {
		env.Date = t
	}
	if env.Sender == nil {
		env.Sender = env.From
	}
	if env.ReplyTo == nil {
		env.ReplyTo = env.From
	}
	env.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		env.MessageID = ids[0]
	}
	return env
}

// addressField parses the first field with the given name as an address
// list of go-imap addresses, which cannot carry a source route.
func addressField(h *mimeparse.Header, name string) []imap.Address {
	list := addressList(h, name)
	if list == nil {
		return nil
	}
	out := make([]imap.Address, len(list))
	for i, a := range list {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// addressList parses the first field with the given name as an address
// list; nil when the field is absent or empty.
func addressList(h *mimeparse.Header, name string) []Address {
	v := h.Get(name)
	if v == "" {
		return nil
	}
	return parseAddressList(v)
}

// msgIDs extracts message identifiers (without angle brackets) from a
// Message-ID, In-Reply-To or References value. A value without brackets that
// looks like a single identifier is accepted as is.
func msgIDs(v string) []string {
	v = cleanText(v)
	ids := bracketedIDs(v)
	if len(ids) == 0 {
		id := strings.Trim(strings.TrimSpace(stripComments(v)), "<>")
		if id != "" && !strings.ContainsAny(id, " \t<>") {
			ids = append(ids, id)
		}
	}
	return ids
}
