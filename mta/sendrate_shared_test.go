package mta

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/yubinmail/yubin/internal/limits/limitsdb"
	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
)

// TestSharedSendRateIsOneBudget: two nodes (two stores on one database)
// share a user's hourly budget.
func TestSharedSendRateIsOneBudget(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var rates []*SendRate
	for range 2 {
		st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		store, err := limitsdb.OpenSendRates(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		rates = append(rates, NewSharedSendRate(5, store, quiet))
	}
	a, b := rates[0].r, rates[1].r
	if _, ok := a.reserve(1, 3); !ok {
		t.Fatal("A refuses 3 of 5")
	}
	if left := b.remaining(1); left != 2 {
		t.Fatalf("B says %d left, want 2", left)
	}
	at, ok := b.reserve(1, 2)
	if !ok {
		t.Fatal("B refuses the last 2")
	}
	if _, ok := a.reserve(1, 1); ok {
		t.Fatal("A lets a sixth recipient through")
	}
	b.release(1, 2, at)
	if left := a.remaining(1); left != 2 {
		t.Fatalf("after B's release A says %d left, want 2", left)
	}
}
