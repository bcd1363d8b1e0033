package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestFigureRatios(t *testing.T) {
	var fs figures
	// A rate: higher is better. Round 2 failed for the classic stack.
	for i, v := range []float64{100, 120, 90} {
		fs.add("rate", "msg/s", true, "Yubin", i, v)
	}
	fs.add("rate", "msg/s", true, "Postfix+Dovecot", 0, 50)
	fs.add("rate", "msg/s", true, "Postfix+Dovecot", 2, 30)
	// A latency: lower is better.
	fs.add("latency", "ms", false, "Yubin", 0, 10)
	fs.add("latency", "ms", false, "Postfix+Dovecot", 0, 40)

	rate := fs.byKey["rate"]
	got := rate.ratios("Yubin", "Postfix+Dovecot")
	if len(got) != 3 || got[0] != 2 || !math.IsNaN(got[1]) || got[2] != 3 {
		t.Errorf("rate ratios %v, want [2 NaN 3]", got)
	}
	if m := medianOf(got); m != 2.5 {
		t.Errorf("median of %v = %v, want 2.5 (NaN left out)", got, m)
	}
	if r := fs.byKey["latency"].ratios("Yubin", "Postfix+Dovecot"); len(r) != 1 || r[0] != 4 {
		t.Errorf("latency ratios %v, want [4]: 40 ms against 10 ms is 4 times better", r)
	}
	if len(fs.list) != 2 || fs.list[0].label != "rate" {
		t.Errorf("figures not kept in the order measured: %v", fs.list)
	}
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{math.NaN()}, math.NaN()}, {nil, math.NaN()}} {
		if m := medianOf(tc.in); m != tc.want && !(math.IsNaN(m) && math.IsNaN(tc.want)) {
			t.Errorf("medianOf(%v) = %v, want %v", tc.in, m, tc.want)
		}
	}
}

// TestComparisonMarkdown: with an anchor every figure gets its per-round
// ratios and their median; without one there is no ratio at all.
func TestComparisonMarkdown(t *testing.T) {
	o := &options{rounds: 2}
	r := &report{o: o, systems: []string{"Yubin", "Postfix+Dovecot"}}
	r.figs.add("FETCH", "msg/s", true, "Yubin", 0, 300)
	r.figs.add("FETCH", "msg/s", true, "Postfix+Dovecot", 0, 200)
	r.figs.add("FETCH", "msg/s", true, "Postfix+Dovecot", 1, 100)
	r.figs.add("FETCH", "msg/s", true, "Yubin", 1, 100)
	var b strings.Builder
	r.comparisonMarkdown(func(f string, a ...any) { b.WriteString(fmt.Sprintf(f, a...)) })
	if !strings.Contains(b.String(), "| FETCH | 200 msg/s | 150 msg/s | 1.50×, 1.00× | **1.25×** |") {
		t.Errorf("comparison:\n%s", b.String())
	}
	alone := &report{o: o, systems: []string{"Yubin"}}
	alone.figs.add("FETCH", "msg/s", true, "Yubin", 0, 300)
	b.Reset()
	alone.comparisonMarkdown(func(f string, a ...any) { b.WriteString(fmt.Sprintf(f, a...)) })
	if strings.Contains(b.String(), "×") || !strings.Contains(b.String(), "absolute numbers") {
		t.Errorf("a report without an anchor compares:\n%s", b.String())
	}
}

func TestOrderAlternates(t *testing.T) {
	a, b := &yubinSystem{}, &classicSystem{}
	systems := []system{a, b}
	if o := order(systems, 0); o[0] != a || o[1] != b {
		t.Errorf("round 1: %v", o)
	}
	if o := order(systems, 1); o[0] != b || o[1] != a {
		t.Errorf("round 2: %v", o)
	}
	if systems[0] != a {
		t.Errorf("order changed its argument")
	}
}

// TestMeterCountsChildren: the meter of a process counts the CPU of a
// child that has exited and been waited for (the classic stack's work is
// done in short-lived children), and finds living children.
func TestMeterCountsChildren(t *testing.T) {
	m := pidMeter(os.Getpid())
	before := m.cpuTotal()
	busy := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := busy.Run(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	if d := m.cpuTotal() - before; d < 10*time.Millisecond {
		t.Errorf("a child's CPU time not counted: %s", d)
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	if _, ok := m.tree()[sleeper.Process.Pid]; !ok {
		t.Errorf("a living child is not in the tree")
	}
	if s := m.mem(); s.Procs < 2 || s.RSS <= 0 || s.PSS <= 0 {
		t.Errorf("memory of this process and its child: %+v", s)
	}
}
