package stats_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// openTestStore returns statistics kept in a new mailstore.
func openTestStore(t *testing.T) *stats.Store {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return stats.New(st)
}

func TestStatsUpsertAddsUp(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	h := time.Date(2030, 5, 6, 7, 0, 0, 0, time.UTC)
	if err := s.Add(ctx, h.Add(10*time.Minute), map[string]int64{"accepted": 2, "rejected.relay_denied": 1, "junked": 0}); err != nil {
		t.Fatal(err)
	}
	// Another zone, same hour.
	local := h.Add(59 * time.Minute).In(time.FixedZone("X", 5*3600+1800))
	if err := s.Add(ctx, local, map[string]int64{"accepted": 3}); err != nil {
		t.Fatal(err)
	}
	// Concurrent writers are grouped; every delta counts.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Add(ctx, h, map[string]int64{"delivered": 1, "accepted": 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Series(ctx, h, h.Add(time.Hour), []string{"accepted", "delivered", "junked"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"accepted": {25}, "delivered": {20}, "junked": {0}}
	if !equalSeries(got, want) {
		t.Fatalf("series = %v, want %v", got, want)
	}
	// A zero-delta map writes nothing; invalid names are refused.
	if err := s.Add(ctx, h, map[string]int64{"x": 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, h, map[string]int64{"": 1}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("empty metric: %v", err)
	}
	long := make([]byte, 65)
	for i := range long {
		long[i] = 'a'
	}
	if err := s.Add(ctx, h, map[string]int64{string(long): 1}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("long metric: %v", err)
	}
}

func TestStatsSeriesZeroFilled(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	since := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, add := range []struct {
		at time.Time
		m  map[string]int64
	}{
		{since.Add(-time.Minute), map[string]int64{"accepted": 100}}, // before the range
		{since.Add(30 * time.Minute), map[string]int64{"accepted": 1, "rejected.relay_denied": 4}},
		{since.Add(3*time.Hour + time.Second), map[string]int64{"accepted": 2, "rejected.policy": 1, "REJECTED.loud": 7}}, // prefixes match case and all
		{since.Add(4 * time.Hour), map[string]int64{"accepted": 50, "rejected_x": 9}},                                     // until is exclusive
	} {
		if err := s.Add(ctx, add.at, add.m); err != nil {
			t.Fatal(err)
		}
	}
	// since is truncated to the hour; 4 buckets.
	got, err := s.Series(ctx, since.Add(20*time.Minute), since.Add(4*time.Hour), []string{"accepted", "failed", "rejected.*"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{
		"accepted":              {1, 0, 0, 2},
		"failed":                {0, 0, 0, 0},
		"rejected.relay_denied": {4, 0, 0, 0},
		"rejected.policy":       {0, 0, 0, 1},
	}
	if !equalSeries(got, want) {
		t.Fatalf("series = %v, want %v", got, want)
	}
	// A partial last hour is a bucket too.
	got, err = s.Series(ctx, since, since.Add(4*time.Hour+time.Minute), []string{"accepted"})
	if err != nil {
		t.Fatal(err)
	}
	if w := []int64{1, 0, 0, 2, 50}; !slices.Equal(got["accepted"], w) {
		t.Fatalf("accepted = %v, want %v", got["accepted"], w)
	}
	// No metrics: all with counts in range.
	got, err = s.Series(ctx, since, since.Add(2*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int64{"accepted": {1, 0}, "rejected.relay_denied": {4, 0}}; !equalSeries(got, want) {
		t.Fatalf("all = %v, want %v", got, want)
	}
	if _, err := s.Series(ctx, since, since, nil); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("empty range: %v", err)
	}
	if _, err := s.Series(ctx, since, since.Add(400*24*time.Hour), nil); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("huge range: %v", err)
	}
}

func TestStatsPruning(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	now := time.Now()
	old := now.Add(-stats.Retention - 48*time.Hour)
	kept := now.Add(-stats.Retention + 48*time.Hour)
	for _, at := range []time.Time{kept, old} { // old last: written after its hour's pruning
		if err := s.Add(ctx, at, map[string]int64{"accepted": 1}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(at time.Time) int64 {
		t.Helper()
		got, err := s.Series(ctx, at, at.Add(time.Hour), []string{"accepted"})
		if err != nil {
			t.Fatal(err)
		}
		return got["accepted"][0]
	}
	if count(old) != 1 || count(kept) != 1 {
		t.Fatalf("before pruning: old %d, kept %d", count(old), count(kept))
	}
	// The first write of a new hour prunes.
	if err := s.Add(ctx, now, map[string]int64{"accepted": 1}); err != nil {
		t.Fatal(err)
	}
	if count(old) != 0 || count(kept) != 1 || count(now) != 1 {
		t.Fatalf("after pruning: old %d, kept %d, now %d", count(old), count(kept), count(now))
	}
}

func equalSeries(a, b map[string][]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
