package service

import (
	"context"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/mailstore"
)

// Mail-flow statistics for the dashboard: server admins only. The counts
// come from the hourly buckets the server records (stats.Store.Add);
// the metric names are the Metric* constants.

// Metric names recorded by the server and read by Stats.
const (
	MetricAccepted    = "accepted"    // messages the intake stored
	MetricJunked      = "junked"      // of those, filed into Junk
	MetricQuarantined = "quarantined" // of those, held for an administrator
	MetricTempFailed  = "tempfailed"  // 4xx replies of the intake
	MetricDelivered   = "delivered"   // outbound recipients delivered
	// MetricDeliveredLocal counts the local recipients of submitted mail
	// (delivered at once, never queued).
	MetricDeliveredLocal = "delivered.local"
	MetricDeferred       = "deferred"  // outbound attempts deferred
	MetricFailed         = "failed"    // outbound recipients bounced
	MetricSubmitted      = "submitted" // messages users submitted
	// MetricRejectedPrefix is followed by the reason (mta.RejectReason).
	MetricRejectedPrefix = "rejected."
	// MetricFilterPrefix is followed by "<filter>.<action>" (filters.Chain
	// verdicts).
	MetricFilterPrefix = "filter."
)

// The filter verdicts counted as spam and as viruses.
var (
	spamMetrics  = []string{MetricFilterPrefix + "spam.junk", MetricFilterPrefix + "spam.reject"}
	virusMetrics = []string{MetricFilterPrefix + "clamd.reject"}
)

// StatsBucketSeconds is the length of a Stats series bucket.
const StatsBucketSeconds = 3600

// statsRanges are the ranges Stats accepts, in hourly buckets.
var statsRanges = map[string]int{"24h": 24, "7d": 7 * 24}

// statsNow is the clock of Stats (tests move it).
var statsNow = time.Now

// MailStats is the dashboard's overview.
type MailStats struct {
	Range         string
	BucketSeconds int
	Since         time.Time // start of the first bucket
	Totals        StatsTotals
	Today         StatsToday
	Series        []StatsPoint
}

// StatsTotals is the size of the server now.
type StatsTotals struct {
	Domains      int64
	Users        int64
	StorageBytes int64
	Queue        int64 // outbound messages with a recipient waiting for an attempt
	Quarantine   int64
}

// StatsToday sums the counts since midnight UTC.
type StatsToday struct {
	Received    int64
	Sent        int64
	Rejected    int64
	Junked      int64
	Quarantined int64
	Spam        int64
	Virus       int64
}

// StatsPoint is one bucket of the series.
type StatsPoint struct {
	Start            time.Time
	Accepted         int64
	Rejected         int64
	Junked           int64
	Quarantined      int64
	Delivered        int64
	Deferred         int64
	Failed           int64
	RejectedByReason map[string]int64 // non-zero reasons only
}

// Stats returns the mail-flow statistics over rng ("24h", the default, or
// "7d") in hourly buckets ending with the current hour, today's sums and
// the server's totals.
func (s *Service) Stats(ctx context.Context, a Actor, rng string) (*MailStats, error) {
	if !a.IsAdmin() {
		return nil, forbidden("mail statistics")
	}
	if rng == "" {
		rng = "24h"
	}
	n, ok := statsRanges[rng]
	if !ok {
		return nil, core.Invalid("range", `must be "24h" or "7d"`)
	}
	now := statsNow().UTC()
	until := stats.Hour(now).Add(time.Hour)
	since := until.Add(-time.Duration(n) * time.Hour)
	out := &MailStats{Range: rng, BucketSeconds: StatsBucketSeconds, Since: since}

	var err error
	if out.Totals, err = s.statsTotals(ctx); err != nil {
		return nil, err
	}
	series, err := s.stats.Series(ctx, since, until, []string{
		MetricAccepted, MetricJunked, MetricQuarantined,
		MetricDelivered, MetricDeliveredLocal, MetricDeferred, MetricFailed, MetricRejectedPrefix + "*",
	})
	if err != nil {
		return nil, err
	}
	out.Series = make([]StatsPoint, n)
	for i := range out.Series {
		p := &out.Series[i]
		p.Start = since.Add(time.Duration(i) * time.Hour)
		p.Accepted = series[MetricAccepted][i]
		p.Junked = series[MetricJunked][i]
		p.Quarantined = series[MetricQuarantined][i]
		p.Delivered = series[MetricDelivered][i] + series[MetricDeliveredLocal][i]
		p.Deferred = series[MetricDeferred][i]
		p.Failed = series[MetricFailed][i]
		p.RejectedByReason = map[string]int64{}
	}
	for metric, counts := range series {
		reason, ok := strings.CutPrefix(metric, MetricRejectedPrefix)
		if !ok {
			continue
		}
		for i, c := range counts {
			if c != 0 {
				out.Series[i].RejectedByReason[reason] += c
				out.Series[i].Rejected += c
			}
		}
	}

	midnight := now.Truncate(24 * time.Hour) // UTC days
	today, err := s.stats.Series(ctx, midnight, until, append([]string{
		MetricAccepted, MetricDelivered, MetricDeliveredLocal, MetricJunked, MetricQuarantined, MetricRejectedPrefix + "*",
	}, append(spamMetrics, virusMetrics...)...))
	if err != nil {
		return nil, err
	}
	sum := func(metrics ...string) int64 {
		var t int64
		for _, m := range metrics {
			for _, c := range today[m] {
				t += c
			}
		}
		return t
	}
	var rejected []string
	for m := range today {
		if strings.HasPrefix(m, MetricRejectedPrefix) {
			rejected = append(rejected, m)
		}
	}
	out.Today = StatsToday{
		Received: sum(MetricAccepted),
		// Sent mail counts per recipient: remote ones when the outbound
		// queue delivered it, local ones when submission stored it.
		Sent:        sum(MetricDelivered, MetricDeliveredLocal),
		Rejected:    sum(rejected...),
		Junked:      sum(MetricJunked),
		Quarantined: sum(MetricQuarantined),
		Spam:        sum(spamMetrics...),
		Virus:       sum(virusMetrics...),
	}
	return out, nil
}

// statsTotals counts domains, users, stored bytes, the outbound queue and
// the quarantine.
func (s *Service) statsTotals(ctx context.Context) (StatsTotals, error) {
	var t StatsTotals
	domains, err := s.store.ListDomains(ctx)
	if err != nil {
		return t, err
	}
	t.Domains = int64(len(domains))
	for _, d := range domains {
		t.StorageBytes += d.UsedBytes
	}
	if t.Users, err = s.store.CountUsers(ctx, mailstore.UserFilter{}); err != nil {
		return t, err
	}
	if t.Queue, err = s.countQueued(ctx); err != nil {
		return t, err
	}
	if t.Quarantine, err = s.store.CountQuarantine(ctx, mailstore.QuarantineFilter{}); err != nil {
		return t, err
	}
	return t, nil
}
