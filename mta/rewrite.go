package mta

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
)

// applyRewrite applies the filters' Rewrite (milter modifications) to the
// transaction and the spooled message. Envelope changes: a new sender
// replaces tx.from; added recipients are resolved like RCPT TO (a local
// address adds its users; an address elsewhere is not relayed and is only
// logged, as intake never relays); removed recipients take their users out.
// Content changes (header edits, body) give a new spool with the received
// fields the filters remove already left out; v.RemoveHeaders is then
// cleared. It returns the spool to store from (sp itself when the content
// is unchanged; the caller closes another one) and the verdict to go on with; with every recipient
// removed, the message is quarantined rather than dropped.
func (s *session) applyRewrite(tx *transaction, sp *spool, v filters.Verdict, out *outcome) (*spool, filters.Verdict, *smtp.SMTPError) {
	rw := v.Rewrite
	if rw.IsZero() {
		return sp, v, nil
	}
	if rw.ChangeMailFrom {
		s.log.Info("filter changed the envelope sender", "queue_id", out.id, "from", tx.from, "to", rw.MailFrom)
		tx.from = rw.MailFrom
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	s.mu.Lock()
	before := slices.Clone(tx.users)
	s.mu.Unlock()
	for _, a := range rw.RemoveRecipients {
		a = strings.Trim(a, "<> ")
		addr, err := core.NormalizeAddress(a)
		if err != nil {
			addr = strings.ToLower(a)
		}
		s.mu.Lock()
		tx.rcpts = slices.DeleteFunc(tx.rcpts, func(r string) bool { return strings.EqualFold(r, addr) })
		tx.users = slices.DeleteFunc(tx.users, func(r recipient) bool { return strings.EqualFold(r.addr, addr) })
		s.mu.Unlock()
		s.log.Info("filter removed a recipient", "queue_id", out.id, "rcpt", addr)
	}
	for _, a := range rw.AddRecipients {
		addr, err := core.ParseAddress(strings.Trim(a, "<> "))
		if err != nil {
			s.log.Warn("filter added an invalid recipient; ignored", "queue_id", out.id, "rcpt", a, "err", err)
			continue
		}
		store := s.srv.opts.Store
		local, err := store.IsLocalDomain(ctx, addr.Domain)
		if err != nil {
			s.log.Error("recipient lookup failed", "rcpt", addr.String(), "err", err)
			return sp, v, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
		}
		if !local {
			s.log.Warn("filter added a recipient outside this server; not relayed", "queue_id", out.id, "rcpt", addr.String())
			continue
		}
		rs, err := store.ResolveRecipients(ctx, addr.String())
		if errors.Is(err, core.ErrNotFound) {
			s.log.Warn("filter added an unknown recipient; ignored", "queue_id", out.id, "rcpt", addr.String())
			continue
		}
		if err != nil {
			s.log.Error("recipient lookup failed", "rcpt", addr.String(), "err", err)
			return sp, v, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
		}
		if err := s.addRecipient(tx, addr.String(), rs, nil); err != nil {
			s.log.Warn("filter added a recipient; not added", "queue_id", out.id, "rcpt", addr.String(), "err", err)
			continue
		}
		s.log.Info("filter added a recipient", "queue_id", out.id, "rcpt", addr.String())
	}
	if len(tx.users) == 0 {
		// Held for an administrator, for the recipients it came for.
		s.mu.Lock()
		tx.users = before
		s.mu.Unlock()
		if v.Action < filters.Quarantine {
			v.Action, v.Reason, v.Stage = filters.Quarantine, "a filter removed every recipient", "filters"
		}
	}
	if !rw.ChangesContent() {
		return sp, v, nil
	}
	remove := func(key string) bool { return v.RemovesHeader(key) }
	// A milter may grow the message; not without bound.
	nsp := newSpool(s.srv.opts.SpoolDir, 2*s.srv.opts.MaxMessageBytes, spoolMemory)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(filters.ApplyRewrite(pw, sp.Reader(), rw, remove))
	}()
	_, err := nsp.ReadFrom(pr)
	pr.Close()
	if err != nil {
		nsp.Close()
		s.log.Error("apply the filters' changes", "queue_id", out.id, "err", err)
		return sp, v, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	v.RemoveHeaders = nil
	return nsp, v, nil
}
