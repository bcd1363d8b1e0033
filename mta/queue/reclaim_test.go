package queue

import (
	"context"
	"testing"
	"time"
)

// TestReclaimOutbound: a restarted node takes back its own claims at once,
// leaving those of other nodes sharing the database to their lease.
func TestReclaimOutbound(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	enqueueTest(t, s, "a@example.com", "x@one.example")
	enqueueTest(t, s, "a@example.com", "y@two.example")
	now := time.Now()
	mine, err := s.ClaimDue(ctx, "node-a/1234", now, 1, time.Hour)
	if err != nil || len(mine) != 1 {
		t.Fatalf("claim: %v %v", mine, err)
	}
	theirs, err := s.ClaimDue(ctx, "node-b/5678", now, 1, time.Hour)
	if err != nil || len(theirs) != 1 {
		t.Fatalf("claim: %v %v", theirs, err)
	}
	n, err := s.Reclaim(ctx, "node-a/")
	if err != nil || n != 1 {
		t.Fatalf("reclaimed %d (%v), want 1", n, err)
	}
	again, err := s.ClaimDue(ctx, "node-a/9999", time.Now(), 10, time.Hour)
	if err != nil || len(again) != 1 || again[0].Message.ID != mine[0].Message.ID {
		t.Fatalf("after reclaiming, claimable: %+v (%v); want only node-a's message", again, err)
	}
	if n, err := s.Reclaim(ctx, "node-"); err != nil || n != 2 {
		t.Errorf("reclaim by a wider prefix: %d (%v), want 2", n, err)
	}
}
