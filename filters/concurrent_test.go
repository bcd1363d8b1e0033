package filters

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// rendezvous is a filter that waits, up to a second, for another filter to
// have started, then returns its verdict.
type rendezvous struct {
	name    string
	started chan struct{} // closed when it starts
	other   chan struct{} // the other filter's started
	verdict Verdict
	met     bool
}

func (f *rendezvous) Name() string { return f.name }

func (f *rendezvous) Check(ctx context.Context, _ *Message) (Verdict, error) {
	close(f.started)
	select {
	case <-f.other:
		f.met = true
	case <-time.After(time.Second):
	case <-ctx.Done():
		return Verdict{}, ctx.Err()
	}
	return f.verdict, nil
}

func TestConcurrentStageOverlapsEarlierOnes(t *testing.T) {
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	a := &rendezvous{name: "a", started: aStarted, other: bStarted,
		verdict: Verdict{AddHeaders: []HeaderField{{Key: "X-A", Value: "1"}}, Evidence: []Evidence{{Result: "a"}}}}
	b := &rendezvous{name: "b", started: bStarted, other: aStarted, verdict: Verdict{Action: Junk, Reason: "b says junk", Evidence: []Evidence{{Result: "b"}}}}
	c := NewChain(nil, enabled(a), Stage{Filter: b, Enabled: true, Concurrent: true}, enabled(accepting("c")))
	v := c.Check(context.Background(), testMessage())
	if !a.met || !b.met {
		t.Errorf("the stages did not run at the same time (a met b: %v, b met a: %v)", a.met, b.met)
	}
	if v.Action != Junk || v.Reason != "b says junk" {
		t.Errorf("verdict %v %q, want Junk from b", v.Action, v.Reason)
	}
	var order []string
	for _, e := range v.Evidence {
		order = append(order, e.Filter+":"+e.Result)
	}
	if want := []string{"a:a", "b:b"}; !reflect.DeepEqual(order, want) {
		t.Errorf("evidence in order %q, want %q", order, want)
	}
	if st := c.Stats(); st["b"][Junk] != 1 || st["a"][Accept] != 1 {
		t.Errorf("stats %v", st)
	}
}

func TestConcurrentStageDroppedAfterReject(t *testing.T) {
	scanner := &fakeFilter{name: "scanner", block: true} // returns when cancelled
	c := NewChain(nil,
		enabled(returning("first", Reject, "no")),
		Stage{Filter: scanner, Enabled: true, Concurrent: true, OnError: FailTempFail},
	)
	done := make(chan Verdict, 1)
	go func() { done <- c.Check(context.Background(), testMessage()) }()
	select {
	case v := <-done:
		if v.Action != Reject || v.Reason != "no" || len(v.Evidence) != 0 && v.Evidence[len(v.Evidence)-1].Filter == "scanner" {
			t.Errorf("verdict %+v, want first's reject without the scanner", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the chain waited for a concurrent stage after a reject")
	}
	if n := c.Stats()["scanner"]; n[Accept]+n[TempFail] != 0 {
		t.Errorf("the dropped stage was counted: %v", n)
	}
}

func TestConcurrentStageSkippedByPolicy(t *testing.T) {
	scanner := accepting("scanner")
	c := NewChain(nil, enabled(accepting("a")), Stage{Filter: scanner, Enabled: true, Concurrent: true,
		SkipWhen: func(*Message) bool { return true }})
	v := c.Check(context.Background(), testMessage())
	if scanner.calls.Load() != 0 {
		t.Error("a skipped concurrent stage ran")
	}
	if len(v.Evidence) != 1 || v.Evidence[0].Result != "skipped" {
		t.Errorf("evidence %+v, want the skip", v.Evidence)
	}
}
