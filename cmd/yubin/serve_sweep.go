package main

import (
	"context"
	"errors"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

const (
	// orphanGrace is how old a body without metadata must be before the
	// sweep removes it: a younger one may be about to be committed by a
	// process writing it now.
	orphanGrace = 15 * time.Minute
	// sweepInterval is how often the sweep runs after the one at start.
	sweepInterval = 6 * time.Hour
)

// startSweeper removes, at start and then every sweepInterval, the
// message bodies a killed process left without metadata (see
// mailstore.Store.SweepOrphanBodies).
func (w *wiring) startSweeper() {
	w.every("sweeper", sweepInterval, func(ctx context.Context) {
		n, err := w.store.SweepOrphanBodies(ctx, time.Now().Add(-orphanGrace))
		switch {
		case errors.Is(err, mailstore.ErrJobRunning):
			w.log.Info("orphan body sweep skipped: another node sweeps now")
		case err != nil && ctx.Err() == nil:
			w.log.Error("sweeping orphan message bodies failed", "err", err, "removed", n)
		case n > 0:
			w.log.Info("removed orphan message bodies (left by a process killed before it committed them)", "removed", n)
		}
	})
}

// every runs fn in the background at start and then every interval, until
// the server stops.
func (w *wiring) every(name string, interval time.Duration, fn func(ctx context.Context)) {
	w.sup.background(name, func(ctx context.Context) {
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			fn(ctx)
			t.Reset(interval)
		}
	})
}

// startSealing encrypts, once at start, the message bodies still in
// plaintext (mail stored before the encryption key was set, or by a run
// interrupted before it finished), while the server serves them.
func (w *wiring) startSealing() {
	w.sup.background("sealing", func(ctx context.Context) {
		st, err := w.store.SealExisting(ctx, func(st mailstore.SealStatus) {
			w.log.Info("encrypting the existing mail", "sealed", st.Sealed, "bodies", st.Bodies, "plaintext", st.Plain)
		})
		switch {
		case errors.Is(err, mailstore.ErrJobRunning):
			w.log.Info("another node is encrypting the existing mail; this one leaves it to it")
		case err != nil && ctx.Err() == nil:
			w.log.Error("encrypting the existing mail failed; it goes on at the next start or with yubin encrypt", "err", err, "sealed", st.Sealed, "plaintext", st.Plain)
		case err == nil && st.Plain > 0:
			w.log.Info("plaintext bodies left that no message references (the orphan sweep removes them)", "plaintext", st.Plain)
		case err == nil:
			w.log.Info("every message body is encrypted at rest", "bodies", st.Bodies)
		}
	})
}

// userKeyMoveInterval is how often the server looks for users of
// user-key mode whose older mail is not yet sealed to their key.
const userKeyMoveInterval = time.Minute

// startUserKeyMoving seals to their own key, at start and then every
// userKeyMoveInterval, the older mail of users who got a key of user-key
// mode (see mailstore.Store.MoveMailToUserKeys); a pass with nothing to do
// is one query.
func (w *wiring) startUserKeyMoving() {
	w.every("user-key sealing", userKeyMoveInterval, func(ctx context.Context) {
		n, err := w.store.MoveMailToUserKeys(ctx)
		switch {
		case errors.Is(err, mailstore.ErrJobRunning):
			// Another node moves it now.
		case err != nil && ctx.Err() == nil:
			w.log.Error("sealing older mail to the users' own keys failed; it goes on at the next pass", "err", err, "moved", n)
		case n > 0:
			w.log.Info("sealed older mail to the users' own keys", "bodies", n)
		}
	})
}
