package mta

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// BenchmarkIntake delivers 4 KB messages over real connections: each
// parallel goroutine keeps one SMTP session and sends message after message
// on it, two recipients each, through the whole path (spool, filters,
// Received, durable store). It reports messages per second.
func BenchmarkIntake(b *testing.B) {
	ts := startServer(b, func(o *Options) { o.Filters = acceptAll() })
	body := "From: Bench <bench@remote.example>\r\n" +
		"To: Ann <ann@example.com>, Bob <bob@example.com>\r\n" +
		"Subject: benchmark\r\n" +
		"Message-ID: <bench@remote.example>\r\n" +
		"\r\n"
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:78] + "\r\n"
	for len(body) < 4096-len(line) {
		body += line
	}
	var failed atomic.Int64
	b.SetParallelism(8) // with GOMAXPROCS 2: 16 concurrent sessions, for group commit to show
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(ts.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		if err := c.Hello("bench.example"); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if _, err := sendOn(c, "bench@remote.example", []string{ann, bob}, body, nil); err != nil {
				failed.Add(1)
				b.Error(fmt.Errorf("send: %w", err))
				return
			}
		}
		_ = c.Quit()
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d sends failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if st := ts.Stats(); st.Accepted < uint64(b.N) {
		b.Fatalf("accepted %d of %d", st.Accepted, b.N)
	}
}
