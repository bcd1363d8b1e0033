package mta

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

// dkimHeaderKeys are the header fields DKIM signatures cover. From and
// Sender are named once more than they occur (RFC 6376 section 8.15): a
// From or Sender field added after signing breaks the signature.
var dkimHeaderKeys = []string{"From", "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "In-Reply-To", "References"}

// processSubmission checks, completes, filters, signs and sends a message
// submitted by the logged-in user: local recipients get it through the
// store's delivery, remote ones through one outbound queue entry. The 250
// comes once both are durable; if either fails the reply is a 451 and the
// client sends the message again.
func (s *session) processSubmission(tx *transaction, sp *spool, out *outcome) *smtp.SMTPError {
	hs, header, reply := s.readHeader(sp, out)
	if reply != nil {
		return reply
	}
	if hs.malformed > 0 {
		// Receivers would read such a header each their own way (where
		// it ends, which From counts): a user's program never writes one.
		out.verdict, out.reason = "reject", "malformed header"
		s.srv.stats.reject(RejectSender)
		return smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "The message header has a line that is no header field")
	}
	authorDomain, reply := s.checkAuthors(header, out)
	if reply != nil {
		return reply
	}
	// The recipients are counted now, before anything is sent, and
	// given back if the message is not sent after all.
	n := len(tx.rcpts)
	at, ok := s.srv.sub.rate.reserve(s.user.ID, n)
	if !ok {
		out.verdict, out.reason = "tempfail", "sending rate"
		s.srv.stats.tempFailed.Add(1)
		s.log.Warn("sending rate exceeded", "queue_id", out.id, "recipients", n)
		return errRateExceeded
	}
	sent := false
	defer func() {
		if !sent {
			s.srv.sub.rate.release(s.user.ID, n, at)
		}
	}()

	v := s.check(tx, sp, header, out)
	switch v.Action {
	case filters.Reject:
		s.srv.stats.reject(RejectPolicy)
		return verdictError(v, 550, smtp.EnhancedCode{5, 7, 1}, "Message rejected by policy")
	case filters.TempFail:
		s.srv.stats.tempFailed.Add(1)
		return verdictError(v, 451, smtp.EnhancedCode{4, 7, 1}, "Message could not be checked, please try again later")
	case filters.Quarantine:
		// The quarantine can only release to local mailboxes: the sender
		// is told instead, and nothing is sent.
		out.verdict = "reject"
		s.srv.stats.reject(RejectPolicy)
		return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, replyText(v.Reason, "Message refused by policy"))
	case filters.Junk:
		// The user's own mail: a spam score is only logged.
		s.log.Info("submitted message scored as junk; sent anyway", "queue_id", out.id, "reason", v.Reason)
	}
	// The fields the filters add (Authentication-Results, spam scores)
	// are for incoming mail, not for what the user sends; the ones they
	// remove (forged results) are removed, and so are the Bcc fields
	// (RFC 5322 section 3.6.3: the other recipients must not see who
	// got a blind copy), from every copy, before the signature.
	hs, reply = s.removeFields(sp, hs, v, []string{"Bcc", "Resent-Bcc"}, out)
	if reply != nil {
		return reply
	}

	prefix := s.received(tx, out.id) + missingFields(header, s.srv.opts.Hostname)
	message := func() io.Reader {
		r, _ := assemble(prefix, sp, hs.drop)
		return r
	}
	_, size := assemble(prefix, sp, hs.drop)
	sigs, reply := s.dkimSign(authorDomain, message(), out)
	if reply != nil {
		return reply
	}
	full := func() io.Reader { return io.MultiReader(strings.NewReader(sigs), message()) }

	if h := s.srv.hooks.beforeDeliver; h != nil {
		h()
	}
	// Each local copy gets its own delivery fields (copyFields); the copy
	// that goes on elsewhere gets none.
	copies, reply := s.deliverLocal(tx, full, int64(len(sigs))+size, out)
	if reply != nil {
		return reply
	}
	if len(tx.remote) > 0 {
		qm, err := s.srv.sub.enqueue(s.ctx, queue.Input{
			Body:       full(),
			From:       tx.from,
			Recipients: tx.remote,
			Domain:     authorDomain,
		})
		if err != nil {
			s.log.Error("enqueue for remote recipients failed", "queue_id", out.id, "err", err)
			// All or nothing: the local copies go again, so that the
			// client's retry does not deliver them twice.
			s.removeCopies(copies, out)
			s.srv.stats.tempFailed.Add(1)
			out.verdict, out.reason = "tempfail", "queue: "+err.Error()
			return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
		}
		s.log.Info("message queued for remote recipients", "queue_id", out.id, "outbound_id", qm.ID, "remote", tx.remote)
	}
	sent = true
	s.srv.stats.accepted.Add(1)
	s.srv.stats.localDone.Add(uint64(len(tx.users)))
	out.verdict = "accept"
	return smtpErr(250, smtp.EnhancedCode{2, 0, 0}, "OK: queued as "+out.id)
}

// maxAuthorAddresses bounds the addresses of a submitted message's From
// and Sender fields (each is looked up).
const maxAuthorAddresses = 100

// checkAuthors checks the author fields of a submitted message: exactly
// one From field (RFC 5322 section 3.6 allows one; a receiver may show
// either of two, and DKIM signs the last), with at least one address,
// and at most one Sender field, with one address; every address in them
// must be one the user may send as (see authorAddresses for what counts
// as an address). It returns the domain of the first From address, which
// signs the message.
func (s *session) checkAuthors(header textproto.Header, out *outcome) (string, *smtp.SMTPError) {
	refuse := func(reason, text string) (string, *smtp.SMTPError) {
		out.verdict, out.reason = "reject", reason
		s.srv.stats.reject(RejectSender)
		s.log.Info("author fields refused", "queue_id", out.id, "reason", reason)
		return "", smtpErr(550, smtp.EnhancedCode{5, 6, 0}, text)
	}
	froms := header.Values("From")
	switch {
	case len(froms) == 0:
		return refuse("no From field", "The message needs a From field with an address")
	case len(froms) > 1:
		return refuse("several From fields", "The message has more than one From field; RFC 5322 allows one")
	}
	senders := header.Values("Sender")
	if len(senders) > 1 {
		return refuse("several Sender fields", "The message has more than one Sender field; RFC 5322 allows one")
	}
	from, err := authorAddresses(froms[0])
	if err != nil || len(from) == 0 {
		return refuse("unreadable From field", "The From field has no address that can be read: write it as Name <address>")
	}
	all := from
	if len(senders) == 1 {
		sender, err := authorAddresses(senders[0])
		if err != nil || len(sender) != 1 {
			return refuse("unreadable Sender field", "The Sender field must hold exactly one address")
		}
		all = append(slices.Clip(all), sender...)
	}
	if len(all) > maxAuthorAddresses {
		return refuse("too many author addresses", fmt.Sprintf("The From and Sender fields hold more than %d addresses", maxAuthorAddresses))
	}
	for _, a := range all {
		ok, err := s.ownsAddress(a.String())
		if err != nil {
			s.log.Error("author lookup failed", "queue_id", out.id, "from", a.String(), "err", err)
			s.srv.stats.tempFailed.Add(1)
			out.verdict, out.reason = "tempfail", "author lookup"
			return "", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
		}
		if !ok {
			out.verdict, out.reason = "reject", "author address not owned: "+a.String()
			s.srv.stats.reject(RejectSender)
			s.log.Info("From or Sender address not owned by the user", "queue_id", out.id, "address", a.String())
			return "", smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "From or Sender address not allowed for this account: "+replyText(a.String(), "?"))
		}
	}
	return from[0].Domain, nil
}

// authorAddresses returns every address in the value of a From or Sender
// field, each once, in the order written: the addresses of the RFC 5322
// address list (with groups, comments and the obsolete empty list
// elements; encoded words decoded), and also every other string in the
// field, encoded words decoded, that reads as an address (in a display
// name or a comment, say), since the program of a receiver, or its
// reader, may take it for the author. A value RFC 5322's syntax cannot
// read is an error: what a lenient parser would make of it is anyone's
// guess.
func authorAddresses(value string) ([]core.Address, error) {
	dec := &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}
	p := netmail.AddressParser{WordDecoder: dec}
	list, err := p.ParseList(value)
	if err != nil {
		return nil, fmt.Errorf("address list: %w", err)
	}
	var out []core.Address
	add := func(a core.Address) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range list {
		pa, err := core.ParseAddress(a.Address)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", a.Address, err)
		}
		add(pa)
	}
	decoded, err := dec.DecodeHeader(value)
	if err != nil {
		decoded = value
	}
	for _, tok := range strings.FieldsFunc(decoded, func(r rune) bool {
		return r <= ' ' || strings.ContainsRune("<>()[],;:\"\\", r)
	}) {
		at := strings.LastIndexByte(tok, '@')
		if at <= 0 || at == len(tok)-1 {
			continue
		}
		if a, err := core.ParseAddress(strings.TrimSuffix(tok, ".")); err == nil {
			add(a)
		}
	}
	return out, nil
}

// missingFields returns the Date and Message-ID fields a submitted message
// lacks (RFC 6409 §8.2, §8.3).
func missingFields(header textproto.Header, hostname string) string {
	var b strings.Builder
	if !header.Has("Date") {
		b.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	}
	if !header.Has("Message-Id") {
		b.WriteString("Message-ID: <" + rand.Text() + "@" + hostname + ">\r\n")
	}
	return b.String()
}

// dkimSign returns the DKIM-Signature fields of msg for domain, one per
// key of the domain, to put on top of it; "" when the domain has no keys
// (the message then goes out unsigned, with a warning). When the domain
// has keys that cannot be read (a key file written by another user) or no
// key can sign, it returns a 451 instead: mail of a domain with keys never
// goes out unsigned.
func (s *session) dkimSign(domain string, msg io.Reader, out *outcome) (string, *smtp.SMTPError) {
	src := s.srv.sub.dkim
	if src == nil || domain == "" {
		return "", nil
	}
	sigs, err := SignDKIM(s.ctx, src, domain, msg)
	switch {
	case errors.Is(err, core.ErrNotFound):
		s.log.Warn("domain has no DKIM keys; sending unsigned", "queue_id", out.id, "domain", domain)
		return "", nil
	case err != nil && sigs == "":
		return "", s.unsigned(domain, out, err)
	case err != nil:
		s.log.Error("DKIM signing failed for some keys", "queue_id", out.id, "domain", domain, "err", err)
	}
	return sigs, nil
}

// SignDKIM returns the DKIM-Signature fields of msg for domain, one per key
// src has for it (relaxed/relaxed, over dkimHeaderKeys), to put on top of
// the message. Without keys for domain it returns an error wrapping
// core.ErrNotFound; a key that fails to sign is left out, and reported in
// the error alongside the signatures of the others.
func SignDKIM(ctx context.Context, src DKIMSource, domain string, msg io.Reader) (string, error) {
	keys, selectors, err := src.Signers(ctx, domain)
	if err != nil {
		return "", fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("DKIM keys of %s: %w", domain, core.ErrNotFound)
	}
	signers := make([]*dkim.Signer, 0, len(keys))
	writers := make([]io.Writer, 0, len(keys))
	defer func() {
		for _, sg := range signers {
			if sg != nil {
				_ = sg.Close() // after an error: stops its goroutine
			}
		}
	}()
	var errs []error
	for i, k := range keys {
		if i >= len(selectors) {
			break
		}
		sg, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 domain,
			Selector:               selectors[i],
			Signer:                 k,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             dkimHeaderKeys,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("DKIM signer %s: %w", selectors[i], err))
			continue
		}
		signers = append(signers, sg)
		writers = append(writers, sg)
	}
	if len(signers) == 0 {
		return "", errors.Join(errs...)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), msg); err != nil {
		return "", fmt.Errorf("DKIM sign: %w", err)
	}
	var b strings.Builder
	for i, sg := range signers {
		if err := sg.Close(); err != nil {
			errs = append(errs, fmt.Errorf("DKIM sign: %w", err))
			continue
		}
		b.WriteString(sg.Signature())
		signers[i] = nil
	}
	return b.String(), errors.Join(errs...)
}

// unsigned logs why a message of a domain with DKIM keys could not be
// signed and returns the 451 that refuses it: it never goes out unsigned.
func (s *session) unsigned(domain string, out *outcome, err error) *smtp.SMTPError {
	s.log.Error("DKIM signing failed: refusing to send the domain's mail unsigned", "queue_id", out.id, "domain", domain, "err", err)
	s.srv.stats.tempFailed.Add(1)
	out.verdict, out.reason = "tempfail", "dkim: "+err.Error()
	return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error: the message of "+domain+" could not be signed, please try again later")
}

// deliverLocal delivers the message to the local recipients, if any, in
// one all-or-nothing store delivery. It returns the copies made (every
// recipient has one), or the reply refusing the message, no copy having
// been made: nothing goes to the outbound queue unless all local copies
// are stored, and the client's retry duplicates nothing.
func (s *session) deliverLocal(tx *transaction, message func() io.Reader, size int64, out *outcome) ([]mailstore.DeliveryResult, *smtp.SMTPError) {
	if len(tx.users) == 0 {
		return nil, nil
	}
	// The local recipients' Sieve scripts decide where their copies go.
	plan, reply := s.sieveDeliveries(tx, copyFields(tx, message, size), "", out)
	if reply != nil {
		return nil, reply
	}
	results, reply := s.storePlan(plan, message(), out)
	if reply != nil {
		return nil, reply
	}
	if reply := s.checkResults(tx, results, plan, size, out); reply != nil {
		return nil, reply
	}
	if reply := s.sieveEffects(tx, plan, message, results, out); reply != nil {
		return nil, reply
	}
	return results, nil
}

// removeCopies removes the local copies of a message whose transaction
// failed after they were made (the outbound queue refused the rest).
// Should that fail too, the client's retry delivers them again: logged.
func (s *session) removeCopies(copies []mailstore.DeliveryResult, out *outcome) {
	for _, c := range copies {
		if err := s.srv.opts.Store.DeleteMessages(s.ctx, c.MailboxID, []uint32{c.UID}); err != nil {
			s.log.Error("removing a local copy of a failed submission failed; the client's retry will deliver it again", "queue_id", out.id, "mailbox", c.MailboxID, "uid", c.UID, "err", err)
		}
	}
}
