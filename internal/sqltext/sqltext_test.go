package sqltext

import (
	"testing"
	"unicode/utf8"
)

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{
		"plain":   "plain",
		"50%_off": `50\%\_off`,
		`back\sl`: `back\\sl`,
		"domain.": "domain.",
		"":        "",
		`%\_`:     `\%\\\_`,
	} {
		if got := EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"日本語", 7, "日本"}, // 9 bytes; a character is not split
		{"日本語", 2, ""},
		{"a\xffb", 10, "ab"},     // invalid bytes dropped
		{"a\x00b\x00", 10, "ab"}, // and NULs
		{"", 0, ""},
	}
	for _, tt := range tests {
		got := Clip(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) || len(got) > tt.n {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
