// Package spam is the spam filter of the filter chain: weighted rules over
// the message (missing header fields, forged From, HTML-only bodies,
// deceptive links, shouting subjects, executable attachments, failed
// authentication, DNS blocklists) plus a Bayesian classifier trained on the
// users' spam and ham, added up to a score that files a message as junk or
// rejects it.
//
// The MIME parser is bounded (200 parts, 10 levels, 10 MiB read) and never
// fails: whatever can be read of broken mail is scored.
package spam

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/filters"
)

// Default thresholds.
const (
	DefaultJunkScore   = 5.0
	DefaultRejectScore = 15.0
)

// Name is the filter's name.
const Name = "spam"

// Options configures a Filter.
type Options struct {
	// JunkScore is the score from which a message is filed as junk; 0
	// means DefaultJunkScore.
	JunkScore float64
	// RejectScore is the score from which a message is refused with 550
	// 5.7.1; 0 means never.
	RejectScore float64
	// DNSBLs are the DNS blocklist zones (e.g. "zen.spamhaus.org") the
	// client's IPv4 address is looked up in, each listing adding 3.0.
	// Clients that authenticated are not looked up.
	DNSBLs []string
	// Resolver answers the DNSBL queries; nil means net.DefaultResolver.
	Resolver Resolver
	// Classifier is the Bayesian classifier; nil means rules only.
	Classifier *Classifier
	// RspamdWeight multiplies the score of an rspamd stage that ran
	// before this filter in the chain (its evidence, never a header field
	// of the message) before it is added to the spam score as the rule
	// RSPAMD. 0 means DefaultRspamdWeight; a negative value leaves
	// rspamd's score out.
	RspamdWeight float64
}

// DefaultRspamdWeight is the weight of rspamd's score in the spam score:
// rspamd's scale is that of SpamAssassin and ours (junk from 5 to 6,
// reject at 15), so its score counts as is.
const DefaultRspamdWeight = 1.0

// RuleRspamd is the rule that adds rspamd's weighted score.
const RuleRspamd = "RSPAMD"

// DefaultOptions returns the recommended thresholds (junk at 5, reject at
// 15), without DNSBLs or classifier.
func DefaultOptions() Options {
	return Options{JunkScore: DefaultJunkScore, RejectScore: DefaultRejectScore}
}

// Filter is the spam filter. It is safe for concurrent use.
type Filter struct {
	opts Options
}

var _ filters.Filter = (*Filter)(nil)

// New returns a spam filter.
func New(opts Options) *Filter {
	if opts.JunkScore <= 0 {
		opts.JunkScore = DefaultJunkScore
	}
	if opts.RejectScore < 0 {
		opts.RejectScore = 0
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.RspamdWeight == 0 {
		opts.RspamdWeight = DefaultRspamdWeight
	}
	return &Filter{opts: opts}
}

// Name returns "spam".
func (f *Filter) Name() string { return Name }

// Result is the outcome of scoring a message.
type Result struct {
	// Score is the total, rounded to one decimal.
	Score float64
	// Hits are the rules that matched, including the Bayesian
	// classifier's BAYES_* once it is trained.
	Hits []Hit
	// Bayes is the classifier's spam probability (0.5 when untrained or
	// without a classifier); Clues are its most telling tokens.
	Bayes float64
	Clues []Clue
	// BayesErr is the classifier's failure, if it failed; the score is then
	// that of the rules alone.
	BayesErr error
	// Rspamd is rspamd's own score when an rspamd stage ran before, and
	// HasRspamd says so.
	Rspamd    float64
	HasRspamd bool
}

// Score scores msg.
func (f *Filter) Score(ctx context.Context, msg *filters.Message) (*Result, error) {
	pm := parseMessageOf(ctx, msg)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Bayes: 0.5}
	res.Hits = scoreRules(pm, msg.Conn.Hostname)
	if len(f.opts.DNSBLs) > 0 && msg.Conn.AuthUser == "" && msg.Conn.RemoteAddr.IsValid() {
		res.Hits = append(res.Hits, checkDNSBLs(ctx, f.opts.Resolver, msg.Conn.RemoteAddr.Addr(), f.opts.DNSBLs)...)
	}
	if score, ok := rspamdScore(msg.Prior); ok && f.opts.RspamdWeight > 0 {
		res.Rspamd, res.HasRspamd = score, true
		res.Hits = append(res.Hits, Hit{Rule: RuleRspamd, Score: score * f.opts.RspamdWeight,
			Detail: "rspamd score " + strconv.FormatFloat(score, 'f', 2, 64) + " x " + strconv.FormatFloat(f.opts.RspamdWeight, 'f', -1, 64)})
	}
	if f.opts.Classifier != nil {
		p, clues, err := f.opts.Classifier.classifyTokens(ctx, func() []string { return tokenize(pm) }, Scopes(msg.Users))
		switch {
		case errors.Is(err, errUntrained):
		case err != nil:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			res.BayesErr = err
		default:
			res.Bayes, res.Clues = p, clues
			res.Hits = append(res.Hits, Hit{Rule: bayesRule(p), Score: (p - 0.5) * 10, Detail: bayesDetail(p, clues)})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var total float64
	for _, h := range res.Hits {
		total += h.Score
	}
	res.Score = math.Round(total*10) / 10
	if res.Score == 0 {
		res.Score = 0 // not -0
	}
	return res, nil
}

// rspamdScore returns the score in the evidence of an rspamd stage that
// checked the message (not one that failed or was skipped).
func rspamdScore(prior []filters.Evidence) (float64, bool) {
	for _, e := range prior {
		if e.Filter != "rspamd" || e.Result == "error" || e.Result == "skipped" {
			continue
		}
		if math.IsNaN(e.Score) || math.IsInf(e.Score, 0) {
			continue
		}
		return e.Score, true
	}
	return 0, false
}

// bayesRule names the probability's bucket as SpamAssassin does.
func bayesRule(p float64) string {
	switch {
	case p < 0.01:
		return "BAYES_00"
	case p < 0.05:
		return "BAYES_05"
	case p < 0.2:
		return "BAYES_20"
	case p < 0.4:
		return "BAYES_40"
	case p < 0.6:
		return "BAYES_50"
	case p < 0.8:
		return "BAYES_60"
	case p < 0.95:
		return "BAYES_80"
	case p < 0.99:
		return "BAYES_95"
	}
	return "BAYES_99"
}

func bayesDetail(p float64, clues []Clue) string {
	// As fmt's "spam probability %.4f" and " %q=%.3f", with fewer
	// allocations.
	b := make([]byte, 0, 128)
	b = append(b, "spam probability "...)
	b = appendFixed(b, p, 4)
	for i, c := range clues {
		if i == 5 {
			break
		}
		if i == 0 {
			b = append(b, "; clues:"...)
		}
		b = append(b, ' ')
		b = strconv.AppendQuote(b, c.Token)
		b = append(b, '=')
		b = appendFixed(b, c.Prob, 3)
	}
	return string(b)
}

// appendFixed appends f formatted as fmt's "%.<prec>f" does (which is
// strconv's 'f' format, "+Inf" included).
func appendFixed(b []byte, f float64, prec int) []byte {
	return strconv.AppendFloat(b, f, 'f', prec, 64)
}

// Thresholds returns the junk and reject scores (0: never reject) for a
// message with policy p: the domains' thresholds in p, or the lower of
// them and the filter's own when p says the filter's apply too.
func (f *Filter) Thresholds(p filters.Policy) (junk, reject float64) {
	return filters.Threshold(p.JunkScore, p.ServerJunkScore, f.opts.JunkScore),
		filters.Threshold(p.RejectScore, p.ServerRejectScore, f.opts.RejectScore)
}

// Check scores msg and files it as junk from JunkScore, or rejects it from
// RejectScore, both as adjusted by msg.Policy (see Thresholds). It adds X-Spam-Score and X-Spam-Status (removing any the
// message came with) and lists each rule that matched as Evidence. It fails
// only when ctx is done; a failing classifier is reported as Evidence with
// Result "error" and the rules alone decide.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	res, err := f.Score(ctx, msg)
	if err != nil {
		return filters.Verdict{}, err
	}
	var v filters.Verdict
	junk, reject := f.Thresholds(msg.Policy)
	isSpam := res.Score >= junk
	switch {
	case reject > 0 && res.Score >= reject:
		v.Action, v.Code, v.EnhancedCode, v.Reason = filters.Reject, 550, [3]int{5, 7, 1}, "message looks like spam"
	case isSpam:
		v.Action, v.Reason = filters.Junk, fmt.Sprintf("spam score %.1f", res.Score)
	}
	// The rules that matched, each once, for X-Spam-Status.
	tests := make([]string, 0, len(res.Hits))
	v.Evidence = make([]filters.Evidence, 0, len(res.Hits)+1)
	for _, h := range res.Hits {
		if !slices.Contains(tests, h.Rule) {
			tests = append(tests, h.Rule)
		}
		v.Evidence = append(v.Evidence, filters.Evidence{Filter: Name, Result: h.Rule, Detail: h.Detail, Score: h.Score})
	}
	if res.BayesErr != nil {
		v.Evidence = append(v.Evidence, filters.Evidence{Filter: Name, Result: "error", Detail: res.BayesErr.Error()})
	}
	if len(v.Evidence) == 0 {
		v.Evidence = nil
	}
	yes := "No"
	if isSpam {
		yes = "Yes"
	}
	testList := "none"
	if len(tests) > 0 {
		testList = strings.Join(tests, ",")
	}
	// X-Spam-Score is "%.1f" of the score; X-Spam-Status is
	// "%s, score=%.1f required=%.1f tests=%s", built without fmt.
	score := string(appendFixed(nil, res.Score, 1))
	status := make([]byte, 0, 64+len(testList))
	status = append(status, yes...)
	status = append(status, ", score="...)
	status = append(status, score...)
	status = append(status, " required="...)
	status = appendFixed(status, junk, 1)
	status = append(status, " tests="...)
	status = append(status, testList...)
	if res.HasRspamd {
		status = append(status, " rspamd="...)
		status = appendFixed(status, res.Rspamd, 2)
	}
	v.RemoveHeaders = []string{"X-Spam-Score", "X-Spam-Status", "X-Spam-Flag"}
	v.AddHeaders = []filters.HeaderField{
		{Key: "X-Spam-Score", Value: score},
		{Key: "X-Spam-Status", Value: string(status)},
	}
	return v, nil
}
