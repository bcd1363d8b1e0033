package filters

import (
	"bytes"
	"strings"
	"testing"
)

func TestApplyRewrite(t *testing.T) {
	raw := "Received: one\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\nAuthentication-Results: forged\r\n\r\nbody\r\n"
	tests := []struct {
		name   string
		rw     *Rewrite
		remove []string
		want   string
	}{
		{"nothing", nil, nil, raw},
		{"change the second of a name", &Rewrite{HeaderEdits: []HeaderEdit{{Key: "x-a", Value: "two", Index: 2}}}, nil,
			"Received: one\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nx-a: two\r\nAuthentication-Results: forged\r\n\r\nbody\r\n"},
		{"delete", &Rewrite{HeaderEdits: []HeaderEdit{{Key: "X-A", Index: 1}}}, nil,
			"Received: one\r\nSubject: s\r\nX-A: 2\r\nAuthentication-Results: forged\r\n\r\nbody\r\n"},
		{"change a missing one appends", &Rewrite{HeaderEdits: []HeaderEdit{{Key: "X-B", Value: "b", Index: 3}}}, nil,
			"Received: one\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\nAuthentication-Results: forged\r\nX-B: b\r\n\r\nbody\r\n"},
		{"insert and remove by name keeps the inserted", &Rewrite{HeaderEdits: []HeaderEdit{{Insert: true, Key: "Authentication-Results", Value: "milter; dkim=none", Index: 1}}},
			[]string{"authentication-results"},
			"Received: one\r\nAuthentication-Results: milter; dkim=none\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\n\r\nbody\r\n"},
		{"insert past the end", &Rewrite{HeaderEdits: []HeaderEdit{{Insert: true, Key: "X-Z", Value: "z", Index: 99}}}, nil,
			"Received: one\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\nAuthentication-Results: forged\r\nX-Z: z\r\n\r\nbody\r\n"},
		{"replace the body with LF lines", &Rewrite{Body: []byte("a\nb\n"), ReplaceBody: true}, nil,
			"Received: one\r\nSubject: s\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\nAuthentication-Results: forged\r\n\r\na\r\nb\r\n"},
		{"a value cannot end the header", &Rewrite{HeaderEdits: []HeaderEdit{{Key: "Subject", Value: "a\n\nInjected: yes", Index: 1}}}, nil,
			"Received: one\r\nSubject: a\r\n\tInjected: yes\r\nX-A: 1\r\n\tcont\r\nX-A: 2\r\nAuthentication-Results: forged\r\n\r\nbody\r\n"},
		{"an invalid name is ignored", &Rewrite{HeaderEdits: []HeaderEdit{{Key: "Bad Name", Value: "x", Index: 1}}}, nil, raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			remove := func(k string) bool {
				for _, r := range tt.remove {
					if strings.EqualFold(r, k) {
						return true
					}
				}
				return false
			}
			if err := ApplyRewrite(&b, strings.NewReader(raw), tt.rw, remove); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

// FuzzApplyRewrite checks that any message with any edit gives a message
// whose header ends where it should: the edited fields never add a blank
// line, and the body is kept.
func FuzzApplyRewrite(f *testing.F) {
	f.Add("Subject: s\r\n\r\nbody", "Subject", "v\n\nX: y", 1, false)
	f.Add("no header at all", "X", "", 0, true)
	f.Add("A: 1\n B\nC: 2\n\nb", "a", "x", 2, true)
	f.Fuzz(func(t *testing.T, raw, key, value string, index int, insert bool) {
		rw := &Rewrite{HeaderEdits: []HeaderEdit{{Insert: insert, Key: key, Value: value, Index: index}}}
		var b bytes.Buffer
		if err := ApplyRewrite(&b, strings.NewReader(raw), rw, nil); err != nil {
			return
		}
		out := b.String()
		if i := strings.Index(raw, "\r\n\r\n"); i >= 0 && strings.Count(raw, "\n\n") == 0 && !strings.Contains(raw[:i], "\r\r") {
			if !strings.HasSuffix(out, raw[i+4:]) {
				t.Errorf("body lost: %q → %q", raw, out)
			}
		}
	})
}
