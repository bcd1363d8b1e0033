package core

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCredentialName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"phone", true},
		{"日本のスマホ", true},
		{strings.Repeat("é", MaxNameLength), true},
		{strings.Repeat("é", MaxNameLength+1), false},
		{"", false},
		{"   ", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"bad \xff utf-8", false},
	}
	for _, tt := range tests {
		err := CheckCredentialName(tt.name)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckCredentialName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
