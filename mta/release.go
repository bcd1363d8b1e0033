package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// ReleaseQuarantined delivers held message id as its delivery would have
// gone had the filters passed it: each recipient's domain script and own
// Sieve script decide where their copy goes (fileinto, flags, discard),
// and what they send on (redirects, rejection messages, vacation replies)
// is sent as at delivery. The copies are stored in the one transaction
// that ends the hold (mailstore.ReleaseQuarantinedTo), keeping the time
// the message was received and without enforcing quotas (an
// administrator's decision). Redirects and rejection messages, which stand
// for a copy, are queued first: if one fails, the message stays held and
// the error says why. A script that fails delivers to INBOX, as at
// delivery. Releases run one at a time: a second release of a message
// finds it gone (core.ErrNotFound).
func (s *Server) ReleaseQuarantined(ctx context.Context, id int64) error {
	s.releasing.Lock()
	defer s.releasing.Unlock()
	store := s.opts.Store
	q, err := store.GetQuarantined(ctx, id)
	if err != nil {
		return fmt.Errorf("release quarantined message %d: %w", id, err)
	}
	tx := &transaction{start: time.Now(), from: q.From}
	for _, addr := range q.Recipients {
		u, err := store.GetUser(ctx, addr)
		if errors.Is(err, core.ErrNotFound) {
			continue // the store skips it too, and says so
		}
		if err != nil {
			return fmt.Errorf("release quarantined message %d: recipient %s: %w", id, addr, err)
		}
		tx.rcpts = append(tx.rcpts, addr)
		tx.users = append(tx.users, recipient{addr: addr, user: u})
	}
	if len(tx.users) == 0 {
		// Nothing for the scripts to do: the store says which are gone.
		return store.ReleaseQuarantined(ctx, id)
	}
	held := &heldBody{ctx: ctx, store: store, id: id}
	defer held.close()
	sess := &session{srv: s, ctx: ctx, log: s.log.With("quarantine_id", id), accepted: true}
	out := &outcome{id: fmt.Sprintf("quarantine-%d", id), size: q.Size, forwardable: held.reader}
	// The held body carries its delivery fields already: the scripts see
	// it as it will be stored.
	plan, _ := sess.sieveDeliveries(tx, func(recipient) (io.Reader, int64) { return held.reader(), q.Size }, "", out)
	for _, eff := range plan.effects {
		if len(eff.redirect) > 0 {
			if err := sess.queueRedirect(tx, eff, held.reader, out); err != nil {
				sess.releaseRedirects(eff, len(eff.redirect))
				return fmt.Errorf("release quarantined message %d: sieve redirect: %w", id, err)
			}
		}
		if eff.rejecting {
			if err := sess.sendRejection(tx, eff, held.reader(), out); err != nil {
				return fmt.Errorf("release quarantined message %d: sieve reject: %w", id, err)
			}
		}
	}
	targets := make([]mailstore.DeliveryTarget, len(plan.targets))
	for i, t := range plan.targets {
		t.HeaderPrefix = "" // the held body has its fields
		targets[i] = t
	}
	if err := store.ReleaseQuarantinedTo(ctx, id, targets); err != nil {
		if len(plan.effects) > 0 {
			sess.log.Warn("release failed after the scripts' redirects or rejections were sent; another release sends them again", "err", err)
		}
		return err
	}
	for _, eff := range plan.effects {
		for _, v := range eff.vacations {
			sess.sendVacation(eff, v, out)
		}
	}
	sess.log.Info("quarantined message released through the recipients' Sieve scripts", "recipients", len(tx.users), "copies", len(targets))
	return nil
}

// heldBody opens a held message's body as often as the scripts and the
// messages they send need it, and closes every opening at the end.
type heldBody struct {
	ctx   context.Context
	store *mailstore.Store
	id    int64

	mu     sync.Mutex
	opened []io.Closer
}

// reader returns a new reader of the body from its start; a failure to
// open it is the reader's error.
func (h *heldBody) reader() io.Reader {
	rc, err := h.store.OpenQuarantined(h.ctx, h.id)
	if err != nil {
		return errReader{fmt.Errorf("open quarantined message %d: %w", h.id, err)}
	}
	h.mu.Lock()
	h.opened = append(h.opened, rc)
	h.mu.Unlock()
	return rc
}

// close closes every reader handed out.
func (h *heldBody) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.opened {
		c.Close()
	}
	h.opened = nil
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

// Read implements io.Reader.
func (r errReader) Read([]byte) (int, error) { return 0, r.err }
