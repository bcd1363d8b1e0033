package authn

import (
	"strings"
	"testing"
)

// signatureTagsMap is how the tags used to be parsed, the reference of
// TestSignatureTags.
func signatureTagsMap(v string) map[string]string {
	tags := make(map[string]string)
	for _, kv := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
	}
	return tags
}

func TestSignatureTags(t *testing.T) {
	values := []string{
		"",
		";;;",
		"v=1; a=rsa-sha256; d=example.com; s=rsa; b=abc",
		"v=1; a = ed25519-sha256 ; d=Example.COM;\r\n s=ed; i=@example.com; b=AbCd\r\n EfGh\tIjKl==",
		"d=a.example; d=b.example; b=12345678",
		"b=1234567; b= 1 2 3 4 5 6 7 8 9",
		"b=\u00a0x\u00a0y\u2003zzzzzzzzz; d=\u0085e\xffx.example",
		"b=é1234567é; s=\xff\xfe",
		"b=abcdefgh; b=", "d", "=x; =; d==y",
		" a\u00a0=rsa; \u2003d=x.example",
	}
	for _, v := range values {
		got := signatureTags([]string{v})[0]
		ref := signatureTagsMap(v)
		b := ref["b"]
		if len(b) > 8 {
			b = b[:8]
		}
		want := sigTags{d: ref["d"], i: ref["i"], s: ref["s"], a: ref["a"], b: b}
		if got != want {
			t.Errorf("%q: got %+v, want %+v", v, got, want)
		}
	}
}

func FuzzSignatureTags(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; d=example.com; s=rsa; b=ab cd\r\n ef gh ij")
	f.Fuzz(func(t *testing.T, v string) {
		got := signatureTags([]string{v})[0]
		ref := signatureTagsMap(v)
		b := ref["b"]
		if len(b) > 8 {
			b = b[:8]
		}
		want := sigTags{d: ref["d"], i: ref["i"], s: ref["s"], a: ref["a"], b: b}
		if got != want {
			t.Errorf("%q: got %+v, want %+v", v, got, want)
		}
	})
}
