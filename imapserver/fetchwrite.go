package imapserver

import (
	"mime"
	"sort"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// envelopeDate is the RFC 5322 date layout of a message/rfc822 part's
// ENVELOPE (go-imap's body structure holds its date parsed).
const envelopeDate = "Mon, 02 Jan 2006 15:04:05 -0700"

// header writes a header-derived string (subject, display name): encoded
// words (RFC 2047) for non-ASCII text unless the client takes UTF-8.
func (w *writer) header(s string) *writer {
	if s == "" {
		return w.s("NIL")
	}
	if !w.utf8Quoted {
		s = mime.QEncoding.Encode("utf-8", s)
	}
	return w.str(s)
}

// envelope writes an ENVELOPE (RFC 9051 §7.5.2): the header strings as
// the message has them, addresses with their source route (addr-adl).
func (w *writer) envelope(e *imapmsg.Envelope) *writer {
	if e == nil {
		e = &imapmsg.Envelope{}
	}
	w.c('(').nstr(e.Date).sp().header(e.Subject)
	for _, l := range [][]imapmsg.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.sp().addresses(l)
	}
	return w.sp().nstr(e.InReplyTo).sp().nstr(e.MessageID).c(')')
}

// addresses writes an address list or NIL.
func (w *writer) addresses(l []imapmsg.Address) *writer {
	if len(l) == 0 {
		return w.s("NIL")
	}
	w.c('(')
	for _, a := range l {
		w.c('(').header(a.Name).sp().nstr(a.Route).sp().nstr(a.Mailbox).sp().nstr(a.Host).c(')')
	}
	return w.c(')')
}

// envelopeOfPart converts the ENVELOPE of a message/rfc822 part, which
// go-imap's body structure carries, for envelope: no source routes there.
func envelopeOfPart(e *imap.Envelope) *imapmsg.Envelope {
	if e == nil {
		return nil
	}
	out := &imapmsg.Envelope{Subject: e.Subject}
	if !e.Date.IsZero() {
		out.Date = e.Date.Format(envelopeDate)
	}
	addrs := func(l []imap.Address) []imapmsg.Address {
		var out []imapmsg.Address
		for _, a := range l {
			out = append(out, imapmsg.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host})
		}
		return out
	}
	out.From, out.Sender, out.ReplyTo = addrs(e.From), addrs(e.Sender), addrs(e.ReplyTo)
	out.To, out.Cc, out.Bcc = addrs(e.To), addrs(e.Cc), addrs(e.Bcc)
	if len(out.Sender) == 0 {
		out.Sender = out.From
	}
	if len(out.ReplyTo) == 0 {
		out.ReplyTo = out.From
	}
	if len(e.InReplyTo) > 0 {
		out.InReplyTo = "<" + strings.Join(e.InReplyTo, "> <") + ">"
	}
	if e.MessageID != "" {
		out.MessageID = "<" + e.MessageID + ">"
	}
	return out
}

// bodyStructure writes BODY (ext false) or BODYSTRUCTURE (ext true).
func (w *writer) bodyStructure(bs imap.BodyStructure, ext bool) *writer {
	w.c('(')
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		w.str(bs.Type).sp().str(bs.Subtype).sp().params(bs.Params).sp().nstr(bs.ID).sp().nstr(bs.Description).sp()
		enc := strings.ToLower(bs.Encoding)
		if enc == "" {
			enc = "7bit"
		}
		w.str(enc).sp().n(bs.Size)
		if m := bs.MessageRFC822; m != nil {
			w.sp().envelope(envelopeOfPart(m.Envelope)).sp().bodyStructure(m.BodyStructure, ext).sp().n64(m.NumLines)
		} else if t := bs.Text; t != nil {
			w.sp().n64(t.NumLines)
		}
		if ext {
			e := bs.Extended
			if e == nil {
				e = &imap.BodyStructureSinglePartExt{}
			}
			w.s(" NIL ").disposition(e.Disposition).sp().languages(e.Language).sp().nstr(e.Location)
		}
	case *imap.BodyStructureMultiPart:
		for _, child := range bs.Children {
			w.bodyStructure(child, ext)
		}
		w.sp().str(bs.Subtype)
		if ext {
			e := bs.Extended
			if e == nil {
				e = &imap.BodyStructureMultiPartExt{}
			}
			w.sp().params(e.Params).sp().disposition(e.Disposition).sp().languages(e.Language).sp().nstr(e.Location)
		}
	}
	return w.c(')')
}

// params writes body-fld-param: attribute/value pairs sorted, or NIL.
func (w *writer) params(p map[string]string) *writer {
	if len(p) == 0 {
		return w.s("NIL")
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.c('(')
	for i, k := range keys {
		if i > 0 {
			w.sp()
		}
		w.str(k).sp().str(p[k])
	}
	return w.c(')')
}

func (w *writer) disposition(d *imap.BodyStructureDisposition) *writer {
	if d == nil {
		return w.s("NIL")
	}
	return w.c('(').str(d.Value).sp().params(d.Params).c(')')
}

func (w *writer) languages(l []string) *writer {
	if len(l) == 0 {
		return w.s("NIL")
	}
	w.c('(')
	for i, s := range l {
		if i > 0 {
			w.sp()
		}
		w.str(s)
	}
	return w.c(')')
}

// partString formats a part path: "1.2.3".
func partString(part []int) string {
	var b []byte
	for i, n := range part {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// sectionName is the response name of a BODY[section] item: without
// PEEK, with the origin of a partial (RFC 9051 §7.5.2).
func sectionName(s *imap.FetchItemBodySection) string {
	var b strings.Builder
	b.WriteString("BODY[")
	b.WriteString(partString(s.Part))
	spec := ""
	switch s.Specifier {
	case imap.PartSpecifierHeader:
		spec = "HEADER"
		if len(s.HeaderFields) > 0 {
			spec = "HEADER.FIELDS"
		} else if len(s.HeaderFieldsNot) > 0 {
			spec = "HEADER.FIELDS.NOT"
		}
	case imap.PartSpecifierText:
		spec = "TEXT"
	case imap.PartSpecifierMIME:
		spec = "MIME"
	}
	if spec != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(spec)
	}
	fields := s.HeaderFields
	if len(fields) == 0 {
		fields = s.HeaderFieldsNot
	}
	if len(fields) > 0 {
		b.WriteString(" (")
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteField(f))
		}
		b.WriteByte(')')
	}
	b.WriteByte(']')
	if s.Partial != nil {
		b.WriteString("<" + strconv.FormatInt(s.Partial.Offset, 10) + ">")
	}
	return b.String()
}

// quoteField writes a header field name as an atom or quoted string.
func quoteField(f string) string {
	for i := 0; i < len(f); i++ {
		if !isAtomChar(f[i]) {
			return strconv.Quote(f)
		}
	}
	return f
}
