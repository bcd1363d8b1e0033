package main

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/stats"
)

// fakeAdder records Add calls, failing while fail is set.
type fakeAdder struct {
	mu    sync.Mutex
	fail  bool
	calls []map[string]int64
}

func (f *fakeAdder) Add(_ context.Context, _ time.Time, d map[string]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk full")
	}
	f.calls = append(f.calls, maps.Clone(d))
	return nil
}

func TestStatsRecorderDeltas(t *testing.T) {
	ctx := context.Background()
	counters := map[string]uint64{}
	src := func() map[string]uint64 { return maps.Clone(counters) }
	other := func() map[string]uint64 {
		return map[string]uint64{"filter." + strings.Repeat("x", 70) + ".accept": 5, "delivered": 1}
	}
	f := &fakeAdder{}
	r := newStatsRecorder(f, slog.New(slog.DiscardHandler), src, other)
	check := func(want map[string]int64) {
		t.Helper()
		if err := r.record(ctx); err != nil {
			t.Fatal(err)
		}
		var got map[string]int64
		if len(f.calls) > 0 {
			got = f.calls[len(f.calls)-1]
		}
		f.calls = nil
		if !maps.Equal(got, want) {
			t.Fatalf("deltas = %v, want %v", got, want)
		}
	}
	counters["accepted"], counters["rejected.relay_denied"] = 3, 0
	check(map[string]int64{"accepted": 3, "delivered": 1}) // from zero; long names skipped
	check(nil)                                             // nothing new: no write
	counters["accepted"], counters["rejected.relay_denied"] = 5, 2
	check(map[string]int64{"accepted": 2, "rejected.relay_denied": 2})

	// A failed write is retried with the growth since the last success.
	f.fail = true
	counters["accepted"] = 6
	if err := r.record(ctx); err == nil {
		t.Fatal("no error from a failed write")
	}
	f.fail = false
	counters["accepted"] = 7
	check(map[string]int64{"accepted": 2})

	// A counter that went down counts from zero.
	counters["accepted"] = 1
	check(map[string]int64{"accepted": 1})
}

// stopOnce returns a function that stops the wiring's servers (the
// statistics recorder records a last time), once; the test's cleanup calls
// it too.
func stopOnce(t *testing.T, w *wiring) func() {
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	}
	t.Cleanup(stop)
	return stop
}

// TestStatsWiring runs the SMTP intake and the recorder as serve does: the
// counters reach the mailstore when the supervisor stops them.
func TestStatsWiring(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "smtp", "")
	store := w.store
	w.startSMTP()
	w.startStats()
	stop := stopOnce(t, w)

	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: joe@remote.example\r\nTo: ann@example.test\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.SendMail("joe@remote.example", []string{"ann@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("joe@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); err == nil {
		t.Fatal("unknown user accepted")
	}
	c.Close()

	start := time.Now()
	stop() // records a last time
	got, err := stats.New(store).Series(ctx, start.Add(-time.Hour), time.Now().Add(time.Hour), []string{"accepted", "rejected.unknown_user", "filter.*"})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(m string) (n int64) {
		for _, c := range got[m] {
			n += c
		}
		return n
	}
	if sum("accepted") != 1 || sum("rejected.unknown_user") != 1 {
		t.Errorf("recorded %v", got)
	}
	var verdicts int64
	for m := range got {
		if strings.HasPrefix(m, "filter.") {
			verdicts += sum(m)
		}
	}
	if verdicts == 0 {
		t.Errorf("no filter verdicts recorded: %v", got)
	}
}
