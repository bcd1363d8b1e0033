package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

// fillInbox delivers n messages of about size bytes, concurrently (the
// store groups the commits), and returns their total size.
func fillInbox(b *testing.B, env *testEnv, n, size int) int64 {
	b.Helper()
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n" // 66 bytes
	body := strings.Repeat(line, size/len(line))
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		msg := testMessage(fmt.Sprint("bench ", i), "bob@example.org", body)
		total += int64(len(msg))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := env.store.Deliver(context.Background(), mailstore.Delivery{
				Targets: []mailstore.DeliveryTarget{{UserID: env.user.ID, Mailbox: "INBOX"}},
				Body:    strings.NewReader(msg),
			})
			if err != nil {
				mu.Lock()
				b.Error(err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return total
}

func BenchmarkFetchAll(b *testing.B) {
	const messages = 1000
	env := newTestEnv(b, nil)
	total := fillInbox(b, env, messages, 10<<10)
	c := env.selectInbox(b, nil)
	whole := &imap.FetchItemBodySection{Peek: true}

	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{whole}})
		var got int64
		count := 0
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
					n, err := io.Copy(io.Discard, body.Literal)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
			count++
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		if count != messages || got != total {
			b.Fatalf("fetched %d messages, %d bytes; want %d, %d", count, got, messages, total)
		}
	}
}

// BenchmarkIdleConnMemory reports the heap a logged-in connection with
// INBOX selected costs, client side included (a bare net.Conn).
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 200
	env := newTestEnv(b, nil)
	// Enough messages that a UID list per connection would show (4 bytes
	// each): connections at the same state share one.
	fillInbox(b, env, 5000, 256)
	login := fmt.Sprintf("a LOGIN %s \"%s\"\r\nb SELECT INBOX\r\n", testAddr, testPass)

	open := func() net.Conn {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			b.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReaderSize(c, 512)
		if _, err := io.WriteString(c, login); err != nil {
			b.Fatal(err)
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(l, "a ") && !strings.HasPrefix(l, "a OK") {
				b.Fatalf("LOGIN: %q", l)
			}
			if strings.HasPrefix(l, "b ") {
				if !strings.HasPrefix(l, "b OK") {
					b.Fatalf("SELECT: %q", l)
				}
				break
			}
		}
		c.SetDeadline(time.Time{})
		return c
	}
	heap := func() (uint64, int) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, runtime.NumGoroutine()
	}

	var perConn, goroutines float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// One connection holds the mailbox's shared tracked state, which
		// is not counted per connection.
		base := open()
		before, g0 := heap()
		cs := make([]net.Conn, conns)
		for k := range cs {
			cs[k] = open()
		}
		after, g1 := heap()
		perConn += (float64(after) - float64(before)) / conns
		goroutines += float64(g1-g0) / conns
		for _, c := range cs {
			c.Close()
		}
		base.Close()
	}
	b.StopTimer()
	b.ReportMetric(perConn/float64(b.N), "heap-B/conn")
	b.ReportMetric(goroutines/float64(b.N), "goroutines/conn")
}
