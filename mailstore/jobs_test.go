package mailstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestTwoNodesSealOneAtATime starts SealExisting on two nodes of one
// database at once: node A's pass holds the job until node B's call has
// returned, and B's is skipped (ErrJobRunning) without sealing anything;
// A seals every body; afterwards B's pass runs and finds nothing left.
func TestTwoNodesSealOneAtATime(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	var shared Options
	a, b := openTwoNodes(t, func(o *Options) { shared, o.Sealer = *o, sealer })
	u := newTestUser(t, a, "bob@example.com")
	// A third node without the server key stores mail in plaintext.
	plain := shared
	plain.Dir = t.TempDir()
	c, err := Open(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	deliverMany(t, c, u.ID, n)
	c.Close()

	bDone := make(chan error, 1)
	var bStatus SealStatus
	started := false
	stA, errA := a.SealExisting(ctx, func(SealStatus) {
		if started {
			return
		}
		started = true
		// A holds the job now: B races it.
		go func() {
			var err error
			bStatus, err = b.SealExisting(ctx, nil)
			bDone <- err
		}()
		if err := <-bDone; !errors.Is(err, ErrJobRunning) {
			t.Errorf("node B's pass while A's runs: %+v, %v; want ErrJobRunning", bStatus, err)
		} else if bStatus != (SealStatus{}) {
			t.Errorf("node B's skipped pass counted %+v", bStatus)
		}
	})
	if errA != nil || !started || stA.Sealed != n || stA.Plain != 0 {
		t.Fatalf("node A's pass: %+v, %v (progress called: %v)", stA, errA, started)
	}
	stB, err := b.SealExisting(ctx, nil)
	if err != nil || stB.Sealed != n || stB.Plain != 0 {
		t.Fatalf("node B's pass after A's: %+v, %v", stB, err)
	}
	checkAllReadable(t, b, u.ID, n)
}

// TestTwoNodesPeriodicJobsExclusive holds each periodic job's lock on node
// A and runs the job on node B meanwhile: B skips it with ErrJobRunning
// (other jobs run), and runs it once A is done.
func TestTwoNodesPeriodicJobsExclusive(t *testing.T) {
	ctx := context.Background()
	a, b := openTwoNodes(t)
	u := newTestUser(t, a, "bob@example.com")
	deliverMany(t, a, u.ID, 2)
	inbox, err := a.GetMailbox(ctx, u.ID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	expunge := func() {
		t.Helper()
		msgs, err := a.ListMessages(ctx, inbox.ID, nil)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("messages: %d, %v", len(msgs), err)
		}
		if err := a.DeleteMessages(ctx, inbox.ID, []uint32{msgs[0].UID}); err != nil {
			t.Fatal(err)
		}
	}
	runs := map[string]func() error{
		jobSweepOrphans: func() error {
			_, err := b.SweepOrphanBodies(ctx, time.Now().Add(-time.Hour))
			return err
		},
		jobReleaseExpunged: func() error {
			_, err := b.ReleaseExpunged(ctx, time.Now().Add(time.Hour))
			return err
		},
	}
	for job, run := range runs {
		if job == jobReleaseExpunged {
			expunge() // something to release, or the run ends before the lock
		}
		err := a.exclusive(ctx, job, func() error {
			if err := run(); !errors.Is(err, ErrJobRunning) {
				t.Errorf("%s on node B while A holds it: %v, want ErrJobRunning", job, err)
			}
			for other, r := range runs {
				if other != job {
					if err := r(); err != nil {
						t.Errorf("%s on node B while A holds %s: %v", other, job, err)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := run(); err != nil {
			t.Errorf("%s on node B after A: %v", job, err)
		}
	}
}
