package main

import (
	"context"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/authn"
	"github.com/yubinmail/yubin/filters/clamd"
	"github.com/yubinmail/yubin/filters/milter"
	"github.com/yubinmail/yubin/filters/rspamd"
	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
)

// Filter timeouts: DNS-based checks are bounded by the resolver's own
// timeouts; scanners may take a while on large messages.
const (
	authnTimeout   = 30 * time.Second
	spamTimeout    = 30 * time.Second
	scannerTimeout = 2 * time.Minute
)

// newFilterChain builds the chain every inbound message goes through, in
// the order of YUBIN_FILTERS; by default: sender authentication (SPF, DKIM,
// DMARC → one Authentication-Results field), the virus scanner (clamd, if
// configured), a milter (if configured), rspamd (if configured), and the
// built-in spam score (rules and the Bayes classifier, which reads the
// authentication results, so it belongs after authn). The authentication
// and spam stages fail open: a broken check must not stop mail. Remote
// scanners follow their *_ON_ERROR setting.
//
// The recipients' domains adjust it per message (Message.Policy, filled by
// mta): clamd and the spam stage are skipped when they turn them off, the
// spam filter takes their thresholds, authn their DMARC enforcement.
func (w *wiring) newFilterChain() *filters.Chain {
	res := w.dnsResolver()
	var stages []filters.Stage
	for _, name := range w.cfg.Filters {
		if !w.cfg.FilterEnabled(name) {
			continue
		}
		switch name {
		case "authn":
			stages = append(stages, filters.Stage{
				Filter:  authn.New(authn.Options{Hostname: w.cfg.Hostname, Resolver: res, RejectSPFFail: w.cfg.SPFRejectFail, Logger: w.log}),
				Enabled: true, OnError: filters.FailOpen, Timeout: authnTimeout,
			})
		case "clamd":
			client := &clamd.Client{Addr: w.cfg.Clamd, Timeout: scannerTimeout}
			if w.sup != nil {
				// Its idle sessions end once the servers using it stopped.
				w.sup.addLast(server{name: "clamd-sessions", stop: func(context.Context) error { return client.Close() }})
			}
			if policy(w.cfg.ClamdOnError) != filters.FailOpen {
				// Mail waits while clamd is down: the server is not ready.
				w.readyChecks = append(w.readyChecks, readyCheck{name: "clamd", check: client.Ping})
			}
			f := clamd.NewFilter(client)
			f.Scope = clamdScope(w.cfg.ClamdScan)
			stages = append(stages, filters.Stage{
				Filter:  f,
				Enabled: true, OnError: policy(w.cfg.ClamdOnError), Timeout: scannerTimeout,
				// clamd reads the message as received: its round trip
				// overlaps sender authentication.
				Concurrent: true,
				SkipWhen:   func(m *filters.Message) bool { return m.Policy.SkipVirus },
			})
		case "milter":
			stages = append(stages, filters.Stage{
				Filter:  &milter.Filter{Addr: w.cfg.Milter, Timeout: scannerTimeout},
				Enabled: true, OnError: policy(w.cfg.MilterOnError), Timeout: scannerTimeout,
			})
		case "rspamd":
			stages = append(stages, filters.Stage{
				Filter:  rspamd.NewFilter(&rspamd.Client{URL: w.cfg.Rspamd, Timeout: scannerTimeout}),
				Enabled: true, OnError: policy(w.cfg.RspamdOnError), Timeout: scannerTimeout,
			})
		case "spam":
			classifier, err := w.spamClassifier()
			if err != nil {
				// serve opened it before: not reached there.
				w.log.Error("the Bayes token counts cannot be opened: spam is judged without them", "err", err)
			}
			rspamdWeight := w.cfg.RspamdWeight
			if rspamdWeight == 0 {
				rspamdWeight = -1 // left out
			}
			stages = append(stages, filters.Stage{
				Filter: spam.New(spam.Options{
					JunkScore:   w.cfg.SpamJunkScore,
					RejectScore: w.cfg.SpamRejectScore,
					DNSBLs:      w.cfg.DNSBLs,
					Resolver:    res,
					Classifier:  classifier,
					// rspamd's score, when it ran before (Stage order).
					RspamdWeight: rspamdWeight,
				}),
				Enabled: true, OnError: filters.FailOpen, Timeout: spamTimeout,
				SkipWhen: func(m *filters.Message) bool { return m.Policy.SkipSpam },
			})
		}
	}
	c := filters.NewChain(w.log, stages...)
	w.log.Info("inbound filter chain", "stages", c.Stages())
	return c
}

// clamdScope turns YUBIN_CLAMD_SCAN (validated by config) into a scan
// scope.
func clamdScope(s string) clamd.Scope {
	if sc, err := clamd.ParseScope(s); err == nil {
		return sc
	}
	return clamd.ScopeAuto
}

// policy turns a *_ON_ERROR setting into a failure policy.
func policy(s string) filters.FailurePolicy {
	if s == "open" {
		return filters.FailOpen
	}
	return filters.FailTempFail
}

// spamClassifier returns the Bayesian spam classifier on the token counts
// in the store, with the server's scope and one per domain and per user
// (spam.Scopes). The counts are opened once: the filter chain, Junk
// training and the API share them, and so their cache, which training
// keeps current.
func (w *wiring) spamClassifier() (*spam.Classifier, error) {
	if w.bayes == nil {
		bs, err := bayesdb.Open(context.Background(), w.store)
		if err != nil {
			return nil, err
		}
		w.bayes = bs
	}
	return bayesClassifier(w.bayes), nil
}

// bayesClassifier returns the spam classifier on bs, with the server's
// scope and one per domain and per user (spam.Scopes).
func bayesClassifier(bs *bayesdb.Store) *spam.Classifier {
	return spam.NewClassifier(bs).WithScopes(func(scope string) spam.TokenStore { return bs.Scope(scope) })
}
