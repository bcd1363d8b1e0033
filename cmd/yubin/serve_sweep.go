package main

import (
	"context"
	"time"
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
	w.sup.background("sweeper", func(ctx context.Context) {
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := w.store.SweepOrphanBodies(ctx, time.Now().Add(-orphanGrace))
			switch {
			case err != nil && ctx.Err() == nil:
				w.log.Error("sweeping orphan message bodies failed", "err", err, "removed", n)
			case n > 0:
				w.log.Info("removed orphan message bodies (left by a process killed before it committed them)", "removed", n)
			}
			t.Reset(sweepInterval)
		}
	})
}
