package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// benchMessage returns a message of about size bytes: a header and lines
// of 76 characters, every tenth starting with a dot.
func benchMessage(size int) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: alice@example.com\r\nSubject: bench\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		if i%10 == 0 {
			b.WriteString(".")
			b.WriteString(strings.Repeat("x", 75))
		} else {
			b.WriteString(strings.Repeat("y", 76))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// skipBody reads a multi-line body up to its terminating line, cheaply,
// and returns its size (stuffed).
func (c *client) skipBody() int {
	c.t.Helper()
	n := 0
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			c.t.Fatal(err)
		}
		if bytes.Equal(line, []byte(".\r\n")) {
			return n
		}
		n += len(line)
	}
}

func BenchmarkRETR(b *testing.B) {
	for _, size := range []int{10 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := newTestEnv(b, nil, nil)
			msg := benchMessage(size)
			e.add(msg)
			c := e.login()
			_ = c.conn.SetDeadline(time.Time{})
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.send("RETR 1")
				c.expectPrefix("+OK")
				if n := c.skipBody(); n < len(msg) {
					b.Fatalf("RETR gave %d bytes, want at least %d", n, len(msg))
				}
			}
			b.StopTimer()
			c.cmdOK("QUIT")
		})
	}
}

// BenchmarkRETRAll is a client downloading a maildrop: RETR of every
// message, pipelined in one write (as clients do with PIPELINING), the
// sizes of yubin-bench's POP3 scenario (small ones kept inline in the
// database, large ones in files). It reports the process's CPU per
// message (server, store and this client together) beside the time.
func BenchmarkRETRAll(b *testing.B) {
	for _, tc := range []struct {
		name           string
		messages, size int
	}{{"4KiB", 1000, 4400}, {"100KiB", 200, 100 << 10}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newTestEnv(b, nil, nil)
			msg := benchMessage(tc.size)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for range tc.messages {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := e.store.Deliver(context.Background(), mailstore.Delivery{
						Targets: []mailstore.DeliveryTarget{{UserID: e.aliceID}}, Body: strings.NewReader(msg)}); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			c := e.login()
			_ = c.conn.SetDeadline(time.Time{})
			c.r = bufio.NewReaderSize(c.conn, 256<<10)
			var cmds strings.Builder
			for i := 1; i <= tc.messages; i++ {
				fmt.Fprintf(&cmds, "RETR %d\r\n", i)
			}
			retrAll := func() {
				if _, err := io.WriteString(c.conn, cmds.String()); err != nil {
					b.Fatal(err)
				}
				for range tc.messages {
					c.expectPrefix("+OK")
					c.skipBody()
				}
			}
			retrAll() // warm the page cache
			b.SetBytes(int64(len(msg) * tc.messages))
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				retrAll()
			}
			b.StopTimer()
			msgs := float64(b.N * tc.messages)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/msgs, "µs/msg")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/msgs, "cpu-µs/msg")
			c.cmdOK("QUIT")
		})
	}
}

// processCPU is the CPU time the process used so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
