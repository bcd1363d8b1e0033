package mta

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
)

// dkimHeaderKeys are the header fields DKIM signatures cover.
var dkimHeaderKeys = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "In-Reply-To", "References"}

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
	authorDomain, reply := s.checkAuthors(header, out)
	if reply != nil {
		return reply
	}
	if !s.srv.sub.rate.allow(s.user.ID) {
		out.verdict, out.reason = "tempfail", "sending rate"
		s.srv.stats.tempFailed.Add(1)
		return smtpErr(450, smtp.EnhancedCode{4, 7, 1}, "Sending rate exceeded, please try again later")
	}

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
	// remove (forged results) are removed.
	hs = s.removeFields(sp, hs, v, out)

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
	if reply := s.deliverLocal(tx, full(), int64(len(sigs))+size, out); reply != nil {
		return reply
	}
	if len(tx.remote) > 0 {
		qm, err := s.srv.sub.enqueue(s.ctx, mailstore.OutboundInput{
			Body:       full(),
			From:       tx.from,
			Recipients: tx.remote,
			Domain:     authorDomain,
		})
		if err != nil {
			if len(tx.users) > 0 {
				s.log.Error("enqueue for remote recipients failed after local delivery; the client's retry will deliver locally again", "queue_id", out.id, "err", err)
			} else {
				s.log.Error("enqueue for remote recipients failed", "queue_id", out.id, "err", err)
			}
			s.srv.stats.tempFailed.Add(1)
			out.verdict, out.reason = "tempfail", "queue: "+err.Error()
			return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
		}
		s.log.Info("message queued for remote recipients", "queue_id", out.id, "outbound_id", qm.ID, "remote", tx.remote)
	}
	s.srv.sub.rate.record(s.user.ID)
	s.srv.stats.accepted.Add(1)
	out.verdict = "accept"
	return smtpErr(250, smtp.EnhancedCode{2, 0, 0}, "OK: queued as "+out.id)
}

// checkAuthors checks that the message has a From field whose every
// address the user may send as. It returns the domain of the first one,
// which signs the message.
func (s *session) checkAuthors(header textproto.Header, out *outcome) (string, *smtp.SMTPError) {
	mh := mail.Header{Header: message.Header{Header: header}}
	addrs, err := mh.AddressList("From")
	if err != nil || len(addrs) == 0 {
		out.verdict, out.reason = "reject", "no usable From field"
		s.srv.stats.reject(RejectSender)
		return "", smtpErr(550, smtp.EnhancedCode{5, 6, 0}, "The message needs a From field with an address")
	}
	for _, a := range addrs {
		ok, err := s.ownsAddress(a.Address)
		if err != nil {
			s.log.Error("author lookup failed", "queue_id", out.id, "from", a.Address, "err", err)
			s.srv.stats.tempFailed.Add(1)
			out.verdict, out.reason = "tempfail", "author lookup"
			return "", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
		}
		if !ok {
			out.verdict, out.reason = "reject", "From field not owned: "+a.Address
			s.srv.stats.reject(RejectSender)
			s.log.Info("From field address not owned by the user", "queue_id", out.id, "from", a.Address)
			return "", smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "From address not allowed for this account")
		}
	}
	a, err := core.ParseAddress(addrs[0].Address)
	if err != nil {
		return "", nil
	}
	return a.Domain, nil
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
// (the message then goes out unsigned, with a warning). When the domain has keys that cannot be read (a key file
// written by another user) or signing fails, it returns a 451 instead:
// mail of a domain with keys never goes out unsigned.
func (s *session) dkimSign(domain string, msg io.Reader, out *outcome) (string, *smtp.SMTPError) {
	src := s.srv.sub.dkim
	if src == nil || domain == "" {
		return "", nil
	}
	keys, selectors, err := src.Signers(domain)
	if errors.Is(err, core.ErrNotFound) {
		s.log.Warn("domain has no DKIM keys; sending unsigned", "queue_id", out.id, "domain", domain)
		return "", nil
	}
	if err != nil {
		return "", s.unsigned(domain, out, fmt.Errorf("the DKIM keys cannot be read (check the owner and mode of the key files): %w", err))
	}
	if len(keys) == 0 {
		return "", nil
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
			s.log.Error("DKIM signer", "queue_id", out.id, "domain", domain, "selector", selectors[i], "err", err)
			continue
		}
		signers = append(signers, sg)
		writers = append(writers, sg)
	}
	if len(signers) == 0 {
		return "", s.unsigned(domain, out, errors.New("no key could sign"))
	}
	if _, err := io.Copy(io.MultiWriter(writers...), msg); err != nil {
		return "", s.unsigned(domain, out, err)
	}
	var b strings.Builder
	for i, sg := range signers {
		if err := sg.Close(); err != nil {
			s.log.Error("DKIM signing failed", "queue_id", out.id, "domain", domain, "err", err)
			continue
		}
		b.WriteString(sg.Signature())
		signers[i] = nil
	}
	if b.Len() == 0 {
		return "", s.unsigned(domain, out, errors.New("every signature failed"))
	}
	return b.String(), nil
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
// one store delivery. It returns nil if every one of them has it, and the
// reply otherwise: no recipient may silently miss the message, and nothing
// goes to the outbound queue unless all local copies are stored.
func (s *session) deliverLocal(tx *transaction, body io.Reader, size int64, out *outcome) *smtp.SMTPError {
	if len(tx.users) == 0 {
		return nil
	}
	results, reply := s.storeCopies(tx, body, "", out)
	if reply != nil {
		return reply
	}
	ok := 0
	for _, res := range results {
		if res.Err == nil {
			ok++
		}
	}
	switch {
	case ok == len(results):
		return nil
	case ok == 0:
		return s.checkResults(tx, results, size, out)
	}
	var failed []error
	for i, res := range results {
		if res.Err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", tx.users[min(i, len(tx.users)-1)].addr, res.Err))
		}
	}
	err := errors.Join(failed...)
	s.log.Error("local delivery failed for some recipients; the others have the message and will get it again when the client retries", "queue_id", out.id, "err", err)
	s.srv.stats.tempFailed.Add(1)
	out.verdict, out.reason = "tempfail", "store: "+err.Error()
	return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local delivery failed for some recipients, please try again later")
}
