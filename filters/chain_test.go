package filters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFilter returns a fixed verdict or misbehaves as told.
type fakeFilter struct {
	name      string
	verdict   Verdict
	err       error
	panicWith any
	block     bool          // wait for ctx to be done and return its error
	ignoreCtx chan struct{} // if not nil, wait for it to be closed, ignoring ctx
	calls     atomic.Int32
}

func (f *fakeFilter) Name() string { return f.name }

func (f *fakeFilter) Check(ctx context.Context, _ *Message) (Verdict, error) {
	return f.run(ctx)
}

func (f *fakeFilter) run(ctx context.Context) (Verdict, error) {
	f.calls.Add(1)
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	if f.block {
		<-ctx.Done()
		return Verdict{}, ctx.Err()
	}
	if f.ignoreCtx != nil {
		<-f.ignoreCtx
	}
	return f.verdict, f.err
}

// fakeEnvFilter is a fakeFilter that also checks senders.
type fakeEnvFilter struct {
	fakeFilter
	senderCalls atomic.Int32
	gotFrom     atomic.Value
}

func (f *fakeEnvFilter) CheckSender(ctx context.Context, _ ConnInfo, from string) (Verdict, error) {
	f.senderCalls.Add(1)
	f.gotFrom.Store(from)
	return f.run(ctx)
}

func enabled(f Filter) Stage { return Stage{Filter: f, Enabled: true} }

func accepting(name string) *fakeFilter { return &fakeFilter{name: name} }

func returning(name string, a Action, reason string) *fakeFilter {
	return &fakeFilter{name: name, verdict: Verdict{Action: a, Reason: reason}}
}

func testMessage() *Message {
	raw := "From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
	return NewMessage(
		ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.1:12345"), HELO: "client.example.org", Hostname: "mx.example.com"},
		Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.com"}},
		strings.NewReader(raw), int64(len(raw)),
	)
}

func calls(fs []*fakeFilter) []int32 {
	var out []int32
	for _, f := range fs {
		out = append(out, f.calls.Load())
	}
	return out
}

func TestChainCombination(t *testing.T) {
	tests := []struct {
		name         string
		filters      []*fakeFilter
		wantAction   Action
		wantCode     int
		wantEnhanced [3]int
		wantReason   string
		wantCalls    []int32
	}{
		{
			name:       "no stages",
			wantAction: Accept,
		},
		{
			name:       "all accept",
			filters:    []*fakeFilter{accepting("a"), accepting("b")},
			wantAction: Accept,
			wantCalls:  []int32{1, 1},
		},
		{
			name:       "junk beats accept",
			filters:    []*fakeFilter{returning("a", Junk, "spammy"), accepting("b")},
			wantAction: Junk,
			wantReason: "spammy",
			wantCalls:  []int32{1, 1},
		},
		{
			name:       "quarantine beats junk in any order",
			filters:    []*fakeFilter{accepting("a"), returning("b", Quarantine, "virus?"), returning("c", Junk, "spammy")},
			wantAction: Quarantine,
			wantReason: "virus?",
			wantCalls:  []int32{1, 1, 1},
		},
		{
			name:       "first of equally severe verdicts gives the reason",
			filters:    []*fakeFilter{returning("a", Junk, "first"), returning("b", Junk, "second")},
			wantAction: Junk,
			wantReason: "first",
			wantCalls:  []int32{1, 1},
		},
		{
			name:         "tempfail stops the chain",
			filters:      []*fakeFilter{returning("a", Junk, ""), returning("b", TempFail, "greylisted"), returning("c", Reject, "")},
			wantAction:   TempFail,
			wantCode:     451,
			wantEnhanced: [3]int{4, 7, 1},
			wantReason:   "greylisted",
			wantCalls:    []int32{1, 1, 0},
		},
		{
			name:         "reject stops the chain",
			filters:      []*fakeFilter{returning("a", Reject, ""), accepting("b")},
			wantAction:   Reject,
			wantCode:     550,
			wantEnhanced: [3]int{5, 7, 1},
			wantReason:   "Message rejected",
			wantCalls:    []int32{1, 0},
		},
		{
			name:         "tempfail defaults",
			filters:      []*fakeFilter{returning("a", TempFail, "")},
			wantAction:   TempFail,
			wantCode:     451,
			wantEnhanced: [3]int{4, 7, 1},
			wantReason:   "Message deferred, try again later",
			wantCalls:    []int32{1},
		},
		{
			name: "custom reply kept",
			filters: []*fakeFilter{{name: "a", verdict: Verdict{
				Action: Reject, Code: 554, EnhancedCode: [3]int{5, 7, 26}, Reason: "DMARC policy violation",
			}}},
			wantAction:   Reject,
			wantCode:     554,
			wantEnhanced: [3]int{5, 7, 26},
			wantReason:   "DMARC policy violation",
			wantCalls:    []int32{1},
		},
		{
			name: "reply of the wrong class replaced",
			filters: []*fakeFilter{{name: "a", verdict: Verdict{
				Action: Reject, Code: 450, EnhancedCode: [3]int{4, 2, 0}, Reason: "x",
			}}},
			wantAction:   Reject,
			wantCode:     550,
			wantEnhanced: [3]int{5, 7, 1},
			wantReason:   "x",
			wantCalls:    []int32{1},
		},
		{
			name: "reason sanitized against reply injection",
			filters: []*fakeFilter{{name: "a", verdict: Verdict{
				Action: TempFail, Code: 421, EnhancedCode: [3]int{4, 4, 5}, Reason: "bad\r\n250 OK\x00 \u00e9",
			}}},
			wantAction:   TempFail,
			wantCode:     421,
			wantEnhanced: [3]int{4, 4, 5},
			wantReason:   "bad  250 OK ?",
			wantCalls:    []int32{1},
		},
		{
			name: "no reply code without a refusal",
			filters: []*fakeFilter{{name: "a", verdict: Verdict{
				Action: Junk, Code: 550, EnhancedCode: [3]int{5, 7, 1}, Reason: "score 9.5",
			}}},
			wantAction: Junk,
			wantReason: "score 9.5",
			wantCalls:  []int32{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stages []Stage
			for _, f := range tt.filters {
				stages = append(stages, enabled(f))
			}
			v := NewChain(nil, stages...).Check(context.Background(), testMessage())
			if v.Action != tt.wantAction || v.Code != tt.wantCode || v.EnhancedCode != tt.wantEnhanced || v.Reason != tt.wantReason {
				t.Errorf("verdict = %v %d %v %q, want %v %d %v %q",
					v.Action, v.Code, v.EnhancedCode, v.Reason,
					tt.wantAction, tt.wantCode, tt.wantEnhanced, tt.wantReason)
			}
			if got := calls(tt.filters); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

func TestChainFailures(t *testing.T) {
	boom := errors.New("connection refused")
	errorReply := func(v Verdict) bool {
		return v.Action == TempFail && v.Code == 451 && v.EnhancedCode == [3]int{4, 7, 0}
	}
	tests := []struct {
		name       string
		stages     []Stage
		ctx        func() (context.Context, context.CancelFunc)
		wantAction Action
		wantErrEv  []string // Detail substrings of the "error" evidence, in order
		wantCalls  []int32
	}{
		{
			name:       "error, fail tempfail (default)",
			stages:     []Stage{enabled(&fakeFilter{name: "clamd", err: boom}), enabled(accepting("b"))},
			wantAction: TempFail,
			wantErrEv:  []string{"filter clamd: connection refused"},
			wantCalls:  []int32{1, 0},
		},
		{
			name:       "error, fail open",
			stages:     []Stage{{Filter: &fakeFilter{name: "clamd", err: boom}, Enabled: true, OnError: FailOpen}, enabled(returning("b", Junk, ""))},
			wantAction: Junk,
			wantErrEv:  []string{"connection refused"},
			wantCalls:  []int32{1, 1},
		},
		{
			name:       "verdict ignored on error",
			stages:     []Stage{{Filter: &fakeFilter{name: "a", err: boom, verdict: Verdict{Action: Reject}}, Enabled: true, OnError: FailOpen}},
			wantAction: Accept,
			wantErrEv:  []string{"connection refused"},
			wantCalls:  []int32{1},
		},
		{
			name:       "panic, fail tempfail",
			stages:     []Stage{enabled(&fakeFilter{name: "buggy", panicWith: "nil map"}), enabled(accepting("b"))},
			wantAction: TempFail,
			wantErrEv:  []string{"filter buggy: panic: nil map"},
			wantCalls:  []int32{1, 0},
		},
		{
			name:       "panic, fail open",
			stages:     []Stage{{Filter: &fakeFilter{name: "buggy", panicWith: errors.New("oops")}, Enabled: true, OnError: FailOpen}, enabled(accepting("b"))},
			wantAction: Accept,
			wantErrEv:  []string{"panic: oops"},
			wantCalls:  []int32{1, 1},
		},
		{
			name:       "invalid action is an error",
			stages:     []Stage{enabled(returning("weird", Action(42), ""))},
			wantAction: TempFail,
			wantErrEv:  []string{"invalid action Action(42)"},
			wantCalls:  []int32{1},
		},
		{
			name:       "timeout, fail tempfail",
			stages:     []Stage{{Filter: &fakeFilter{name: "slow", block: true}, Enabled: true, Timeout: 20 * time.Millisecond}, enabled(accepting("b"))},
			wantAction: TempFail,
			wantErrEv:  []string{"filter slow: timed out after 20ms"},
			wantCalls:  []int32{1, 0},
		},
		{
			name:       "timeout, fail open",
			stages:     []Stage{{Filter: &fakeFilter{name: "slow", block: true}, Enabled: true, OnError: FailOpen, Timeout: 20 * time.Millisecond}, enabled(returning("b", Quarantine, ""))},
			wantAction: Quarantine,
			wantErrEv:  []string{"timed out"},
			wantCalls:  []int32{1, 1},
		},
		{
			name: "timeout enforced on a filter ignoring its context",
			stages: []Stage{
				{Filter: &fakeFilter{name: "stuck", ignoreCtx: make(chan struct{})}, Enabled: true, OnError: FailOpen, Timeout: 20 * time.Millisecond},
				enabled(accepting("b")),
			},
			wantAction: Accept,
			wantErrEv:  []string{"filter stuck: timed out"},
			wantCalls:  []int32{1, 1},
		},
		{
			name: "two failures are both recorded",
			stages: []Stage{
				{Filter: &fakeFilter{name: "a", err: boom}, Enabled: true, OnError: FailOpen},
				{Filter: &fakeFilter{name: "b", panicWith: 1}, Enabled: true, OnError: FailOpen},
			},
			wantAction: Accept,
			wantErrEv:  []string{"filter a:", "filter b:"},
			wantCalls:  []int32{1, 1},
		},
		{
			name:   "chain deadline with fail open still tempfails",
			stages: []Stage{{Filter: &fakeFilter{name: "slow", block: true}, Enabled: true, OnError: FailOpen}, enabled(accepting("b"))},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			wantAction: TempFail,
			wantErrEv:  []string{"deadline exceeded"},
			wantCalls:  []int32{1, 0},
		},
		{
			name:   "context canceled before the chain runs",
			stages: []Stage{{Filter: accepting("a"), Enabled: true, OnError: FailOpen}},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantAction: TempFail,
			wantErrEv:  []string{"canceled"},
			wantCalls:  []int32{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			var fakes []*fakeFilter
			for _, s := range tt.stages {
				f := s.Filter.(*fakeFilter)
				fakes = append(fakes, f)
				if f.ignoreCtx != nil {
					defer close(f.ignoreCtx)
				}
			}
			start := time.Now()
			v := NewChain(nil, tt.stages...).Check(ctx, testMessage())
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Check took %v", elapsed)
			}
			if v.Action != tt.wantAction {
				t.Errorf("action = %v, want %v", v.Action, tt.wantAction)
			}
			if v.Action == TempFail && !errorReply(v) {
				t.Errorf("failure reply = %d %v %q, want 451 4.7.0", v.Code, v.EnhancedCode, v.Reason)
			}
			var errEv []Evidence
			for _, e := range v.Evidence {
				if e.Result == "error" {
					errEv = append(errEv, e)
				}
			}
			if len(errEv) != len(tt.wantErrEv) {
				t.Fatalf("error evidence = %+v, want %d entries", v.Evidence, len(tt.wantErrEv))
			}
			for i, want := range tt.wantErrEv {
				if errEv[i].Filter == "" || !strings.Contains(errEv[i].Detail, want) {
					t.Errorf("error evidence %d = %+v, want filter name and %q", i, errEv[i], want)
				}
			}
			if got := calls(fakes); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

func TestChainAccumulation(t *testing.T) {
	spf := &fakeFilter{name: "spf", verdict: Verdict{
		AddHeaders:    []HeaderField{{"Received-SPF", "pass (mx.example.com: domain of a@example.org\r\n\tdesignates 192.0.2.1)"}},
		RemoveHeaders: []string{"authentication-results"},
		Evidence:      []Evidence{{Result: "pass", Detail: "ip4 match"}},
	}}
	failing := &fakeFilter{name: "dkim", err: errors.New("dns timeout")}
	spam := &fakeFilter{name: "spam", verdict: Verdict{
		Action: Junk,
		AddHeaders: []HeaderField{
			{"X-Spam-Status", "Yes, score=7.1"},
			{"Bad:Key", "dropped"},
			{"", "dropped"},
			{"X-Spam-Score", "7.1\r\nBcc: injected@example.net"},
		},
		RemoveHeaders: []string{"Authentication-Results", "X-Spam-Status", "bad key"},
		Evidence: []Evidence{
			{Filter: "spam/bayes", Result: "spam", Score: 5},
			{Result: "spam", Detail: "rbl hit", Score: 2.1},
		},
	}}
	ar := &fakeFilter{name: "ar", verdict: Verdict{
		AddHeaders: []HeaderField{{"Authentication-Results", "mx.example.com; spf=pass"}},
	}}
	c := NewChain(nil, enabled(spf), Stage{Filter: failing, Enabled: true, OnError: FailOpen}, enabled(spam), enabled(ar))
	v := c.Check(context.Background(), testMessage())

	wantHeaders := []HeaderField{
		{"Received-SPF", "pass (mx.example.com: domain of a@example.org designates 192.0.2.1)"},
		{"X-Spam-Status", "Yes, score=7.1"},
		{"X-Spam-Score", "7.1 Bcc: injected@example.net"},
		{"Authentication-Results", "mx.example.com; spf=pass"},
	}
	if !reflect.DeepEqual(v.AddHeaders, wantHeaders) {
		t.Errorf("AddHeaders =\n%q\nwant\n%q", v.AddHeaders, wantHeaders)
	}
	if want := []string{"Authentication-Results", "X-Spam-Status"}; !reflect.DeepEqual(v.RemoveHeaders, want) {
		t.Errorf("RemoveHeaders = %q, want %q", v.RemoveHeaders, want)
	}
	for _, k := range []string{"authentication-results", "X-SPAM-STATUS"} {
		if !v.RemovesHeader(k) {
			t.Errorf("RemovesHeader(%q) = false", k)
		}
	}
	if v.RemovesHeader("Received-SPF") {
		t.Error("RemovesHeader(Received-SPF) = true")
	}
	wantEvidence := []Evidence{
		{Filter: "spf", Result: "pass", Detail: "ip4 match"},
		{Filter: "dkim", Result: "error", Detail: "filter dkim: dns timeout"},
		{Filter: "spam/bayes", Result: "spam", Score: 5},
		{Filter: "spam", Result: "spam", Detail: "rbl hit", Score: 2.1},
	}
	if !reflect.DeepEqual(v.Evidence, wantEvidence) {
		t.Errorf("Evidence =\n%+v\nwant\n%+v", v.Evidence, wantEvidence)
	}
	if v.Action != Junk {
		t.Errorf("action = %v, want junk", v.Action)
	}
	// The filters' own verdicts are not modified.
	if spam.verdict.Evidence[1].Filter != "" || spam.verdict.AddHeaders[3].Value != "7.1\r\nBcc: injected@example.net" {
		t.Error("chain modified a filter's verdict")
	}
}

func TestChainEarlyStopKeepsEarlierHeaders(t *testing.T) {
	c := NewChain(nil,
		enabled(&fakeFilter{name: "a", verdict: Verdict{AddHeaders: []HeaderField{{"X-A", "1"}}}}),
		enabled(&fakeFilter{name: "b", verdict: Verdict{Action: Reject, AddHeaders: []HeaderField{{"X-B", "2"}}}}),
		enabled(&fakeFilter{name: "c", verdict: Verdict{AddHeaders: []HeaderField{{"X-C", "3"}}}}),
	)
	v := c.Check(context.Background(), testMessage())
	if want := []HeaderField{{"X-A", "1"}, {"X-B", "2"}}; !reflect.DeepEqual(v.AddHeaders, want) {
		t.Fatalf("AddHeaders = %v, want %v", v.AddHeaders, want)
	}
}

func TestChainDisabledAndNilStages(t *testing.T) {
	disabled := returning("disabled", Reject, "")
	on := returning("enabled", Junk, "")
	var logs bytes.Buffer
	c := NewChain(slog.New(slog.NewTextHandler(&logs, nil)),
		Stage{Filter: disabled, Enabled: false},
		Stage{Filter: nil, Enabled: true},
		enabled(on),
	)
	v := c.Check(context.Background(), testMessage())
	if v.Action != Junk {
		t.Errorf("action = %v, want junk", v.Action)
	}
	if disabled.calls.Load() != 0 {
		t.Error("disabled stage ran")
	}
	if _, ok := c.Stats()["disabled"]; ok {
		t.Error("disabled stage has statistics")
	}
	if !strings.Contains(logs.String(), "without a filter") {
		t.Errorf("nil filter not logged: %s", logs.String())
	}
}

func TestChainStats(t *testing.T) {
	a := accepting("a")
	junk := returning("junk", Junk, "")
	flaky := &fakeFilter{name: "flaky", err: errors.New("down")}
	open := &fakeFilter{name: "open", err: errors.New("down")}
	env := &fakeEnvFilter{fakeFilter: fakeFilter{name: "env"}}
	c := NewChain(nil,
		enabled(a),
		Stage{Filter: open, Enabled: true, OnError: FailOpen},
		enabled(env),
		enabled(junk),
		enabled(flaky),
	)
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c.Check(context.Background(), testMessage())
			c.CheckSender(context.Background(), ConnInfo{}, "x@example.org")
			_ = c.Stats()
		})
	}
	wg.Wait()

	row := func(counts map[Action]uint64) map[Action]uint64 {
		m := map[Action]uint64{Accept: 0, Junk: 0, Quarantine: 0, TempFail: 0, Reject: 0}
		for k, v := range counts {
			m[k] = v
		}
		return m
	}
	want := map[string]map[Action]uint64{
		"a":          row(map[Action]uint64{Accept: n}),
		"open":       row(map[Action]uint64{Accept: n}),
		"env":        row(map[Action]uint64{Accept: n}),
		"env/sender": row(map[Action]uint64{Accept: n}),
		"junk":       row(map[Action]uint64{Junk: n}),
		"flaky":      row(map[Action]uint64{TempFail: n}),
	}
	got := c.Stats()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Stats() =\n%v\nwant\n%v", got, want)
	}
	got["a"][Accept] = 1000
	if c.Stats()["a"][Accept] != n {
		t.Fatal("Stats() result shares state with the chain")
	}
}

func TestChainSharedNameSharesStats(t *testing.T) {
	c := NewChain(nil, enabled(accepting("dup")), enabled(returning("dup", Junk, "")))
	c.Check(context.Background(), testMessage())
	if got := c.Stats()["dup"]; got[Accept] != 1 || got[Junk] != 1 {
		t.Fatalf("Stats()[dup] = %v", got)
	}
}

func TestChainCheckSender(t *testing.T) {
	plain := accepting("plain")
	spf := &fakeEnvFilter{fakeFilter: fakeFilter{name: "spf", verdict: Verdict{
		Action: Reject, Reason: "SPF fail", Evidence: []Evidence{{Result: "fail"}},
	}}}
	after := &fakeEnvFilter{fakeFilter: fakeFilter{name: "after"}}
	c := NewChain(nil, enabled(plain), enabled(spf), enabled(after))

	v := c.CheckSender(context.Background(), ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.1:25")}, "")
	if v.Action != Reject || v.Code != 550 || v.EnhancedCode != [3]int{5, 7, 1} || v.Reason != "SPF fail" {
		t.Errorf("verdict = %v %d %v %q", v.Action, v.Code, v.EnhancedCode, v.Reason)
	}
	if want := []Evidence{{Filter: "spf", Result: "fail"}}; !reflect.DeepEqual(v.Evidence, want) {
		t.Errorf("Evidence = %+v, want %+v", v.Evidence, want)
	}
	if plain.calls.Load() != 0 {
		t.Error("a filter without CheckSender was called")
	}
	if from, _ := spf.gotFrom.Load().(string); spf.senderCalls.Load() != 1 || from != "" {
		t.Errorf("spf.CheckSender called %d times with %q", spf.senderCalls.Load(), from)
	}
	if after.senderCalls.Load() != 0 {
		t.Error("chain did not stop after a reject")
	}
	if got := c.Stats()["spf/sender"][Reject]; got != 1 {
		t.Errorf("Stats()[spf/sender][reject] = %d, want 1", got)
	}
	if got := c.Stats()["spf"][Reject]; got != 0 {
		t.Errorf("Stats()[spf][reject] = %d, want 0", got)
	}

	// Failure handling applies to CheckSender too.
	panicky := &fakeEnvFilter{fakeFilter: fakeFilter{name: "p", panicWith: "boom"}}
	v = NewChain(nil, enabled(panicky)).CheckSender(context.Background(), ConnInfo{}, "a@example.org")
	if v.Action != TempFail || v.Code != 451 || v.EnhancedCode != [3]int{4, 7, 0} {
		t.Errorf("panicking sender check: %v %d %v", v.Action, v.Code, v.EnhancedCode)
	}
}

// logRecord is a JSON log line.
type logRecord map[string]any

func parseLogs(t *testing.T, b *bytes.Buffer) []logRecord {
	t.Helper()
	var out []logRecord
	dec := json.NewDecoder(b)
	for {
		var r logRecord
		if err := dec.Decode(&r); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decode log: %v", err)
		}
		out = append(out, r)
	}
}

func TestChainLogging(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := NewChain(logger,
		enabled(accepting("quiet")),
		enabled(returning("spam", Junk, "score 8")),
		Stage{Filter: &fakeFilter{name: "av", err: errors.New("clamd down")}, Enabled: true, OnError: FailOpen},
		enabled(&fakeFilter{name: "crash", panicWith: "boom"}),
	)
	c.Check(context.Background(), testMessage())

	type want struct {
		msg, filter, action, reason string
	}
	var got []want
	for _, r := range parseLogs(t, &buf) {
		w := want{msg: r["msg"].(string)}
		w.filter, _ = r["filter"].(string)
		w.action, _ = r["action"].(string)
		w.reason, _ = r["reason"].(string)
		got = append(got, w)
		if r["remote"] != "192.0.2.1:12345" || r["from"] != "a@example.org" {
			t.Errorf("log line lacks message context: %v", r)
		}
		if w.msg == "filter panicked" && !strings.Contains(r["stack"].(string), "fakeFilter") {
			t.Errorf("panic log lacks the stack: %v", r["stack"])
		}
	}
	wantLogs := []want{
		{"filter verdict", "spam", "junk", "score 8"},
		{"filter failed", "av", "", ""},
		{"filter panicked", "crash", "", ""},
		{"filter failed", "crash", "", ""},
		{"filter verdict", "crash", "tempfail", filterErrorReply.reason},
	}
	if !reflect.DeepEqual(got, wantLogs) {
		t.Fatalf("logs =\n%+v\nwant\n%+v", got, wantLogs)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Accept.String(), "accept"},
		{Junk.String(), "junk"},
		{Quarantine.String(), "quarantine"},
		{TempFail.String(), "tempfail"},
		{Reject.String(), "reject"},
		{Action(-1).String(), "Action(-1)"},
		{Action(5).String(), "Action(5)"},
		{FailTempFail.String(), "tempfail"},
		{FailOpen.String(), "open"},
		{FailurePolicy(7).String(), "FailurePolicy(7)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if !(Accept < Junk && Junk < Quarantine && Quarantine < TempFail && TempFail < Reject) {
		t.Error("actions are not ordered by severity")
	}
	var zero Verdict
	if zero.Action != Accept {
		t.Error("zero verdict does not accept")
	}
	var zeroStage Stage
	if zeroStage.OnError != FailTempFail {
		t.Error("default failure policy is not FailTempFail")
	}
}

func TestDefaultChain(t *testing.T) {
	c := NewDefaultChain(nil)
	msg := testMessage()
	if v := c.Check(context.Background(), msg); !reflect.DeepEqual(v, Verdict{}) {
		t.Fatalf("default chain verdict = %+v, want the zero verdict", v)
	}
	if v := c.CheckSender(context.Background(), msg.Conn, ""); !reflect.DeepEqual(v, Verdict{}) {
		t.Fatalf("default chain sender verdict = %+v", v)
	}
	if got := c.Stats()["passthrough"][Accept]; got != 1 {
		t.Fatalf("passthrough accepted %d messages, want 1", got)
	}
	if name := PassThrough().Name(); name != "passthrough" {
		t.Fatalf("PassThrough().Name() = %q", name)
	}
}
