package imapmsg

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aGVsbG8", "hello"},
		{"aGVs!!bG8g*d29y\r\nbGQ", "hello world"},
		{"aGk=aGk=", "hihi"},
		{"aGk", "hi"},
		{"a", ""},
		{"", ""},
		{"-_-_", "\xfb\xff\xbf"},
		{"====", ""},
	}
	for _, tt := range tests {
		if got := string(decodeBase64([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeBase64(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeQP(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Caf=C3=A9", "Café"},
		{"caf=c3=a9", "Café"[:0] + "caf\xc3\xa9"},
		{"soft =\r\nbreak", "soft break"},
		{"soft =  \r\nbreak", "soft break"},
		{"soft =\nbreak", "soft break"},
		{"trailing   \r\nspace", "trailing\r\nspace"},
		{"trailing \t", "trailing"},
		{"inner  space", "inner  space"},
		{"a=ZZb=4", "a=ZZb=4"},
		{"end=", "end"},
		{"end=\r", "end"},
		{"=3D", "="},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(decodeQP([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeCTE(t *testing.T) {
	tests := []struct {
		raw     string
		body    string
		strict  bool
		want    string
		unknown bool
	}{
		{"", "x", true, "x", false},
		{"7BIT", "x", true, "x", false},
		{"8bit (comment)", "x", true, "x", false},
		{"binary", "x", true, "x", false},
		{`"base64"`, "eA==", true, "x", false},
		{"Quoted-Printable", "=78", true, "x", false},
		{"x-uuencode", "x", true, "", true},
		{"x-uuencode", "x", false, "x", false},
		{"@@@", "x", true, "", true},
	}
	for _, tt := range tests {
		got, err := decodeCTE(normalizeCTE(tt.raw), []byte(tt.body), tt.strict)
		var imapErr *imap.Error
		if tt.unknown {
			if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeUnknownCTE {
				t.Errorf("%q: error %v, want UNKNOWN-CTE", tt.raw, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}
