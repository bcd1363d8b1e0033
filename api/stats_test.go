package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/stats"
)

// walkStats walks GET /api/v1/stats. adm is a server admin, ann the domain
// admin of example.com, bob a user of example.com.
func (w *specWalker) walkStats(adm, ann, bob string) {
	t := w.t
	t.Helper()
	if err := stats.New(w.store).Add(context.Background(), time.Now(), map[string]int64{
		"accepted": 3, "rejected.relay_denied": 2, "delivered": 1, "filter.spam.junk": 1,
	}); err != nil {
		t.Fatal(err)
	}
	w.json(http.StatusOK, "GET", "/api/v1/stats", adm, nil)
	w.json(http.StatusOK, "GET", "/api/v1/stats?range=7d", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/stats?range=1y", adm, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/stats", ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/stats", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/stats", "", nil)
}

// TestStatsAPI checks the answer of GET /api/v1/stats over real HTTP.
func TestStatsAPI(t *testing.T) {
	var notReady atomic.Bool
	w := newSpecWalker(t, &notReady)
	ctx := context.Background()
	pair := w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": walkAdminPW})
	adm := str(t, pair, "token")
	w.json(http.StatusCreated, "POST", "/api/v1/domains", adm, map[string]any{"name": "example.com"})
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "bob@example.com", "password": "bob-password"})
	pair = w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "bob@example.com", "password": "bob-password"})
	bob := str(t, pair, "token")

	start := time.Now()
	hour := stats.Hour(start)
	add := func(at time.Time, m map[string]int64) {
		t.Helper()
		if err := stats.New(w.store).Add(ctx, at, m); err != nil {
			t.Fatal(err)
		}
	}
	add(start, map[string]int64{
		"accepted": 10, "junked": 2, "quarantined": 1, "delivered": 4, "deferred": 3, "failed": 1, "submitted": 5,
		"rejected.relay_denied": 6, "rejected.policy": 2,
		"filter.spam.junk": 2, "filter.spam.reject": 1, "filter.clamd.reject": 1, "filter.spf.reject": 7,
	})
	add(start.Add(-30*time.Hour), map[string]int64{"accepted": 100, "rejected.size": 1}) // in 7d only
	add(start.Add(-8*24*time.Hour), map[string]int64{"accepted": 1000})                  // in neither

	st := w.json(http.StatusOK, "GET", "/api/v1/stats?range=24h", adm, nil)
	if time.Now().UTC().Truncate(24*time.Hour) != start.UTC().Truncate(24*time.Hour) {
		t.Skip("the day changed during the test")
	}
	if st["range"] != "24h" || st["bucket_seconds"] != float64(3600) {
		t.Errorf("range, bucket_seconds: %v %v", st["range"], st["bucket_seconds"])
	}
	series, _ := st["series"].([]any)
	if len(series) != 24 {
		t.Fatalf("24h: %d buckets", len(series))
	}
	since, err := time.Parse(time.RFC3339, st["since"].(string))
	if err != nil || !since.Equal(hour.Add(-23*time.Hour)) {
		t.Errorf("since = %v (%v), want %v", st["since"], err, hour.Add(-23*time.Hour))
	}
	last := series[23].(map[string]any)
	want := map[string]float64{"accepted": 10, "rejected": 8, "junked": 2, "quarantined": 1, "delivered": 4, "deferred": 3, "failed": 1}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("last bucket %s = %v, want %v", k, last[k], v)
		}
	}
	if s, _ := time.Parse(time.RFC3339, last["start"].(string)); !s.Equal(hour) {
		t.Errorf("last bucket starts %v, want %v", last["start"], hour)
	}
	by, _ := last["rejected_by_reason"].(map[string]any)
	if len(by) != 2 || by["relay_denied"] != float64(6) || by["policy"] != float64(2) {
		t.Errorf("rejected_by_reason = %v", by)
	}
	for i, p := range series[:23] {
		if p.(map[string]any)["accepted"] != float64(0) {
			t.Errorf("bucket %d: %v", i, p)
		}
	}
	today := st["today"].(map[string]any)
	wantToday := map[string]float64{"received": 10, "sent": 4, "rejected": 8, "junked": 2, "quarantined": 1, "spam": 3, "virus": 1}
	for k, v := range wantToday {
		if today[k] != v {
			t.Errorf("today %s = %v, want %v", k, today[k], v)
		}
	}
	totals := st["totals"].(map[string]any)
	if totals["domains"] != float64(1) || totals["users"] != float64(1) || totals["queue"] != float64(0) || totals["quarantine"] != float64(0) {
		t.Errorf("totals = %v", totals)
	}

	st = w.json(http.StatusOK, "GET", "/api/v1/stats?range=7d", adm, nil)
	series, _ = st["series"].([]any)
	if len(series) != 168 || st["range"] != "7d" || st["bucket_seconds"] != float64(3600) {
		t.Fatalf("7d: %d buckets, %v", len(series), st["range"])
	}
	var accepted, sized float64
	for _, p := range series {
		p := p.(map[string]any)
		accepted += p["accepted"].(float64)
		if n, ok := p["rejected_by_reason"].(map[string]any)["size"]; ok {
			sized += n.(float64)
		}
	}
	if accepted != 110 || sized != 1 {
		t.Errorf("7d: accepted %v, rejected for size %v", accepted, sized)
	}

	w.json(http.StatusForbidden, "GET", "/api/v1/stats", bob, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/stats?range=30d", adm, nil)
}
