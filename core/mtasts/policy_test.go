package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       *Policy // nil: an error
	}{
		{"RFC example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			&Policy{Mode: "enforce", MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"LF, spaces, unknown key, trailing dot", "version: STSv1\nmode:testing\nmx:  MX1.Example.org. \nfoo: bar\nmax_age: 86400\n",
			&Policy{Mode: "testing", MX: []string{"mx1.example.org"}, MaxAge: 24 * time.Hour}},
		{"none needs no mx", "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", &Policy{Mode: "none"}},
		{"largest max_age", "version: STSv1\nmode: none\nmax_age: 31557600\n", &Policy{Mode: "none", MaxAge: MaxMaxAge}},
		{"max_age too large", "version: STSv1\nmode: none\nmax_age: 31557601\n", nil},
		{"max_age negative", "version: STSv1\nmode: none\nmax_age: -1\n", nil},
		{"max_age 11 digits", "version: STSv1\nmode: none\nmax_age: 00000000001\n", nil},
		{"version not first", "mode: none\nversion: STSv1\nmax_age: 1\n", nil},
		{"wrong version", "version: STSv2\nmode: none\nmax_age: 1\n", nil},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 1\n", nil},
		{"bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", nil},
		{"two modes", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", nil},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", nil},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", nil},
		{"bad mx", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", nil},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", nil},
		{"no colon", "version: STSv1\nmode enforce\n", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.text))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || strings.Join(p.MX, ",") != strings.Join(tc.want.MX, ",") {
				t.Fatalf("got %+v, want %+v", p, tc.want)
			}
			// What String writes parses back to the same policy.
			again, err := Parse([]byte(p.String()))
			if err != nil || again.String() != p.String() {
				t.Fatalf("round trip: %q %v", p.String(), err)
			}
		})
	}
	if _, err := Parse([]byte("version: STSv1\nmode: none\nmax_age: 1\n" + strings.Repeat("x: y\n", 20000))); err == nil {
		t.Error("a policy over 64 KiB parsed")
	}
}

func TestMatches(t *testing.T) {
	p := &Policy{Mode: "enforce", MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.example.com.":     true,
		"mx1.example.net":       true,
		"example.net":           false, // the wildcard needs one label
		"a.b.example.net":       false, // and only one
		"mail.example.com.evil": false,
		"other.example.com":     false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt      string
		id       string
		ours, ok bool
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", true, true},
		{"v=STSv1;id=abc", "abc", true, true},
		{"v=STSv1; id=abc; ext=1", "abc", true, true},
		{"v=spf1 -all", "", false, true},
		{"v=STSv1;", "", true, false},
		{"v=STSv1; id=a-b;", "", true, false},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", true, false},
		{"v=STSv1; id=a; id=b", "", true, false},
		{"v=STSv1; junk", "", true, false},
	} {
		id, ours, err := ParseRecord(tc.txt)
		if id != tc.id || ours != tc.ours || (err == nil) != tc.ok {
			t.Errorf("ParseRecord(%q) = %q %v %v", tc.txt, id, ours, err)
		}
	}
	p := &Policy{Mode: "testing", MX: []string{"mail.example.com"}, MaxAge: time.Hour}
	if id, ours, err := ParseRecord(p.Record()); err != nil || !ours || id != p.ID() {
		t.Errorf("our own record %q: %q %v %v", p.Record(), id, ours, err)
	}
	q := *p
	q.Mode = "enforce"
	if q.ID() == p.ID() {
		t.Error("the id does not change with the policy")
	}
}

// FuzzParse: no input makes Parse panic, and what it accepts is written
// back by String into a text that parses to the same policy.
func FuzzParse(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: a\nmax_age: 31557600\nfoo: :bar\n"))
	f.Add([]byte("version:\n:\n\r\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := Parse(text)
		if err != nil {
			return
		}
		again, err := Parse([]byte(p.String()))
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q → %q: %v", text, p.String(), err)
		}
		for _, mx := range p.MX {
			if !strings.HasPrefix(mx, "*.") && !p.Matches(mx) {
				t.Fatalf("policy does not match its own mx %q", mx)
			}
		}
	})
}

// FuzzParseRecord: no TXT record makes ParseRecord panic; an id it
// returns is 1 to 32 letters and digits.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=;")
	f.Add("v=STSv1")
	f.Fuzz(func(t *testing.T, txt string) {
		id, _, err := ParseRecord(txt)
		if err == nil && id != "" && (len(id) > 32 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "") {
			t.Fatalf("id %q", id)
		}
	})
}
