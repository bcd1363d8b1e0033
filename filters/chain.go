package filters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"
)

// Filter is one stage of the chain.
//
// Check inspects msg and returns a verdict. When it returns an error, its
// verdict is ignored and the stage's FailurePolicy applies. Check must
// respect ctx: when ctx is done the chain stops waiting for it and moves on
// (its eventual result is discarded). Check may be called concurrently for
// different messages.
type Filter interface {
	// Name returns a short, stable, lower-case name (e.g. "spf"), used in
	// logs, Evidence and Stats.
	Name() string
	// Check returns the filter's verdict on msg.
	Check(ctx context.Context, msg *Message) (Verdict, error)
}

// EnvelopeFilter is optionally implemented by filters that can decide early,
// at MAIL FROM, before the message is transferred (e.g. SPF).
type EnvelopeFilter interface {
	// CheckSender returns the filter's verdict on a sender. from is ""
	// for the null sender.
	CheckSender(ctx context.Context, conn ConnInfo, from string) (Verdict, error)
}

// Stage is a filter in a chain, with how to run it.
type Stage struct {
	// Filter is the filter to run.
	Filter Filter
	// Enabled must be true for the stage to run.
	Enabled bool
	// OnError says what to do when the filter fails.
	OnError FailurePolicy
	// Timeout bounds the filter's run time, on top of the deadline of the
	// context given to the chain. 0 means no extra timeout.
	Timeout time.Duration
	// Concurrent marks a filter that reads only the message as received,
	// not the header fields earlier stages add: Check starts it together
	// with the first stage instead of after the stages before it, so that
	// a remote scanner's round trip overlaps the local checks. Its verdict
	// is still merged in its place in the order; if an earlier stage ends
	// the chain (Reject, TempFail), it is cancelled and its verdict
	// dropped.
	Concurrent bool
	// SkipWhen, if not nil, is asked before each Check (not CheckSender):
	// when it returns true the filter is not run for the message, which
	// gets Evidence with Result "skipped" instead (e.g. a filter its
	// recipients' domains turned off, see Message.Policy). Skips are not
	// counted in Stats.
	SkipWhen func(*Message) bool
}

// SkippedDetail is the Detail of the Evidence of a stage skipped by its
// SkipWhen.
const SkippedDetail = "skipped by domain policy"

// stage is a Stage prepared for running.
type stage struct {
	Stage
	name        string
	sender      EnvelopeFilter // nil if Filter is no EnvelopeFilter
	counts      *actionCounts  // for Check
	senderCount *actionCounts  // for CheckSender; nil if sender is nil
}

// actionCounts counts verdicts by action.
type actionCounts [numActions]atomic.Uint64

// senderStatsSuffix is appended to a filter name for the statistics of its
// CheckSender calls.
const senderStatsSuffix = "/sender"

// Chain runs a message through filter stages in order and combines their
// verdicts:
//
//   - the most severe action wins (Reject > TempFail > Quarantine > Junk >
//     Accept), and with it the SMTP reply and reason of the first stage that
//     returned it;
//   - a Reject or TempFail stops the chain early;
//   - AddHeaders, RemoveHeaders and Evidence accumulate across stages, in
//     order;
//   - a filter failure (error, timeout or panic) is turned into a verdict
//     according to the stage's OnError policy and recorded as Evidence with
//     Result "error".
//
// Every verdict other than Accept, and every failure, is logged. A Chain is
// safe for concurrent use.
type Chain struct {
	logger  *slog.Logger
	stages  []*stage
	stats   map[string]*actionCounts // read-only after NewChain
	workers *workers                 // run the stage calls
	// concurrent reports a stage with Stage.Concurrent.
	concurrent bool
}

// NewChain returns a chain running the enabled stages in the given order.
// Stages without a filter are ignored (and logged). Stages whose filters
// share a name share their statistics. A nil logger discards logs.
func NewChain(logger *slog.Logger, stages ...Stage) *Chain {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Chain{logger: logger, stats: make(map[string]*actionCounts), workers: newWorkers()}
	counts := func(name string) *actionCounts {
		if n, ok := c.stats[name]; ok {
			return n
		}
		n := new(actionCounts)
		c.stats[name] = n
		return n
	}
	for i, s := range stages {
		if s.Filter == nil {
			logger.Warn("filter chain: stage without a filter ignored", "stage", i)
			continue
		}
		if !s.Enabled {
			continue
		}
		name := s.Filter.Name()
		if name == "" {
			name = fmt.Sprintf("%T", s.Filter)
		}
		st := &stage{Stage: s, name: name, counts: counts(name)}
		c.concurrent = c.concurrent || s.Concurrent
		if ef, ok := s.Filter.(EnvelopeFilter); ok {
			st.sender = ef
			st.senderCount = counts(name + senderStatsSuffix)
		}
		c.stages = append(c.stages, st)
	}
	return c
}

// Check runs msg through the chain and returns the combined verdict. For
// TempFail and Reject its Code, EnhancedCode and Reason are always set and
// safe to send as an SMTP reply; AddHeaders are syntactically valid and
// unfolded.
func (c *Chain) Check(ctx context.Context, msg *Message) Verdict {
	log := c.logger.With(
		"remote", msg.Conn.RemoteAddr,
		"from", msg.Envelope.MailFrom,
		"rcpts", len(msg.Envelope.Recipients),
	)
	// Concurrent stages start now, on the message as received.
	var early map[*stage]chan stageResult
	if c.concurrent {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel() // stops those the chain did not wait for
	}
	for _, s := range c.stages {
		if !s.Concurrent || s.SkipWhen != nil && s.SkipWhen(msg) {
			continue
		}
		if early == nil {
			early = make(map[*stage]chan stageResult)
		}
		ch := make(chan stageResult, 1)
		early[s] = ch
		go func() {
			v, err := c.runStage(ctx, log, s, func(ctx context.Context) (Verdict, error) { return s.Filter.Check(ctx, msg) })
			ch <- stageResult{v, err}
		}()
	}
	var added []HeaderField // by the stages so far
	var prior []Evidence    // of the stages so far
	return c.run(ctx, log, early, func(s *stage) (func(context.Context) (Verdict, error), *actionCounts, bool) {
		if s.SkipWhen != nil && s.SkipWhen(msg) {
			return nil, nil, true
		}
		// Later stages see the fields earlier ones added (e.g. the spam
		// filter reads Authentication-Results), on a copy of the header:
		// an abandoned stage may still be reading the previous one. They
		// also see the earlier stages' evidence (e.g. rspamd's score).
		m := msg
		if len(added) > 0 || len(prior) > 0 {
			cp := *msg
			orig := msg.OriginalHeader()
			cp.original = &orig
			cp.Header = msg.Header.Copy()
			for _, f := range added {
				cp.Header.Add(f.Key, f.Value)
			}
			cp.Prior = slices.Clone(prior)
			m = &cp
		}
		return func(ctx context.Context) (Verdict, error) {
			v, err := s.Filter.Check(ctx, m)
			return v, err
		}, s.counts, false
	}, func(name string, v Verdict) {
		added = append(added, v.AddHeaders...)
		for _, e := range v.Evidence {
			if e.Filter == "" {
				e.Filter = name
			}
			prior = append(prior, e)
		}
	})
}

// CheckSender runs the stages whose filters implement EnvelopeFilter on the
// sender given at MAIL FROM (from is "" for the null sender), with the same
// rules as Check. Callers act on TempFail and Reject; filters that want to
// add header fields should do so from Check. Statistics of these calls are
// kept under the filter name followed by "/sender".
func (c *Chain) CheckSender(ctx context.Context, conn ConnInfo, from string) Verdict {
	log := c.logger.With("remote", conn.RemoteAddr, "from", from, "stage", "mail-from")
	return c.run(ctx, log, nil, func(s *stage) (func(context.Context) (Verdict, error), *actionCounts, bool) {
		if s.sender == nil {
			return nil, nil, false
		}
		return func(ctx context.Context) (Verdict, error) {
			return s.sender.CheckSender(ctx, conn, from)
		}, s.senderCount, false
	}, nil)
}

// Stages returns the names of the chain's stages, in the order they run.
func (c *Chain) Stages() []string {
	names := make([]string, len(c.stages))
	for i, s := range c.stages {
		names[i] = s.name
	}
	return names
}

// Stats returns, per filter name, the number of verdicts by action so far
// (after applying failure policies). Entries of CheckSender calls are named
// after the filter followed by "/sender". The result is a snapshot owned by
// the caller.
func (c *Chain) Stats() map[string]map[Action]uint64 {
	out := make(map[string]map[Action]uint64, len(c.stats))
	for name, counts := range c.stats {
		m := make(map[Action]uint64, numActions)
		for a := range numActions {
			m[Action(a)] = counts[a].Load()
		}
		out[name] = m
	}
	return out
}

// stageResult is the outcome of a stage started early (Stage.Concurrent).
type stageResult struct {
	v   Verdict
	err error
}

// run runs the stages for which prepare returns a call, and combines their
// verdicts. A stage prepare reports skipped gets Evidence saying so. The
// stages in early were started already: their results are awaited instead.
// observe, if not nil, sees each stage's verdict after it is merged.
func (c *Chain) run(ctx context.Context, log *slog.Logger, early map[*stage]chan stageResult, prepare func(*stage) (func(context.Context) (Verdict, error), *actionCounts, bool), observe func(string, Verdict)) Verdict {
	var res Verdict
	for _, s := range c.stages {
		call, counts, skipped := prepare(s)
		if skipped {
			log.Debug("filter skipped by domain policy", "filter", s.name)
			c.merge(&res, log, s.name, Verdict{Evidence: []Evidence{{Filter: s.name, Result: "skipped", Detail: SkippedDetail}}})
			continue
		}
		if call == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			c.abort(&res, log, s.name, fmt.Errorf("filter %s not run: %w", s.name, context.Cause(ctx)))
			break
		}
		var v Verdict
		var err error
		if ch, ok := early[s]; ok {
			r := <-ch // runStage returns once ctx is done
			v, err = r.v, r.err
		} else {
			v, err = c.runStage(ctx, log, s, call)
		}
		if err == nil && !v.Action.valid() {
			err = fmt.Errorf("filter %s: invalid action %v", s.name, v.Action)
		}
		if err != nil {
			if ctx.Err() != nil {
				// The whole check is abandoned (client gone, shutdown):
				// no failure policy can accept the message.
				c.abort(&res, log, s.name, err)
				break
			}
			v = c.failed(log, s, err)
		}
		counts[v.Action].Add(1)
		if v.Action != Accept {
			log.Info("filter verdict", "filter", s.name, "action", v.Action.String(), "reason", v.Reason)
		}
		c.merge(&res, log, s.name, v)
		if observe != nil {
			observe(s.name, v)
		}
		if res.Action >= TempFail {
			break
		}
	}
	return res.normalized()
}

// runStage runs call with the stage's timeout, recovering from panics. The
// call runs on another goroutine (one of c.workers) so that the chain can
// move on when ctx is done even if the filter does not return.
func (c *Chain) runStage(ctx context.Context, log *slog.Logger, s *stage, call func(context.Context) (Verdict, error)) (Verdict, error) {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("timed out after %v", s.Timeout))
		defer cancel()
	}
	type result struct {
		v   Verdict
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call must not block
	c.workers.run(func() {
		defer func() {
			if r := recover(); r != nil {
				log.Error("filter panicked", "filter", s.name, "panic", r, "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		v, err := call(ctx)
		done <- result{v, err}
	})
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil && errors.Is(r.err, ctx.Err()) {
			// The filter gave up because ctx ended, and returned
			// before the chain saw it: report why, as below.
			return Verdict{}, fmt.Errorf("filter %s: %w", s.name, context.Cause(ctx))
		}
		if r.err != nil {
			return Verdict{}, fmt.Errorf("filter %s: %w", s.name, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return Verdict{}, fmt.Errorf("filter %s: %w", s.name, context.Cause(ctx))
	}
}

// failed returns the verdict for a stage that failed with err.
func (c *Chain) failed(log *slog.Logger, s *stage, err error) Verdict {
	log.Warn("filter failed", "filter", s.name, "error", err, "policy", s.OnError.String())
	var v Verdict
	if s.OnError != FailOpen {
		v = filterErrorReply.verdict()
	}
	v.Evidence = []Evidence{{Filter: s.name, Result: "error", Detail: err.Error()}}
	return v
}

// abort records that the check was abandoned because its context is done.
func (c *Chain) abort(res *Verdict, log *slog.Logger, name string, err error) {
	log.Warn("filter chain abandoned", "filter", name, "error", err)
	v := filterErrorReply.verdict()
	v.Evidence = []Evidence{{Filter: name, Result: "error", Detail: err.Error()}}
	c.merge(res, log, name, v)
}

// merge combines the verdict v of the stage name into res.
func (c *Chain) merge(res *Verdict, log *slog.Logger, name string, v Verdict) {
	if v.Action > res.Action {
		res.Action, res.Code, res.EnhancedCode, res.Reason = v.Action, v.Code, v.EnhancedCode, v.Reason
		res.Stage = name
	}
	if !v.Rewrite.IsZero() {
		if res.Rewrite == nil {
			res.Rewrite = &Rewrite{}
		}
		res.Rewrite.merge(v.Rewrite)
	}
	for _, f := range v.AddHeaders {
		if !validHeaderKey(f.Key) {
			log.Warn("filter added an invalid header field; dropped", "filter", name, "key", f.Key)
			continue
		}
		res.AddHeaders = append(res.AddHeaders, HeaderField{Key: f.Key, Value: sanitizeHeaderValue(f.Value)})
	}
	for _, k := range v.RemoveHeaders {
		if !validHeaderKey(k) {
			continue
		}
		if k = canonicalHeaderKey(k); !res.RemovesHeader(k) {
			res.RemoveHeaders = append(res.RemoveHeaders, k)
		}
	}
	for _, e := range v.Evidence {
		if e.Filter == "" {
			e.Filter = name
		}
		res.Evidence = append(res.Evidence, e)
	}
}
