package dnsresolve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"
)

func TestAppendKey(t *testing.T) {
	long := strings.Repeat("a", 300) + ".example"
	for _, name := range []string{"", ".", "example.org", "Example.ORG.", "_dmarc.Example.org", "b\u00fccher.example", "B\u00dcCHER.example.", long, "1.2.0.192.in-addr.arpa"} {
		for _, dot := range []bool{true, false} {
			want := typeTXT + " " + strings.ToLower(name)
			if dot {
				want = typeTXT + " " + fqdn(name)
			}
			if got := string(appendKey(nil, typeTXT, name, dot)); got != want {
				t.Errorf("appendKey(%q, %v) = %q, want %q", name, dot, got, want)
			}
		}
	}
}

// TestCacheHitAllocs checks that a cached lookup allocates only the copy
// of the answer it returns.
func TestCacheHitAllocs(t *testing.T) {
	srv, err := mockdns.NewServerWithLogger(map[string]mockdns.Zone{
		"example.org.": {TXT: []string{"one"}},
	}, quietLogger{}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := New(Options{Server: srv.LocalAddr().String(), Timeout: 2 * time.Second})
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "Example.org"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { r.LookupTXT(ctx, "example.ORG") }); n > 1 {
		t.Errorf("cached LookupTXT: %v allocations, want at most 1", n)
	}
}
