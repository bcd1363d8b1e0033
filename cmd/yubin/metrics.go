package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mta/outbound"
	"github.com/yubinmail/yubin/mta/queue"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mta"
)

// newMetrics returns the registry /metrics serves: the Go runtime and
// process metrics; the protocol servers add theirs as they start.
func newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// registerConnections exports the connections a protocol's limiter holds.
func (w *wiring) registerConnections(protocol string, lim *limits.ConnLimiter) {
	if w.metrics == nil {
		return
	}
	w.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "yubin_connections",
		Help:        "Connections currently open, by protocol.",
		ConstLabels: prometheus.Labels{"protocol": protocol},
	}, func() float64 { return float64(lim.Active()) }))
}

// smtpCollector exports the SMTP intake's counters.
type smtpCollector struct {
	srv                                                *mta.Server
	sessions, accepted, junk, held, tempFailed, reject *prometheus.Desc
}

func newSMTPCollector(srv *mta.Server) *smtpCollector {
	return &smtpCollector{
		srv:        srv,
		sessions:   prometheus.NewDesc("yubin_smtp_sessions_total", "SMTP intake sessions that greeted.", nil, nil),
		accepted:   prometheus.NewDesc("yubin_smtp_messages_accepted_total", "Messages stored and acknowledged with 250.", nil, nil),
		junk:       prometheus.NewDesc("yubin_smtp_messages_junked_total", "Accepted messages filed into Junk.", nil, nil),
		held:       prometheus.NewDesc("yubin_smtp_messages_quarantined_total", "Accepted messages held in quarantine.", nil, nil),
		tempFailed: prometheus.NewDesc("yubin_smtp_tempfailed_total", "Senders and messages answered with a 4xx reply.", nil, nil),
		reject:     prometheus.NewDesc("yubin_smtp_rejected_total", "Messages and recipients refused with a 5xx reply, by reason.", []string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *smtpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.accepted
	ch <- c.junk
	ch <- c.held
	ch <- c.tempFailed
	ch <- c.reject
}

// Collect implements prometheus.Collector.
func (c *smtpCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.CounterValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(st.Accepted))
	ch <- prometheus.MustNewConstMetric(c.junk, prometheus.CounterValue, float64(st.Junk))
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.CounterValue, float64(st.Quarantined))
	ch <- prometheus.MustNewConstMetric(c.tempFailed, prometheus.CounterValue, float64(st.TempFailed))
	for reason, n := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(c.reject, prometheus.CounterValue, float64(n), string(reason))
	}
}

// filterCollector exports the filter chain's verdicts.
type filterCollector struct {
	chain *filters.Chain
	desc  *prometheus.Desc
}

func newFilterCollector(chain *filters.Chain) *filterCollector {
	return &filterCollector{chain: chain, desc: prometheus.NewDesc("yubin_filter_verdicts_total",
		"Verdicts of each filter (after its failure policy), by action; \"/sender\" names the MAIL FROM checks.",
		[]string{"filter", "action"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *filterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *filterCollector) Collect(ch chan<- prometheus.Metric) {
	for name, byAction := range c.chain.Stats() {
		for action, n := range byAction {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), name, action.String())
		}
	}
}

// registerOutbound exports the delivery worker's outcome counters and the
// size of the outbound queue.
func (w *wiring) registerOutbound(worker *outbound.Worker) {
	if w.metrics == nil || worker == nil {
		return
	}
	for _, c := range []struct {
		outcome string
		get     func(outbound.Stats) uint64
	}{
		{"delivered", func(s outbound.Stats) uint64 { return s.Delivered }},
		{"deferred", func(s outbound.Stats) uint64 { return s.Deferred }},
		{"failed", func(s outbound.Stats) uint64 { return s.Failed }},
	} {
		w.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "yubin_outbound_recipients_total",
			Help:        "Outbound delivery attempts per recipient, by outcome.",
			ConstLabels: prometheus.Labels{"outcome": c.outcome},
		}, func() float64 { return float64(c.get(worker.Stats())) }))
	}
	w.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "yubin_outbound_queue_messages",
		Help: "Messages in the outbound queue.",
	}, func() float64 {
		n, err := w.queue.Count(context.Background(), queue.Filter{})
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}
