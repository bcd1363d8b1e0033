package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/core/mimetext"
	"github.com/yubinmail/yubin/mailstore"
)

// Quarantine visibility: server admins see every held message, domain
// admins those held for a recipient in one of their domains (or for
// themselves), users those held for themselves. The recipients shown are
// narrowed to those the actor may see. Releasing and deleting a message
// changes what every recipient gets, so it needs all of its recipients to
// be in the actor's reach.

// seesRecipient reports whether the actor may see messages held for addr.
func (a Actor) seesRecipient(addr string) bool {
	switch {
	case a.IsAdmin():
		return true
	case a.UserID != 0 && strings.EqualFold(addr, a.Email):
		return true
	case a.Role == RoleDomainAdmin:
		return a.ManagesDomain(domainOf(addr))
	}
	return false
}

// quarantineView is the part of q the actor may see, or nil if none.
// Admins get q itself.
func (a Actor) quarantineView(q *mailstore.QuarantinedMessage) *mailstore.QuarantinedMessage {
	if a.IsAdmin() {
		return q
	}
	var rcpts []string
	for _, r := range q.Recipients {
		if a.seesRecipient(r) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return nil
	}
	v := *q
	v.Recipients = rcpts
	return &v
}

// QuarantineFilter selects held messages.
type QuarantineFilter struct {
	Recipient string // only messages held for this address
	Page
}

// quarantineScanChunk is how many records a filtered listing reads at once.
const quarantineScanChunk = 500

// ListQuarantine lists the held messages the actor may see, the most recent
// first.
func (s *Service) ListQuarantine(ctx context.Context, a Actor, f QuarantineFilter) (*List[mailstore.QuarantinedMessage], error) {
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	rcpt := strings.TrimSpace(f.Recipient)
	if rcpt != "" {
		n, err := core.NormalizeAddress(rcpt)
		if err != nil {
			return nil, core.Invalid("recipient", "not a valid email address")
		}
		rcpt = n
		if !a.seesRecipient(rcpt) {
			return nil, forbidden("the quarantine of " + rcpt)
		}
	}
	switch {
	case a.IsAdmin(), rcpt != "":
	case a.Role == RoleUser:
		if a.UserID == 0 || a.Email == "" {
			return nil, forbidden("the quarantine")
		}
		rcpt = a.Email
	case a.Role == RoleDomainAdmin:
		return s.scanQuarantine(ctx, a, p)
	default:
		return nil, forbidden("the quarantine")
	}
	mf := mailstore.QuarantineFilter{Recipient: rcpt, Limit: p.Limit, Offset: p.Offset}
	items, err := s.store.ListQuarantine(ctx, mf)
	if err != nil {
		return nil, err
	}
	mf.Limit, mf.Offset = 0, 0
	total, err := s.store.CountQuarantine(ctx, mf)
	if err != nil {
		return nil, err
	}
	out := make([]mailstore.QuarantinedMessage, 0, len(items))
	for i := range items {
		if v := a.quarantineView(&items[i]); v != nil {
			out = append(out, *v)
		}
	}
	return &List[mailstore.QuarantinedMessage]{Items: out, Total: total}, nil
}

// scanQuarantine lists the held messages the actor may see by reading the
// whole quarantine, for actors whose reach the store cannot filter on (a
// domain admin's domains). The quarantine is expected to stay small.
func (s *Service) scanQuarantine(ctx context.Context, a Actor, p Page) (*List[mailstore.QuarantinedMessage], error) {
	out := []mailstore.QuarantinedMessage{}
	var total int64
	for offset := 0; ; offset += quarantineScanChunk {
		chunk, err := s.store.ListQuarantine(ctx, mailstore.QuarantineFilter{Limit: quarantineScanChunk, Offset: offset})
		if err != nil {
			return nil, err
		}
		for i := range chunk {
			v := a.quarantineView(&chunk[i])
			if v == nil {
				continue
			}
			if total >= int64(p.Offset) && len(out) < p.Limit {
				out = append(out, *v)
			}
			total++
		}
		if len(chunk) < quarantineScanChunk {
			break
		}
	}
	return &List[mailstore.QuarantinedMessage]{Items: out, Total: total}, nil
}

// getQuarantined returns a held message as the actor may see it; write
// requires all of its recipients to be in the actor's reach.
func (s *Service) getQuarantined(ctx context.Context, a Actor, id int64, write bool) (*mailstore.QuarantinedMessage, error) {
	if !a.IsAdmin() && a.Role != RoleDomainAdmin && a.Role != RoleUser {
		return nil, forbidden("the quarantine")
	}
	q, err := s.store.GetQuarantined(ctx, id)
	if err != nil {
		return nil, err
	}
	v := a.quarantineView(q)
	if v == nil {
		return nil, forbidden(fmt.Sprintf("quarantined message %d", id))
	}
	if write && len(v.Recipients) != len(q.Recipients) {
		return nil, forbidden(fmt.Sprintf("quarantined message %d is also held for recipients outside your reach", id))
	}
	return v, nil
}

// QuarantinedDetail is a held message with a safe look at its content.
type QuarantinedDetail struct {
	mailstore.QuarantinedMessage
	// Headers are the From, To, Subject and Date header fields, decoded
	// ("" when absent).
	Headers QuarantineHeaders
	// Preview is the start of the message's text: its text/plain part, or
	// else its HTML part with every tag removed; at most PreviewBytes.
	Preview string
}

// QuarantineHeaders are the header fields shown for a held message.
type QuarantineHeaders struct {
	From, To, Subject, Date string
}

// PreviewBytes bounds QuarantinedDetail.Preview.
const PreviewBytes = 4096

// Limits of reading a held message for its preview.
const (
	previewReadBytes = 8 << 20 // of the message
	previewHTMLBytes = 256 << 10
	previewMaxParts  = 100
	previewMaxDepth  = 8
)

// GetQuarantined returns a held message with its headers and a preview.
func (s *Service) GetQuarantined(ctx context.Context, a Actor, id int64) (*QuarantinedDetail, error) {
	q, err := s.getQuarantined(ctx, a, id, false)
	if err != nil {
		return nil, err
	}
	body, err := s.store.OpenQuarantined(ctx, id)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	d := &QuarantinedDetail{QuarantinedMessage: *q}
	d.Headers, d.Preview = previewMessage(body)
	return d, nil
}

// QuarantineReleaser delivers a released message as a delivery would
// have: through its recipients' Sieve scripts (mta.Server does).
type QuarantineReleaser interface {
	ReleaseQuarantined(ctx context.Context, id int64) error
}

// WithReleaser makes ReleaseQuarantined deliver through r and returns s.
// Call it before s is used.
func (s *Service) WithReleaser(r QuarantineReleaser) *Service {
	s.releaser = r
	return s
}

// ReleaseQuarantined delivers a held message to its recipients: where
// their Sieve scripts put it (WithReleaser), or else to their INBOX.
func (s *Service) ReleaseQuarantined(ctx context.Context, a Actor, id int64) error {
	if _, err := s.getQuarantined(ctx, a, id, true); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	if s.releaser != nil {
		return s.releaser.ReleaseQuarantined(ctx, id)
	}
	return s.store.ReleaseQuarantined(ctx, id)
}

// DeleteQuarantined removes a held message.
func (s *Service) DeleteQuarantined(ctx context.Context, a Actor, id int64) error {
	if _, err := s.getQuarantined(ctx, a, id, true); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteQuarantined(ctx, id)
}

// previewMessage reads the headers and the text preview of a raw message,
// with core/mimeparse (the parser the filters and the IMAP server use). It
// never fails: what cannot be read is left out.
func previewMessage(r io.Reader) (QuarantineHeaders, string) {
	var hs QuarantineHeaders
	raw, err := io.ReadAll(io.LimitReader(r, previewReadBytes))
	if err != nil && len(raw) == 0 {
		return hs, ""
	}
	m := mimeparse.Parse(raw)
	h := m.Root().Header()
	for _, f := range []struct {
		name string
		dst  *string
	}{{"From", &hs.From}, {"To", &hs.To}, {"Subject", &hs.Subject}, {"Date", &hs.Date}} {
		*f.dst = cleanText(mimetext.DecodeHeader(h.Get(f.name)), 1000)
	}
	var pv previewer
	pv.walk(m.Root(), 0)
	switch {
	case pv.plain != nil:
		return hs, cleanPreview(string(pv.plain))
	case pv.html != nil:
		return hs, cleanPreview(mimetext.HTMLToText(bytes.NewReader(pv.html), mimetext.HTMLOptions{}))
	}
	return hs, ""
}

// previewer finds the first text/plain and text/html parts of a message.
type previewer struct {
	plain, html []byte
	parts       int
}

func (pv *previewer) walk(p *mimeparse.Part, depth int) {
	pv.parts++
	if pv.plain != nil || pv.parts > previewMaxParts {
		return
	}
	if p.IsMultipart() {
		if depth >= previewMaxDepth {
			return
		}
		for _, c := range p.Children() {
			if pv.plain != nil {
				return
			}
			pv.walk(c, depth+1)
		}
		return
	}
	if d, _ := p.Disposition(); d == "attachment" {
		return
	}
	switch p.MediaType() {
	case "text/plain":
		pv.plain = partText(p, 2*PreviewBytes) // a little more, for invalid bytes dropped later
	case "text/html":
		if pv.html == nil {
			pv.html = partText(p, previewHTMLBytes)
		}
	}
}

// partText returns up to limit bytes of a text part's content, transfer
// encoding undone and converted to UTF-8 from its charset.
func partText(p *mimeparse.Part, limit int) []byte {
	data, _ := p.Decoded()
	if cs := p.Params()["charset"]; cs != "" {
		data = []byte(mimetext.DecodeBytes(cs, data))
	}
	if len(data) > limit {
		data = data[:limit]
	}
	if data == nil {
		data = []byte{}
	}
	return data
}

// cleanPreview makes text valid UTF-8 without control characters but
// newlines and tabs, folds runs of blank lines and spaces, and cuts it to
// PreviewBytes.
func cleanPreview(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	newlines, space := 0, false
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			newlines++
			space = false
			continue
		case r == '\t' || r == ' ' || r == '\u00a0' || unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || r == '\u200b' || r == '\ufeff':
			continue
		}
		if newlines > 0 && b.Len() > 0 {
			b.WriteString(strings.Repeat("\n", min(newlines, 2)))
		} else if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		newlines, space = 0, false
		b.WriteRune(r)
		if b.Len() >= PreviewBytes {
			break
		}
	}
	return truncateUTF8(b.String(), PreviewBytes)
}

// cleanText makes a header value valid UTF-8 on one line, cut to n bytes.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncateUTF8(strings.Join(strings.Fields(s), " "), n)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
