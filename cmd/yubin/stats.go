package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/outbound"
)

// Mail-flow statistics for the dashboard (GET /api/v1/stats): a recorder
// reads the servers' counters every statsInterval and at shutdown, and adds
// what they grew by to the hourly buckets of package stats.

const (
	// statsInterval is how often the counters are recorded.
	statsInterval = 30 * time.Second
	// statsWriteTimeout bounds one periodic write.
	statsWriteTimeout = 10 * time.Second
)

// statsSource returns cumulative counters by metric name.
type statsSource func() map[string]uint64

// statsAdder is where the recorder writes (a *stats.Store).
type statsAdder interface {
	Add(ctx context.Context, hour time.Time, deltas map[string]int64) error
}

// statsRecorder turns cumulative counters into hourly deltas. It is not
// safe for concurrent use.
type statsRecorder struct {
	store   statsAdder
	log     *slog.Logger
	sources []statsSource
	now     func() time.Time
	last    map[string]uint64 // the counters as last recorded
	skipped map[string]bool   // names too long to keep, logged once
}

func newStatsRecorder(store statsAdder, log *slog.Logger, sources ...statsSource) *statsRecorder {
	return &statsRecorder{
		store: store, log: log, sources: sources, now: time.Now,
		last: map[string]uint64{}, skipped: map[string]bool{},
	}
}

// record adds what the counters grew by since the last successful record
// to the current hour. A counter that went down (its server was made anew)
// counts from zero. After a failed write the same growth is tried again
// next time.
func (r *statsRecorder) record(ctx context.Context) error {
	cur := map[string]uint64{}
	for _, src := range r.sources {
		for name, n := range src() {
			if len(name) > stats.MaxMetricLen {
				if !r.skipped[name] {
					r.skipped[name] = true
					r.log.Warn("statistics: metric name too long; not recorded", "metric", name)
				}
				continue
			}
			cur[name] += n
		}
	}
	deltas := map[string]int64{}
	for name, n := range cur {
		prev := r.last[name]
		if n < prev {
			prev = 0
		}
		if d := n - prev; d > 0 {
			deltas[name] = int64(d)
		}
	}
	if len(deltas) > 0 {
		if err := r.store.Add(ctx, r.now(), deltas); err != nil {
			return err
		}
	}
	r.last = cur
	return nil
}

// run records every interval until stop is closed.
func (r *statsRecorder) run(stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), statsWriteTimeout)
			if err := r.record(ctx); err != nil {
				r.log.Warn("statistics: recording failed; retrying later", "err", err)
			}
			cancel()
		}
	}
}

// intakeStats names the SMTP intake's counters.
func intakeStats(srv *mta.Server) statsSource {
	return func() map[string]uint64 {
		st := srv.Stats()
		m := map[string]uint64{
			service.MetricAccepted:    st.Accepted,
			service.MetricJunked:      st.Junk,
			service.MetricQuarantined: st.Quarantined,
			service.MetricTempFailed:  st.TempFailed,
		}
		for reason, n := range st.Rejected {
			m[service.MetricRejectedPrefix+string(reason)] = n
		}
		return m
	}
}

// submissionStats names the submission server's counters.
func submissionStats(srv *mta.Server) statsSource {
	return func() map[string]uint64 {
		st := srv.Stats()
		return map[string]uint64{service.MetricSubmitted: st.Accepted, service.MetricDeliveredLocal: st.LocalDelivered}
	}
}

// outboundStats names the delivery worker's counters.
func outboundStats(w *outbound.Worker) statsSource {
	return func() map[string]uint64 {
		st := w.Stats()
		return map[string]uint64{
			service.MetricDelivered: st.Delivered,
			service.MetricDeferred:  st.Deferred,
			service.MetricFailed:    st.Failed,
		}
	}
}

// filterStats names the filter chain's verdicts filter.<name>.<action>
// (the chain is shared by intake and submission; "/sender" in a name is
// the MAIL FROM checks).
func filterStats(chain *filters.Chain) statsSource {
	return func() map[string]uint64 {
		m := map[string]uint64{}
		for name, byAction := range chain.Stats() {
			for action, n := range byAction {
				m[service.MetricFilterPrefix+name+"."+action.String()] = n
			}
		}
		return m
	}
}

// startStats starts recording the counters of the servers started so far
// (call it after them); it records a last time when the server stops,
// after the mail servers.
func (w *wiring) startStats() {
	var sources []statsSource
	if w.smtp != nil {
		sources = append(sources, intakeStats(w.smtp))
	}
	if w.submission != nil {
		sources = append(sources, submissionStats(w.submission))
	}
	if w.outbound != nil {
		sources = append(sources, outboundStats(w.outbound))
	}
	if w.chain != nil {
		sources = append(sources, filterStats(w.chain))
	}
	if w.store == nil || len(sources) == 0 {
		return
	}
	r := newStatsRecorder(stats.New(w.store), w.log, sources...)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		r.run(stop, statsInterval)
	}()
	w.sup.addLast(server{name: "stats", stop: func(ctx context.Context) error {
		close(stop)
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return r.record(ctx)
	}})
}

var _ statsAdder = (*stats.Store)(nil)
