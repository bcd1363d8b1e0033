package mimeparse

import (
	"errors"
	"testing"
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
		if got, _ := decodeBase64([]byte(tt.in)); string(got) != tt.want {
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
		if got, _ := decodeQP([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		raw     string
		body    string
		want    string
		unknown bool
	}{
		{"", "x", "x", false},
		{"7BIT", "x", "x", false},
		{"8bit (comment)", "x", "x", false},
		{"binary", "x", "x", false},
		{`"base64"`, "eA==", "x", false},
		{"Quoted-Printable", "=78", "x", false},
		{"x-uuencode", "x", "x", true},
		{"@@@", "x", "x", true},
		{"base64", "!!", "", false},
	}
	for _, tt := range tests {
		got, err := Decode(NormalizeEncoding(tt.raw), []byte(tt.body))
		var unknown *UnknownEncodingError
		var malformed *MalformedEncodingError
		if errors.As(err, &malformed) {
			err = nil
		}
		if errors.As(err, &unknown) != tt.unknown || err != nil && !tt.unknown {
			t.Errorf("%q: error %v, want unknown %v", tt.raw, err, tt.unknown)
		}
		if string(got) != tt.want {
			t.Errorf("%q: got %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		enc, in   string
		malformed bool
	}{
		{"base64", "aGVsbG8=\r\n", false},
		{"base64", "aGVs\r\n bG8=", false},
		{"base64", "aGVsbG8", true},   // cut short
		{"base64", "aGk=aGk=", true},  // data after padding
		{"base64", "aGVs!bG8=", true}, // outside the alphabet
		{"base64", "-_-_", true},      // URL alphabet
		{"base64", "", false},
		{"base64", "aG==\r\n", false},
		{"base64", "aGk=", false},
		{"base64", "=", true},
		{"base64", "aG=", true},   // padding cut short
		{"base64", "aGk==", true}, // one pad too many
		{"quoted-printable", "caf=C3=A9 =\r\nx", false},
		{"quoted-printable", "a=ZZb", true},
		{"quoted-printable", "a = b", true},
	}
	for _, tt := range tests {
		_, err := Decode(tt.enc, []byte(tt.in))
		var malformed *MalformedEncodingError
		if errors.As(err, &malformed) != tt.malformed {
			t.Errorf("Decode(%s, %q) error %v, want malformed %v", tt.enc, tt.in, err, tt.malformed)
		}
	}
}
