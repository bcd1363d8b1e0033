package mimeparse

import (
	"reflect"
	"testing"
)

func TestParseMediaType(t *testing.T) {
	tests := []struct {
		in       string
		typ, sub string
		params   map[string]string
		ok       bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{"TEXT/HTML; CHARSET=UTF-8", "text", "html", map[string]string{"charset": "UTF-8"}, true},
		{`multipart/mixed; boundary="a b;c"`, "multipart", "mixed", map[string]string{"boundary": "a b;c"}, true},
		{"text/plain; charset=utf-8; format=flowed", "text", "plain", map[string]string{"charset": "utf-8", "format": "flowed"}, true},
		{"text/plain;charset=utf-8;", "text", "plain", map[string]string{"charset": "utf-8"}, true},
		{"text / plain (comment) ; a = b", "text", "plain", map[string]string{"a": "b"}, true},
		{`text/plain; name="esc\"aped"`, "text", "plain", map[string]string{"name": `esc"aped`}, true},
		{`application/x; name="C:\temp\a\\b.exe"`, "application", "x", map[string]string{"name": `C:\temp\a\b.exe`}, true},
		{`text/plain; name="unterminated`, "text", "plain", map[string]string{"name": "unterminated"}, true},
		{"text/plain; junk; a=1; a=2", "text", "plain", map[string]string{"a": "1"}, true},
		{"application/x; name=my file.txt", "application", "x", map[string]string{"name": "my file.txt"}, true},
		{"application/x; name*=utf-8''%E2%82%AC.txt", "application", "x", map[string]string{"name": "€.txt"}, true},
		{"application/x; name*=iso-8859-1'de'caf%E9", "application", "x", map[string]string{"name": "café"}, true},
		{"application/x; name*=x-unknown''a%ZZ", "application", "x", map[string]string{"name": "a%ZZ"}, true},
		{"application/x; name*1=\"b\"; name*0=a; name*2*=%41", "application", "x", map[string]string{"name": "abA"}, true},
		{"application/x; name=plain; name*=utf-8''ext", "application", "x", map[string]string{"name": "ext"}, true},
		{"application/x; name=\"Gr\xfc\xdfe\"", "application", "x", map[string]string{"name": "Grüße"}, true},
		{"text", "", "", nil, false},
		{"/plain", "", "", nil, false},
		{"", "", "", nil, false},
		{"tëxt/plain", "", "", nil, false},
	}
	for _, tt := range tests {
		typ, sub, params, ok := ParseMediaType(tt.in)
		if typ != tt.typ || sub != tt.sub || ok != tt.ok || (len(params) > 0 || len(tt.params) > 0) && !reflect.DeepEqual(params, tt.params) {
			t.Errorf("ParseMediaType(%q) = %q, %q, %v, %v; want %q, %q, %v, %v", tt.in, typ, sub, params, ok, tt.typ, tt.sub, tt.params, tt.ok)
		}
	}
}

func TestParseDisposition(t *testing.T) {
	tests := []struct {
		in     string
		disp   string
		params map[string]string
		ok     bool
	}{
		{"attachment", "attachment", nil, true},
		{`INLINE; filename="a.txt"`, "inline", map[string]string{"filename": "a.txt"}, true},
		{"; filename=a", "", nil, false},
	}
	for _, tt := range tests {
		disp, params, ok := ParseDisposition(tt.in)
		if disp != tt.disp || ok != tt.ok || (len(params) > 0 || len(tt.params) > 0) && !reflect.DeepEqual(params, tt.params) {
			t.Errorf("ParseDisposition(%q) = %q, %v, %v", tt.in, disp, params, ok)
		}
	}
}
