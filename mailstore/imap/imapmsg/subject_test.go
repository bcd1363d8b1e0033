package imapmsg

import (
	"encoding/base64"
	"github.com/yubinmail/yubin/core/collate"
	"mime"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// iso2022jpWord returns s as an ISO-2022-JP "B" encoded word, as Japanese
// mailers write subjects.
func iso2022jpWord(t testing.TB, s string) string {
	b, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode ISO-2022-JP: %v", err)
	}
	return "=?ISO-2022-JP?B?" + base64.StdEncoding.EncodeToString([]byte(b)) + "?="
}

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		reply bool
	}{
		{"", "", false},
		{"hello", "hello", false},
		{"Re: hello", "hello", true},
		{"RE: Re: re: hello", "hello", true},
		{"Fwd: hello", "hello", true},
		{"FW: hello", "hello", true},
		{"fwd : hello", "hello", true},
		{"Re[2]: hello", "hello", true},
		{"Re [2] : hello", "hello", true},
		{"[list] Re: hello", "hello", true},
		{"[list] [other] Re: Fwd: hello", "hello", true},
		{"[list] hello", "hello", false},
		{"[a][b] hello", "hello", false},
		{"[list]", "[list]", false},
		{"[list] [only]", "[only]", false},
		{"Re: [list]", "[list]", true},
		{"hello (fwd)", "hello", true},
		{"hello (FWD) (fwd)  ", "hello", true},
		{"hello(fwd)", "hello", true},
		{"[fwd: hello]", "hello", true},
		{"[Fwd: Re: hello (fwd)]", "hello", true},
		{"Re: [fwd: [list] hello]", "hello", true},
		{"[fwd: x] extra", "extra", false},
		{"  spaced    out\tsubject ", "spaced out subject", false},
		{"Re:", "", true},
		{"Re: (fwd)", "", true},
		{"Rex: hello", "Rex: hello", false},
		{"Fwdx: hi", "Fwdx: hi", false},
		{"Re hello", "Re hello", false},
		{"[unclosed Re: hello", "[unclosed Re: hello", false},
		{"Re: [a[b]: hello", "[a[b]: hello", true},
		{"=?UTF-8?Q?Re=3A_caf=C3=A9?=", "café", true},
		{mime.BEncoding.Encode("UTF-8", "Re: 会議の件"), "会議の件", true},
		{"=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("[ML:123] Re: 会議")) + "?= (fwd)", "会議", true},
		{"Re: \xe9t\xe9", "été", true},
	}
	for _, tt := range tests {
		got, reply := BaseSubject(tt.in)
		if got != tt.want || reply != tt.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tt.in, got, reply, tt.want, tt.reply)
		}
	}
	// Many blobs take linear time, not quadratic.
	many := strings.Repeat("[x] ", 200000) + "tail"
	if got, _ := BaseSubject(many); got != "tail" {
		t.Errorf("many blobs: %q", truncate(got))
	}
	if got, _ := BaseSubject(strings.Repeat("[x]", 200000)); got != "[x]" {
		t.Errorf("only blobs: %q", truncate(got))
	}
	// A Japanese subject in ISO-2022-JP, as most Japanese mailers send it.
	got, reply := BaseSubject("Re: " + iso2022jpWord(t, "お知らせ"))
	if got != "お知らせ" || !reply {
		t.Errorf("ISO-2022-JP subject: %q, %v", got, reply)
	}
}

// FuzzBaseSubject checks that extraction never panics, gives valid UTF-8
// without outer white space, and is a fixed point: the base subject of a
// base subject (without encoded words left in it) is itself and no reply.
func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{
		"", "Re: hello", "[list] Re[2]: Fwd: [fwd: x (fwd)] (fwd)", "[", "]", "[]", "[fwd:]", "[fwd:[fwd:]]",
		"Re: =?utf-8?q?=5Bfwd=3A_x=5D?=", "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "\xff\xfe Re:",
		"Re:Re:Re:Re:Re:Re:Re:Re:", strings.Repeat("[x]", 100) + "y", "(fwd)(fwd)(fwd)", "=?x?q?=?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, _ := BaseSubject(s)
		if !isValidUTF8(base) {
			t.Fatalf("invalid UTF-8: %q", base)
		}
		if strings.HasPrefix(base, " ") || strings.HasSuffix(base, " ") {
			t.Fatalf("outer white space: %q", base)
		}
		if strings.Contains(base, "=?") {
			return
		}
		again, reply := BaseSubject(base)
		if again != base || reply {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", s, base, again, reply)
		}
		collate.UnicodeCasemap(base)
	})
}
