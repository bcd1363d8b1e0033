package mimeparse

import (
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		allowFrom bool
		fields    []string // "name=value"
		body      string
		junk      int
	}{
		{"simple", "A: 1\r\nB: 2\r\n\r\nbody", false, []string{"A=1", "B=2"}, "body", 0},
		{"folded", "A: 1\r\n  2\r\n\tthree\r\n\r\nbody", false, []string{"A=1  2\tthree"}, "body", 0},
		{"bare lf", "A: 1\nB: 2\n\nbody", false, []string{"A=1", "B=2"}, "body", 0},
		{"space before colon", "A : 1\r\n\r\n", false, []string{"A=1"}, "", 0},
		{"empty value", "A:\r\n\r\nx", false, []string{"A="}, "x", 0},
		{"no separator", "A: 1\r\nnot a header\r\nmore", false, []string{"A=1"}, "", 2},
		{"no separator, fields after junk", "not a header\r\nA: 1\r\n", false, []string{"A=1"}, "", 1},
		{"junk line before the separator", "A: 1\r\nnot a header\r\n cont\r\nB: 2\r\n\r\nbody", false, []string{"A=1", "B=2"}, "body", 1},
		{"junk line, separator with bare lf", "A: 1\nnot a header\nB: 2\n\nbody", false, []string{"A=1", "B=2"}, "body", 1},
		{"junk line, lone cr separator at the end", "not a header\r\nB: 2\r\n\r", false, []string{"B=2"}, "", 1},
		{"no header at all", "hello\r\n", false, nil, "", 1},
		{"empty header", "\r\nbody", false, nil, "body", 0},
		{"mbox from", "From someone Mon Jan 1\r\nA: 1\r\n\r\nb", true, []string{"A=1"}, "b", 0},
		{"mbox from not allowed", "From someone\r\nA: 1\r\n\r\nb", false, []string{"A=1"}, "b", 1},
		{"orphan continuation", " orphan\r\nA: 1\r\n\r\nb", false, []string{"A=1"}, "b", 1},
		{"eof in header", "A: 1\r\nB: 2", false, []string{"A=1", "B=2"}, "", 0},
		{"8bit value", "X-Gruesse: Köln\r\n\r\n", false, []string{"X-Gruesse=Köln"}, "", 0},
		{"8bit name", "X-Grüße: Köln\r\nA: 1\r\n\r\n", false, []string{"A=1"}, "", 1},
		{"nul in value", "A: x\x00y\r\n\r\n", false, []string{"A=x\x00y"}, "", 0},
		{"nul in name", "A\x00B: x\r\n\r\n", false, nil, "", 1},
		{"nul in name, no separator", "A\x00B: x\r\n", false, nil, "", 1},
		{"lone cr separator", "A: 1\r\n\r", false, []string{"A=1"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			h, hdrEnd, bodyStart := parseHeader(raw, 0, len(raw), tt.allowFrom)
			var got []string
			for _, f := range h.fields {
				got = append(got, string(h.name(f))+"="+h.value(f))
			}
			if strings.Join(got, "|") != strings.Join(tt.fields, "|") {
				t.Errorf("fields = %q, want %q", got, tt.fields)
			}
			if body := string(raw[bodyStart:]); body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if h.Junk() != tt.junk {
				t.Errorf("junk = %d, want %d", h.Junk(), tt.junk)
			}
			if hdrEnd > bodyStart {
				t.Errorf("hdrEnd %d > bodyStart %d", hdrEnd, bodyStart)
			}
		})
	}
}

func TestHeaderFieldCap(t *testing.T) {
	raw := []byte(strings.Repeat("X: 1\r\n", maxFields+5) + "Late: yes\r\n\r\nbody")
	h, _, bodyStart := parseHeader(raw, 0, len(raw), false)
	if len(h.fields) != maxFields {
		t.Errorf("indexed %d fields, want %d", len(h.fields), maxFields)
	}
	if h.Has("Late") {
		t.Errorf("field past the cap was indexed")
	}
	if string(raw[bodyStart:]) != "body" {
		t.Errorf("body = %q", raw[bodyStart:])
	}
}

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		parts []string
	}{
		{"basic", "pre\r\n--b\r\nA\r\n--b\r\nB\r\n--b--\r\nepi", []string{"A", "B"}},
		{"at start", "--b\r\nA\r\n--b--", []string{"A"}},
		{"transport padding", "--b  \r\nA\r\n--b-- \t\r\n", []string{"A"}},
		{"prefix boundary is not a delimiter", "--b\r\n--bc\r\n--b--", []string{"--bc"}},
		{"unterminated", "--b\r\nA\r\n--b\r\nB\r\n", []string{"A", "B\r\n"}},
		{"empty parts", "--b\r\n--b\r\n\r\n--b--", []string{"", ""}},
		{"close only", "x\r\n--b--\r\n", nil},
		{"none", "nothing here", nil},
		{"bare lf", "--b\nA\n--b\nB\n--b--\n", []string{"A", "B"}},
		{"after close ignored", "--b\r\nA\r\n--b--\r\n--b\r\nC\r\n", []string{"A"}},
		{"delimiter at eof", "--b\r\nA\r\n--b", []string{"A", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.body)
			var got []string
			spans, _, _ := splitMultipart(raw, 0, len(raw), "b")
			for _, s := range spans {
				got = append(got, string(raw[s.start:s.end]))
			}
			if strings.Join(got, "|") != strings.Join(tt.parts, "|") || len(got) != len(tt.parts) {
				t.Errorf("parts = %q, want %q", got, tt.parts)
			}
		})
	}
}
