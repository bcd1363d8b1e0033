package core

import "testing"

func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 100, "plain"},
		{" two\r\nlines\t", 100, "two  lines"},
		{"bad \xff byte", 100, "bad \uFFFD byte"},
		{"日本語", 4, "日"},
		{"abc\x7f", 100, "abc"},
	} {
		if got := OneLine(tc.in, tc.n); got != tc.want {
			t.Errorf("OneLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
