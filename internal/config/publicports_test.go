package config

import (
	"strings"
	"testing"
)

func TestParsePublicPorts(t *testing.T) {
	tests := []struct {
		in    string
		bound map[string]int // listening port → want announced
		want  map[string]int
		str   string
	}{
		{"bound", map[string]int{"imaps": 2993, "https": 8443}, map[string]int{"imaps": 2993, "https": 8443}, "bound"},
		{"", map[string]int{"imaps": 2993}, map[string]int{"imaps": 2993}, "bound"},
		{"standard", map[string]int{"smtp": 2525, "submission": 2587, "submissions": 2465, "imap": 2143, "imaps": 2993, "pop3": 2110, "pop3s": 2995, "https": 8443},
			map[string]int{"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995, "https": 443}, "standard"},
		{"Standard, https=8443", map[string]int{"imaps": 2993, "https": 8443}, map[string]int{"imaps": 993, "https": 8443}, "standard,https=8443"},
		{"imaps=993,submissions=465", map[string]int{"imaps": 2993, "submissions": 2465, "imap": 2143}, map[string]int{"imaps": 993, "submissions": 465, "imap": 2143}, "bound,imaps=993,submissions=465"},
		// A listener that is off is not announced, whatever the setting.
		{"standard,imap=143", map[string]int{"imap": 0, "pop3": 0}, map[string]int{"imap": 0, "pop3": 0}, "standard,imap=143"},
	}
	for _, tt := range tests {
		p, err := ParsePublicPorts(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		for name, bound := range tt.bound {
			if got := p.Port(name, bound); got != tt.want[name] {
				t.Errorf("%q: %s bound to %d announced as %d, want %d", tt.in, name, bound, got, tt.want[name])
			}
		}
		if s := p.String(); s != tt.str {
			t.Errorf("%q: String() = %q, want %q", tt.in, s, tt.str)
		}
	}
	for _, bad := range []string{"all", "imaps", "imaps=0", "imaps=70000", "imaps=x", "ftp=21", "imaps=993,standard", "imaps=993,imaps=994"} {
		if _, err := ParsePublicPorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPublicPortsSetting(t *testing.T) {
	l := NewLoader("serve")
	l.SetHostnameFunc(func() (string, error) { return "mail.example.com", nil })
	c, err := l.Load(nil, envMap(map[string]string{"YUBIN_PUBLIC_PORTS": "standard"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.PublicPorts.Standard || c.PublicPorts.Port("imaps", 2993) != 993 {
		t.Errorf("YUBIN_PUBLIC_PORTS=standard gives %+v", c.PublicPorts)
	}
	l = NewLoader("serve")
	l.SetHostnameFunc(func() (string, error) { return "mail.example.com", nil })
	if _, err := l.Load([]string{"--public-ports", "imaps=nope"}, envMap(nil)); err == nil || !strings.Contains(err.Error(), "--public-ports") {
		t.Errorf("--public-ports imaps=nope: %v", err)
	}
}

// FuzzParsePublicPorts checks that any value is either refused or read
// into a setting that String gives back in a form read the same way.
func FuzzParsePublicPorts(f *testing.F) {
	for _, seed := range []string{"bound", "standard", "standard,https=8443", "imaps=993,submissions=465", "", "imaps=", "=1", "standard,standard", "IMAPS = 993"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, err := ParsePublicPorts(v)
		if err != nil {
			return
		}
		again, err := ParsePublicPorts(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q → %q → %q, %v", v, p.String(), again.String(), err)
		}
		for name := range StandardPorts {
			if n := p.Port(name, 2000); n < 1 || n > 65535 {
				t.Fatalf("%q: %s announced as %d", v, name, n)
			}
		}
	})
}
