package sasl

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestDecodePlain(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name              string
		resp              string
		authz, authc, pwd string
		ok                bool
	}{
		{"RFC 4616 example", enc("\x00tim\x00tanstaaftanstaaf"), "", "tim", "tanstaaftanstaaf", true},
		{"RFC 4616 authzid", enc("Ursel\x00Kurt\x00xipj3plmq"), "Ursel", "Kurt", "xipj3plmq", true},
		{"spaces in password", enc("\x00alice@example.com\x00pass word "), "", "alice@example.com", "pass word ", true},
		{"utf-8", enc("\x00ålice\x00sécret"), "", "ålice", "sécret", true},
		{"empty", "", "", "", "", false},
		{"not base64", "!!!", "", "", "", false},
		{"unpadded", "AGFsaWNlAHNlY3JldA", "", "", "", false},
		{"two parts", enc("alice\x00secret"), "", "", "", false},
		{"four parts", enc("\x00alice\x00sec\x00ret"), "", "", "", false},
		{"empty authcid", enc("\x00\x00secret"), "", "", "", false},
		{"empty password", enc("\x00alice\x00"), "", "", "", false},
		{"no NUL", enc("alicesecret"), "", "", "", false},
	}
	for _, tt := range tests {
		authz, authc, pwd, err := DecodePlain(tt.resp)
		if authz != tt.authz || authc != tt.authc || pwd != tt.pwd || (err == nil) != tt.ok {
			t.Errorf("%s: DecodePlain(%q) = %q, %q, %q, %v; want %q, %q, %q, ok %v",
				tt.name, tt.resp, authz, authc, pwd, err, tt.authz, tt.authc, tt.pwd, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tt.name, err)
		}
	}
}
