package sieve

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core/mimetext"
)

// vacation runs the vacation action (RFC 5230): it decides whether to
// reply and builds the reply.
func (r *run) vacation(c *node) error {
	reason, err := r.str(c.args[0].strs[0])
	if err != nil {
		return err
	}
	strTag := func(name string) (string, error) {
		a, ok := c.tags[name]
		if !ok {
			return "", nil
		}
		return r.str(a.strs[0])
	}
	subject, err := strTag("subject")
	if err != nil {
		return err
	}
	from, err := strTag("from")
	if err != nil {
		return err
	}
	handle, err := strTag("handle")
	if err != nil {
		return err
	}
	var extra []string
	if a, ok := c.tags["addresses"]; ok {
		if extra, err = r.strs(a.strs); err != nil {
			return err
		}
	}
	days := r.opts.DefaultVacationDays
	if days <= 0 {
		days = 7
	}
	if a, ok := c.tags["days"]; ok {
		days = int(a.num)
	}
	minDays := r.opts.MinVacationDays
	if minDays <= 0 {
		minDays = 1
	}
	days = max(days, minDays)
	if handle == "" {
		// RFC 5230 section 4.2: without :handle, the reply's arguments
		// identify the vacation.
		sum := sha256.Sum256([]byte(subject + "\x00" + from + "\x00" + fmt.Sprint(c.has("mime")) + "\x00" + reason))
		handle = hex.EncodeToString(sum[:12])
	}

	sender, own, why := r.vacationSender(extra)
	if why != "" {
		r.notes = append(r.notes, "vacation: no reply: "+why)
		return nil
	}
	period := time.Duration(days) * 24 * time.Hour
	seen, err := r.env.VacationSeen(r.ctx, handle, sender, period)
	if err != nil {
		r.notes = append(r.notes, "vacation: no reply: cannot check earlier replies: "+err.Error())
		return nil
	}
	if seen {
		r.notes = append(r.notes, fmt.Sprintf("vacation: no reply: %s was answered less than %d days ago", sender, days))
		return nil
	}
	if from != "" {
		a, err := mail.ParseAddress(from)
		switch {
		case err != nil:
			r.notes = append(r.notes, fmt.Sprintf("vacation: :from %q is not an address; using the recipient", from))
			from = ""
		case !r.isOwnAddress(a.Address, nil):
			// A reply may not claim to come from someone else: that
			// would let a script send mail in another's name.
			r.notes = append(r.notes, fmt.Sprintf("vacation: :from %q is not one of the user's addresses; using the recipient", a.Address))
			from = ""
		default:
			from = a.String()
		}
	}
	if from == "" {
		// RFC 5230 section 4.3: by default the reply comes from the
		// user's address the message was sent to; an address named only
		// by :addresses is not the user's to send from.
		from = own
		if !r.isOwnAddress(own, nil) {
			from = strings.Trim(r.msg.EnvelopeTo, "<>")
			if len(r.opts.UserAddresses) > 0 {
				from = r.opts.UserAddresses[0]
			}
		}
	}
	if subject == "" {
		orig := ""
		if v := r.hdr.values("Subject"); len(v) > 0 {
			orig = mimetext.DecodeHeader(v[0])
		}
		subject = "Auto: " + orig
		if strings.TrimSpace(orig) == "" {
			subject = "Auto: (no subject)"
		}
	}
	msg, err := r.buildVacationReply(from, sender, subject, reason, c.has("mime"))
	if err != nil {
		return err
	}
	return r.addAction(Action{Kind: ActionVacation, Vacation: &VacationReply{
		To: sender, Handle: handle, Period: period, From: from, Subject: subject, Message: msg,
	}})
}

// vacationSender returns the address to reply to and the user's address
// the message was sent to, or why no reply may be sent (RFC 5230 sections
// 4.5 and 4.6, RFC 3834 section 2).
func (r *run) vacationSender(extra []string) (sender, own, why string) {
	if r.msg.Junk {
		return "", "", "the message is junk"
	}
	sender = strings.ToLower(strings.Trim(strings.TrimSpace(r.msg.EnvelopeFrom), "<>"))
	if sender == "" {
		return "", "", "the envelope sender is empty"
	}
	local := sender
	if at := strings.LastIndexByte(sender, '@'); at >= 0 {
		local = sender[:at]
	}
	switch {
	case local == "mailer-daemon" || local == "postmaster" || local == "listserv" || local == "majordomo":
		return "", "", "the sender " + sender + " is a system address"
	case strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") ||
		strings.HasSuffix(local, "-owner") || strings.HasPrefix(local, "bounce"):
		return "", "", "the sender " + sender + " is a list or bounce address"
	}
	for _, v := range r.hdr.values("Auto-Submitted") {
		kw, _, _ := strings.Cut(strings.TrimSpace(v), ";")
		if !strings.EqualFold(strings.TrimSpace(kw), "no") {
			return "", "", "the message is auto-submitted (" + v + ")"
		}
	}
	// Mail from a mailing list (RFC 2369, RFC 2919) gets no reply.
	for _, n := range []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe",
		"List-Post", "List-Owner", "List-Archive"} {
		if len(r.hdr.values(n)) > 0 {
			return "", "", "the message comes from a mailing list (" + n + ")"
		}
	}
	for _, v := range r.hdr.values("Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return "", "", "the message has Precedence: " + v
		}
	}
	for _, n := range []string{"X-Auto-Response-Suppress"} {
		for _, v := range r.hdr.values(n) {
			if strings.Contains(strings.ToLower(v), "oof") || strings.EqualFold(strings.TrimSpace(v), "all") {
				return "", "", "the message asks for no auto-reply (" + n + ")"
			}
		}
	}
	if r.isOwnAddress(sender, extra) {
		return "", "", "the sender is the user"
	}
	for _, n := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range r.hdr.values(n) {
			for _, a := range parseAddressList(v) {
				if a.valid && r.isOwnAddress(a.addr, extra) {
					return sender, a.addr, ""
				}
			}
		}
	}
	return "", "", "none of the user's addresses is in To, Cc or Bcc"
}

// isOwnAddress reports whether addr is one of the user's addresses or one
// given with :addresses, ignoring case and a subaddress detail.
func (r *run) isOwnAddress(addr string, extra []string) bool {
	norm := func(a string) string {
		a = strings.ToLower(strings.TrimSpace(a))
		if p, err := mail.ParseAddress(a); err == nil {
			a = strings.ToLower(p.Address)
		}
		at := strings.LastIndexByte(a, '@')
		if at < 0 || r.opts.SubaddressDelimiter == "" {
			return a
		}
		if i := strings.IndexAny(a[:at], r.opts.SubaddressDelimiter); i >= 0 {
			return a[:i] + a[at:]
		}
		return a
	}
	addr = norm(addr)
	for _, own := range append(append([]string{r.msg.EnvelopeTo}, r.opts.UserAddresses...), extra...) {
		if own != "" && norm(own) == addr {
			return true
		}
	}
	return false
}

// headerSafe removes line breaks so that script text cannot add fields.
func headerSafe(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)), " ")
}

// encodeHeaderText encodes non-ASCII text as RFC 2047 words.
func encodeHeaderText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.BEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// buildVacationReply writes the reply message (RFC 5230 section 5, RFC
// 3834 section 3).
func (r *run) buildVacationReply(from, to, subject, reason string, isMIME bool) ([]byte, error) {
	var b bytes.Buffer
	now := r.env.Now()
	w := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	w("Date", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	w("From", headerSafe(from))
	w("To", "<"+headerSafe(to)+">")
	w("Subject", encodeHeaderText(headerSafe(subject)))
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("vacation: message id: %w", err)
	}
	host := r.opts.Hostname
	if host == "" {
		host = "localhost"
	}
	w("Message-ID", "<vacation."+hex.EncodeToString(id[:])+"@"+headerSafe(host)+">")
	if v := r.hdr.values("Message-ID"); len(v) > 0 {
		orig := headerSafe(v[0])
		w("In-Reply-To", orig)
		refs := orig
		if rv := r.hdr.values("References"); len(rv) > 0 {
			refs = headerSafe(rv[0]) + " " + orig
		}
		w("References", refs)
	}
	w("Auto-Submitted", "auto-replied")
	w("Precedence", "bulk")
	w("MIME-Version", "1.0")
	if isMIME {
		// :mime: the reason is a MIME entity, header and body.
		b.WriteString(toCRLF(strings.TrimLeft(reason, "\r\n")))
		if !strings.HasSuffix(b.String(), "\r\n") {
			b.WriteString("\r\n")
		}
		return b.Bytes(), nil
	}
	w("Content-Type", "text/plain; charset=utf-8")
	w("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(toCRLF(reason))); err != nil {
		return nil, fmt.Errorf("vacation: body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("vacation: body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// toCRLF makes every line end CRLF.
func toCRLF(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
