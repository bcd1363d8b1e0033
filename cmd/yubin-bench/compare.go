package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// figure is one number measured on every system in every round, e.g. the
// end-to-end intake rate at 20 sessions × 4 KB. With the classic stack
// measured in the same run, each round gives a ratio (Yubin against the
// classic stack in that round); the report gives those ratios and their
// median. Nothing is compared with a number that was not measured in the
// same run.
type figure struct {
	label  string
	unit   string
	higher bool // higher is better (a rate); else lower is (a latency, memory)
	// rounds[system][i] is the value in round i; NaN if it failed.
	rounds map[string][]float64
}

// figures keeps the figures in the order they were first measured.
type figures struct {
	list  []*figure
	byKey map[string]*figure
}

// add records value for system in round (0-based) of the figure called
// label, creating it with unit and direction.
func (fs *figures) add(label, unit string, higher bool, sys string, round int, value float64) {
	if fs.byKey == nil {
		fs.byKey = map[string]*figure{}
	}
	f := fs.byKey[label]
	if f == nil {
		f = &figure{label: label, unit: unit, higher: higher, rounds: map[string][]float64{}}
		fs.byKey[label] = f
		fs.list = append(fs.list, f)
	}
	r := f.rounds[sys]
	for len(r) <= round {
		r = append(r, math.NaN())
	}
	r[round] = value
	f.rounds[sys] = r
}

// medianOf returns the median of the values that are not NaN (the mean of
// the two middle ones for an even count), or NaN.
func medianOf(v []float64) float64 {
	s := slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratios returns, per round in which both a and b have a value, how many
// times better a is than b: a/b for a rate, b/a for a latency or a size.
func (f *figure) ratios(a, b string) []float64 {
	ra, rb := f.rounds[a], f.rounds[b]
	var out []float64
	for i := range min(len(ra), len(rb)) {
		x, y := ra[i], rb[i]
		if math.IsNaN(x) || math.IsNaN(y) || x <= 0 || y <= 0 {
			out = append(out, math.NaN())
			continue
		}
		if f.higher {
			out = append(out, x/y)
		} else {
			out = append(out, y/x)
		}
	}
	return out
}

// fmtValue shows a figure's value with a precision that suits it.
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "—"
	}
	var s string
	switch {
	case v >= 10000:
		s = fmt.Sprintf("%.0f", v)
		// thousands separators for readability
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	return s + " " + unit
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// comparisonMarkdown writes the summary: every figure with each system's
// median, and with an anchor the per-round ratios and their median.
func (r *report) comparisonMarkdown(p func(format string, args ...any)) {
	if len(r.figs.list) == 0 {
		return
	}
	if len(r.systems) < 2 {
		p("### Figures (Yubin alone; absolute numbers, no comparison)\n\n")
		p("Median over %d round(s); the value of each round in the last column. Run with `--against classic` to measure the classic stack beside it.\n\n", r.o.rounds)
		p("| figure | Yubin (median) | rounds |\n| --- | ---: | --- |\n")
		for _, f := range r.figs.list {
			v := f.rounds[r.systems[0]]
			var each []string
			for _, x := range v {
				each = append(each, fmtValue(x, ""))
			}
			p("| %s | **%s** | %s |\n", f.label, fmtValue(medianOf(v), f.unit), strings.Join(each, ", "))
		}
		p("\n")
		return
	}
	a, b := r.systems[0], r.systems[1]
	p("### Side by side: %s and %s, measured in the same run\n\n", a, b)
	p("Each round measures both, one after the other, with the same client; the order alternates from round to round (%s first in odd rounds, %s first in even ones), so that a drift of the machine falls on both. ", a, b)
	p("The ratio is how many times better %s did than %s **in the same round**: its rate over the other's for rates, the other's value over its own for latencies and memory (above 1: %s is better). ", a, b, a)
	p("The last column is the median of the rounds' ratios; medians of the values are in the middle columns.\n\n")
	p("| figure | %s (median) | %s (median) | ratio per round | **median ratio** |\n| --- | ---: | ---: | --- | ---: |\n", a, b)
	for _, f := range r.figs.list {
		rs := f.ratios(a, b)
		var each []string
		for _, x := range rs {
			each = append(each, fmtRatio(x))
		}
		p("| %s | %s | %s | %s | **%s** |\n", f.label, fmtValue(medianOf(f.rounds[a]), f.unit), fmtValue(medianOf(f.rounds[b]), f.unit),
			strings.Join(each, ", "), fmtRatio(medianOf(rs)))
	}
	p("\n")
}

// order returns the systems in the order of round i: as given in even
// rounds (0, 2, ...), reversed in odd ones.
func order(systems []system, i int) []system {
	out := slices.Clone(systems)
	if i%2 == 1 {
		slices.Reverse(out)
	}
	return out
}
