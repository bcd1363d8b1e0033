package main

import (
	"testing"

	"github.com/yubinmail/yubin/mta/outbound"
)

func TestSmarthostTLS(t *testing.T) {
	for addr, want := range map[string]string{
		"smtp.example.com:465": outbound.TLSImplicit,
		"smtp.example.com:587": outbound.TLSStartTLS,
		"[::1]:25":             outbound.TLSStartTLS,
		"smtp.example.com":     outbound.TLSStartTLS,
		"":                     outbound.TLSStartTLS,
	} {
		if got := smarthostTLS(addr); got != want {
			t.Errorf("smarthostTLS(%q) = %q, want %q", addr, got, want)
		}
	}
}
