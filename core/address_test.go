package core

import (
	"errors"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ann@example.com", "ann@example.com", true},
		{"Ann.Lee@Example.COM", "ann.lee@example.com", true},
		{"a+tag@sub.example.org.", "a+tag@sub.example.org", true},
		{`"odd local"@example.com`, `"odd local"@example.com`, true},
		{"用户@例え.jp", "用户@xn--r8jz45g.jp", true},
		{"ann", "", false},
		{"@example.com", "", false},
		{"ann@", "", false},
		{"ann@localhost", "", false},
		{"a..b@example.com", "", false},
		{".a@example.com", "", false},
		{"a b@example.com", "", false},
		{"ann@exa_mple.com", "", false},
		{"ann@-example.com", "", false},
		{"ann@[192.0.2.1]", "", false},
		{"ann@example..com", "", false},
		{string(make([]byte, 65)) + "@example.com", "", false},
		{"\"unterminated@example.com", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeAddress(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", "x@例え.jp", `"q"@d.e`, "@", "a@@b", "a@b..c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		// A normalised address must normalise to itself.
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("not idempotent: %q -> %q -> %v, %v", s, a, b, err)
		}
	})
}
