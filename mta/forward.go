package mta

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/arc"
	"github.com/yubinmail/yubin/mta/queue"
	"github.com/yubinmail/yubin/mta/srs"
)

// Forwarding to addresses elsewhere. The intake accepts mail for a local
// alias with external targets, and for the SRS addresses it made, and
// sends it on through the outbound queue:
//
//   - the envelope sender is rewritten with SRS (Options.SRS), so that
//     the receiver's SPF check sees our domain and a bounce comes back
//     here, where the SRS address is checked (hash and age: a forged or
//     expired one is refused at RCPT) and the bounce sent on to the
//     original sender;
//   - the message goes out as it came in, only with fields added on top
//     (our Received and Authentication-Results, a DKIM signature of the
//     forwarding domain, and an ARC set), so that its own DKIM signatures
//     still verify;
//   - the ARC set (RFC 8617) carries our authentication results to the
//     receiver, sealed with the forwarding domain's DKIM key;
//   - mail the filters judged spam, or held in quarantine, is never
//     forwarded (see process);
//   - the forwards are queued before the 250, after the local copies are
//     stored; if the queue fails the local copies are removed again and
//     the sender gets a 451.
//
// An alias forward belongs to no user and does not count in any user's
// sending rate; a Sieve redirect does (sieve.go). Neither makes an open
// relay: only configured aliases, users' scripts and SRS addresses whose
// hash verifies lead elsewhere.

// arcLookupTimeout bounds the key look-ups of the ARC chain check.
const arcLookupTimeout = 20 * time.Second

// addForward accepts a recipient of the intake that forwards elsewhere,
// remembering which local domain forwards each external address.
func (s *session) addForward(tx *transaction, a string, rs []mailstore.Recipient, external []string, domain string) error {
	if err := s.addRecipient(tx, a, rs, external); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tx.forwardVia == nil {
		tx.forwardVia = make(map[string]string, len(external))
	}
	for _, x := range external {
		if _, ok := tx.forwardVia[x]; !ok {
			tx.forwardVia[x] = domain
		}
	}
	return nil
}

// srsRecipient handles a RCPT to an SRS address of a local domain (local
// is its local part as sent). An address we did not make, or made too long
// ago, is refused (550 5.1.1, counted as an unknown recipient). One that
// stands for an address elsewhere is accepted as a forward (done); one
// that stands for a local address returns it, to be resolved as if it had
// been the recipient.
func (s *session) srsRecipient(ctx context.Context, tx *transaction, local string, addr core.Address) (orig core.Address, done bool, reply error) {
	back, err := s.srv.opts.SRS.Reverse(local, time.Now())
	if errors.Is(err, srs.ErrNotSRS) {
		return addr, false, nil
	}
	if err == nil {
		orig, err = core.ParseAddress(back)
	}
	if err != nil {
		s.srv.stats.reject(RejectUnknownUser)
		s.log.Info("SRS address refused", "from", tx.from, "rcpt", addr.String(), "err", err)
		return addr, true, s.refuseRecipient(smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user here (invalid or expired SRS address)"))
	}
	isLocal, err := s.srv.opts.Store.IsLocalDomain(ctx, orig.Domain)
	if err != nil {
		s.log.Error("recipient lookup failed", "rcpt", orig.String(), "err", err)
		return addr, true, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
	}
	if isLocal {
		return orig, false, nil
	}
	// The local part as it was (the destination's business), the domain
	// normalised.
	to := back[:strings.LastIndexByte(back, '@')] + "@" + orig.Domain
	s.log.Info("SRS address: sending on to the original sender", "from", tx.from, "rcpt", addr.String(), "to", to)
	return addr, true, s.addForward(tx, addr.String(), nil, []string{to}, addr.Domain)
}

// authResultsOf returns the value of the Authentication-Results field the
// filters added, "" if none.
func authResultsOf(v filters.Verdict) string {
	for _, f := range v.AddHeaders {
		if strings.EqualFold(f.Key, "Authentication-Results") {
			return f.Value
		}
	}
	return ""
}

// queueForwards queues the message for the intake's forwards, one queued
// message per forwarding domain. If one cannot be queued, the local copies
// are removed and the reply asks the sender to try again.
func (s *session) queueForwards(tx *transaction, copies []mailstore.DeliveryResult, out *outcome) *smtp.SMTPError {
	var domains []string
	byDomain := map[string][]string{}
	for _, x := range tx.remote {
		d := tx.forwardVia[x]
		if _, ok := byDomain[d]; !ok {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], x)
	}
	for _, d := range domains {
		if err := s.forward(tx, d, byDomain[d], out); err != nil {
			s.log.Error("forward failed; the message is refused for now", "queue_id", out.id, "to", byDomain[d], "err", err)
			s.removeCopies(copies, out)
			s.srv.stats.tempFailed.Add(1)
			out.verdict, out.reason = "tempfail", "forward: "+err.Error()
			return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
		}
	}
	return nil
}

// forward queues the message (out.forwardable) for addresses elsewhere,
// forwarded by the local domain: the envelope sender rewritten with SRS
// (unchanged without SRS, the null sender stays null), signed with the
// domain's DKIM keys and sealed with an ARC set.
func (s *session) forward(tx *transaction, domain string, to []string, out *outcome) error {
	from := tx.from
	if r := s.srv.opts.SRS; r != nil {
		var err error
		if from, err = r.Forward(tx.from, domain, time.Now()); err != nil {
			return fmt.Errorf("rewrite the sender: %w", err)
		}
		if _, err := core.ParseAddress(from); from != "" && err != nil {
			// A sender SRS cannot carry (an address literal, a local
			// part too long once rewritten): it goes as it came.
			s.log.Info("sender cannot be rewritten with SRS; forwarded as it is", "queue_id", out.id, "from", tx.from, "err", err)
			from = tx.from
		}
	}
	return s.forwardFrom(from, domain, to, out)
}

// forwardFrom queues the forwarded message from the envelope sender from.
func (s *session) forwardFrom(from, domain string, to []string, out *outcome) error {
	src := out.forwardable
	if src == nil {
		return errors.New("no message to forward")
	}
	raw, err := io.ReadAll(core.NewCRLFReader(src()))
	if err != nil {
		return fmt.Errorf("read the message: %w", err)
	}
	chain := s.arcChain(raw, out)
	raw = s.signGenerated(domain, raw, out)
	raw = s.arcSeal(domain, raw, chain, out)
	qm, err := s.srv.enqueue(s.ctx, queue.Input{Body: bytes.NewReader(raw), From: from, Recipients: to, Domain: domain})
	if err != nil {
		return err
	}
	s.log.Info("forward queued", "queue_id", out.id, "outbound_id", qm.ID, "from", from, "to", to, "via", domain)
	return nil
}

// arcChain checks the ARC chain the message came with (a failure to check
// is logged and counts as a failed chain).
func (s *session) arcChain(msg []byte, out *outcome) arc.Result {
	lookup := s.srv.opts.ARCLookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	ctx, cancel := context.WithTimeout(s.ctx, arcLookupTimeout)
	defer cancel()
	r, err := arc.Verify(ctx, msg, lookup)
	if err != nil {
		s.log.Info("ARC chain of a forwarded message does not verify", "queue_id", out.id, "err", err)
	}
	return r
}

// arcSeal puts an ARC set of domain on top of msg, with the domain's DKIM
// key (RSA first: the one every ARC verifier knows) and the results of
// our filters. Without a key, or after a failed chain, msg goes as it is.
func (s *session) arcSeal(domain string, msg []byte, chain arc.Result, out *outcome) []byte {
	src := s.srv.opts.DKIM
	if src == nil {
		return msg
	}
	keys, selectors, err := src.Signers(s.ctx, domain)
	if err != nil || len(keys) == 0 {
		s.log.Warn("no DKIM key to seal a forwarded message with (ARC)", "queue_id", out.id, "domain", domain, "err", err)
		return msg
	}
	i := slices.IndexFunc(keys, func(k crypto.Signer) bool { _, ok := k.Public().(*rsa.PublicKey); return ok })
	if i < 0 || i >= len(selectors) {
		i = 0
	}
	results := out.authResults
	if results == "" {
		results = s.srv.opts.Hostname + "; none"
	}
	set, err := arc.Seal(msg, arc.SealOptions{Domain: domain, Selector: selectors[i], Signer: keys[i], AuthResults: results, Chain: chain})
	if err != nil {
		s.log.Warn("ARC seal of a forwarded message failed; forwarded without", "queue_id", out.id, "domain", domain, "err", err)
		return msg
	}
	return append([]byte(set), msg...)
}
