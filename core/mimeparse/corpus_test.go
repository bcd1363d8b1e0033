package mimeparse

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/corpus/*.tree from the parser's output")

type corpusCase struct {
	name string
	raw  []byte
}

// loadCorpus reads testdata/corpus/*.eml: well-formed messages and the
// malformed ones the parsers of Yubin used to disagree on (missing and
// repeated boundaries, a delimiter after a quoted-printable soft line
// break, nesting beyond MaxDepth, parts without an empty line, bare LF,
// 8-bit headers, conflicting Content-Type fields, message/rfc822 parts).
func loadCorpus(t testing.TB) []corpusCase {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var out []corpusCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusCase{strings.TrimSuffix(filepath.Base(f), ".eml"), raw})
	}
	return out
}

// dumpTree describes the parsed structure of raw, one line per entity,
// then the anomalies.
func dumpTree(raw []byte) string {
	m := Parse(raw)
	var b strings.Builder
	var walk func(p *Part, indent string)
	walk = func(p *Part, indent string) {
		keys := make([]string, 0, len(p.Params()))
		for k := range p.Params() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var params []string
		for _, k := range keys {
			params = append(params, fmt.Sprintf("%s=%q", k, p.Params()[k]))
		}
		disp, _ := p.Disposition()
		data, err := p.Decoded()
		status := "ok"
		if err != nil {
			status = err.Error()
		}
		fmt.Fprintf(&b, "%s%s [%s] enc=%q disp=%q file=%q header=%d fields=%d body=%d decoded=%d (%s)\n",
			indent, p.MediaType(), strings.Join(params, " "), p.Encoding(), disp, p.Filename(),
			len(p.HeaderBytes()), p.Header().Len(), len(p.Body()), len(data), status)
		for _, c := range p.Children() {
			walk(c, indent+"  ")
		}
		if e := p.Embedded(); e != nil {
			walk(e, indent+"  > ")
		}
	}
	walk(m.Root(), "")
	for _, a := range m.Anomalies() {
		fmt.Fprintf(&b, "anomaly: %s\n", a)
	}
	return b.String()
}

// TestCorpus compares the structure of every corpus message with the one
// recorded in testdata/corpus/NAME.tree (go test -update-corpus rewrites
// them), and checks the invariants of FuzzParse on it.
func TestCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			checkInvariants(t, c.raw)
			got := dumpTree(c.raw)
			file := filepath.Join("testdata", "corpus", c.name+".tree")
			if *updateCorpus {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("structure changed:\n%s\nrecorded:\n%s", got, want)
			}
		})
	}
}

// checkInvariants checks what holds for every input: every entity is
// its header bytes followed by its body and lies inside its parent's body,
// parts in order; the bounds hold; ReadHeader's block gives the top-level
// fields Parse finds.
func checkInvariants(t *testing.T, raw []byte) {
	m := Parse(raw)
	if !bytes.Equal(m.Root().Bytes(), raw) {
		t.Fatalf("root is not the whole message")
	}
	if len(m.Anomalies()) > maxAnomalies {
		t.Fatalf("%d anomalies", len(m.Anomalies()))
	}
	entities := 0
	var walk func(p *Part, depth int)
	walk = func(p *Part, depth int) {
		entities++
		if depth > MaxDepth {
			t.Fatalf("depth %d", depth)
		}
		if p.start > p.bodyStart || p.hdrEnd > p.bodyStart || p.bodyStart > p.end {
			t.Fatalf("entity offsets %d %d %d %d", p.start, p.hdrEnd, p.bodyStart, p.end)
		}
		if !bytes.Equal(append(append([]byte(nil), p.HeaderBytes()...), p.Body()...), p.Bytes()) {
			t.Fatalf("header and body are not the entity")
		}
		prev := p.bodyStart
		for _, c := range p.Children() {
			if c.start < prev || c.end > p.end {
				t.Fatalf("child [%d,%d) outside parent body [%d,%d) or out of order", c.start, c.end, prev, p.end)
			}
			prev = c.end
			walk(c, depth+1)
		}
		if e := p.Embedded(); e != nil {
			if e.start != p.bodyStart || e.end != p.end {
				t.Fatalf("embedded message is not the part's body")
			}
			walk(e, depth+1)
		}
		if p.IsMultipart() && p.Type() != "multipart" {
			t.Fatalf("%s with children", p.MediaType())
		}
		_, _ = p.Decoded()
	}
	walk(m.Root(), 0)
	if entities > MaxParts {
		t.Fatalf("%d entities", entities)
	}
	if len(raw) < MaxHeaderBytes {
		block, err := ReadHeader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		h, root := ParseHeader(block), m.Root().Header()
		if h.Len() != root.Len() {
			t.Fatalf("ReadHeader's block has %d fields, the message %d", h.Len(), root.Len())
		}
		for i := range h.Len() {
			if !bytes.Equal(h.RawField(i), root.RawField(i)) {
				t.Fatalf("field %d differs", i)
			}
		}
	}
}

// FuzzParse checks the invariants on any input; the seed corpus runs as an
// ordinary test.
func FuzzParse(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkInvariants(t, raw) })
}
