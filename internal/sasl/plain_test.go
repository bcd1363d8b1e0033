package sasl

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestDecodePlain(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		in                 string
		authz, authc, pass string
		wantErr            bool
	}{
		{in: b64("\x00tim\x00tanstaaftanstaaf"), authc: "tim", pass: "tanstaaftanstaaf"},
		{in: b64("Ursel\x00Kurt\x00xipj3plmq"), authz: "Ursel", authc: "Kurt", pass: "xipj3plmq"},
		{in: b64("\x00\x00secret"), wantErr: true},
		{in: b64("\x00user\x00"), wantErr: true},
		{in: b64("user\x00secret"), wantErr: true},
		{in: b64("a\x00b\x00c\x00d"), wantErr: true},
		{in: "not base64!", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		authz, authc, pass, err := DecodePlain(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodePlain(%q) err = %v, want ErrMalformed", tt.in, err)
			}
			continue
		}
		if err != nil || authz != tt.authz || authc != tt.authc || pass != tt.pass {
			t.Errorf("DecodePlain(%q) = %q, %q, %q, %v", tt.in, authz, authc, pass, err)
		}
	}
}
