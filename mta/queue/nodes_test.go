package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/testdb"
)

// TestClaimsAcrossNodes: two nodes (each its own data folder and
// connections) on one PostgreSQL database, each with several workers
// claiming at once, never claim one recipient twice, and between them
// claim every one.
func TestClaimsAcrossNodes(t *testing.T) {
	dsn := testdb.Postgres(t)
	ctx := context.Background()
	a := openQueueOn(t, t.TempDir(), dsn)
	b := openQueueOn(t, t.TempDir(), dsn)
	const messages = 60
	total := 0
	for i := range messages {
		rcpts := []string{"a@one.example", "b@one.example", "c@two.example", "d@three.example"}[:1+i%4]
		enqueueTest(t, []*testQueue{a, b}[i%2], "ann@example.com", rcpts...)
		total += len(rcpts)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			node := []*testQueue{a, b}[w%2]
			worker := []string{"node-a/", "node-b/"}[w%2] + string(rune('0'+w))
			for {
				claims, err := node.ClaimDue(ctx, worker, time.Now(), 2, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, c := range claims {
					for _, r := range c.Recipients {
						if other, ok := seen[r.ID]; ok {
							t.Errorf("recipient %d claimed by %s and %s", r.ID, other, worker)
						}
						if r.ClaimedBy != worker || r.Status != StatusDelivering {
							t.Errorf("%s got recipient %+v", worker, r)
						}
						seen[r.ID] = worker
					}
				}
				done := len(seen) == total
				mu.Unlock()
				// A worker that found nothing may have met rows another
				// is claiming: it stops once all are claimed.
				if done {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d recipients of %d", len(seen), total)
	}
	workers := map[string]bool{}
	for _, w := range seen {
		workers[w[:7]] = true
	}
	if len(workers) != 2 {
		t.Logf("only %v claimed (the other node's workers found nothing left)", workers)
	}
}

// TestClaimSkipsLockedRows: while node A's transaction holds the rows of a
// message locked, node B's claim passes them over and takes the next
// message instead of waiting for A (SELECT ... FOR UPDATE SKIP LOCKED).
func TestClaimSkipsLockedRows(t *testing.T) {
	dsn := testdb.Postgres(t)
	ctx := context.Background()
	a := openQueueOn(t, t.TempDir(), dsn)
	b := openQueueOn(t, t.TempDir(), dsn)
	first := enqueueTest(t, a, "ann@example.com", "x@one.example")
	second := enqueueTest(t, a, "ann@example.com", "y@one.example")

	type result struct {
		claims []Claim
		err    error
	}
	var got *result
	done := make(chan result, 1)
	started := false
	err := a.store.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var ids []int64
		if err := tx.Raw("SELECT id FROM outbound_recipients WHERE message_id = ? FOR UPDATE", first.ID).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) != 1 {
			return fmt.Errorf("locked recipients %v, want one", ids)
		}
		if got != nil { // fn may run more than once
			return nil
		}
		if !started {
			started = true
			go func() {
				cs, err := b.ClaimDue(ctx, "node-b/1", time.Now(), 10, time.Hour)
				done <- result{cs, err}
			}()
		}
		// Poll (no deadline) until B answers or waits for a lock; its
		// waiting is the failure, which then ends when this commits.
		for {
			select {
			case r := <-done:
				got = &r
				return nil
			default:
			}
			var waiting int64
			err := tx.Raw("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting).Error
			if err != nil {
				return err
			}
			if waiting > 0 {
				t.Errorf("node B waits for the rows node A holds instead of skipping them")
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		return
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.claims) != 1 || got.claims[0].Message.ID != second.ID {
		t.Fatalf("node B claimed %+v, want only message %d", got.claims, second.ID)
	}
	// Once A's transaction ended, the first message is claimable again.
	cs, err := b.ClaimDue(ctx, "node-b/2", time.Now(), 10, time.Hour)
	if err != nil || len(cs) != 1 || cs[0].Message.ID != first.ID {
		t.Fatalf("after A's commit B claimed %+v (%v), want message %d", cs, err, first.ID)
	}
}
