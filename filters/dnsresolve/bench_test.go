package dnsresolve

import (
	"context"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"
)

// quietLogger discards the logs of the mock server.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// BenchmarkLookupTXTCached measures the cache hit path, from concurrent
// goroutines as the SMTP sessions do.
func BenchmarkLookupTXTCached(b *testing.B) {
	srv, err := mockdns.NewServerWithLogger(map[string]mockdns.Zone{
		"_dmarc.example.org.": {TXT: []string{"v=DMARC1; p=reject"}},
	}, quietLogger{}, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	r := New(Options{Server: srv.LocalAddr().String(), Timeout: 2 * time.Second})
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "_dmarc.example.org"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(10) // 20 goroutines on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupTXT(ctx, "_dmarc.example.org"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
