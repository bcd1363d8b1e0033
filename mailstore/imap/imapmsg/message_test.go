package imapmsg

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

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
		got, err := decodeCTE(mimeparse.NormalizeEncoding(tt.raw), []byte(tt.body), tt.strict)
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

func TestWireText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{"=?utf-8?q?already?=", "=?utf-8?q?already?="},
		{"a\x00b\r\nc", "a b  c"},
		{"Grüße", "=?utf-8?q?Gr=C3=BC=C3=9Fe?="},
		{"caf\xe9", "=?utf-8?q?caf=C3=A9?="},
		{"=?utf-8?q?J=C3=B6rg?= und Grüße", "=?utf-8?q?J=C3=B6rg_und_Gr=C3=BC=C3=9Fe?="},
	}
	for _, tt := range tests {
		if got := wireText(tt.in); got != tt.want {
			t.Errorf("wireText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
