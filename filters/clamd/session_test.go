package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleCount returns the number of idle sessions c keeps.
func (c *Client) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

func TestSessionReuse(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			f := newFakeClamd(t, network)
			c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
			defer c.Close()
			for i := range 6 {
				data := "clean message"
				if i%2 == 1 {
					data = "VIRUS-MARKER"
				}
				res, err := c.Scan(context.Background(), strings.NewReader(data))
				if err != nil || res.Infected != (i%2 == 1) {
					t.Fatalf("scan %d = %+v, %v", i, res, err)
				}
			}
			if conns, sessions := f.counts(); conns != 1 || sessions != 1 {
				t.Errorf("%d connections, %d sessions; want 1 and 1", conns, sessions)
			}
			if n := c.idleCount(); n != 1 {
				t.Errorf("%d idle sessions, want 1", n)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n := c.idleCount(); n != 0 {
				t.Errorf("%d idle sessions after Close, want 0", n)
			}
			// Still usable after Close, without keeping sessions.
			if _, err := c.Scan(context.Background(), strings.NewReader("x")); err != nil {
				t.Errorf("Scan after Close: %v", err)
			}
			if n := c.idleCount(); n != 0 {
				t.Errorf("%d idle sessions after Close and Scan, want 0", n)
			}
		})
	}
}

func TestNoSessions(t *testing.T) {
	f := newFakeClamd(t, "unix")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, MaxIdle: -1}
	for range 3 {
		res, err := c.Scan(context.Background(), strings.NewReader("VIRUS-MARKER"))
		if err != nil || !res.Infected {
			t.Fatalf("Scan = %+v, %v", res, err)
		}
	}
	if conns, sessions := f.counts(); conns != 3 || sessions != 0 {
		t.Errorf("%d connections, %d sessions; want 3 and 0", conns, sessions)
	}
	if n := c.idleCount(); n != 0 {
		t.Errorf("%d idle sessions, want 0", n)
	}
}

func TestSessionClosedByServer(t *testing.T) {
	modes := []struct {
		name string
		mode dropMode
	}{
		{"closed on next command", dropOnNext},
		{"command read timed out", dropTimedOut},
		{"closed while idle", dropAtOnce},
	}
	readers := []struct {
		name string
		r    func(string) io.Reader
	}{
		{"one chunk", func(s string) io.Reader { return strings.NewReader(s) }},
		// With ChunkSize 4 the data needs several chunks: sent again
		// after seeking back.
		{"seekable", func(s string) io.Reader { return strings.NewReader(s + " and some more") }},
	}
	for _, m := range modes {
		for _, rd := range readers {
			t.Run(m.name+"/"+rd.name, func(t *testing.T) {
				f := newFakeClamd(t, "tcp")
				f.dropAfter, f.dropMode = 1, m.mode
				c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
				if rd.name == "seekable" {
					c.ChunkSize = 4
				}
				defer c.Close()
				if res, err := c.Scan(context.Background(), rd.r("first")); err != nil || res.Infected {
					t.Fatalf("first Scan = %+v, %v", res, err)
				}
				if m.mode == dropAtOnce {
					// Let the close reach us.
					time.Sleep(50 * time.Millisecond)
				}
				res, err := c.Scan(context.Background(), rd.r("VIRUS-MARKER"))
				if err != nil || !res.Infected {
					t.Fatalf("second Scan = %+v, %v; want infected", res, err)
				}
				if _, data := f.last(); !bytes.HasPrefix(data, []byte("VIRUS-MARKER")) {
					t.Errorf("server received %q", data)
				}
				if conns, _ := f.counts(); conns != 2 {
					t.Errorf("%d connections, want 2", conns)
				}
			})
		}
	}
}

// onlyReader hides all methods of a reader but Read.
type onlyReader struct{ r io.Reader }

func (r onlyReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func TestSessionRetryNeedsData(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	f.dropAfter, f.dropMode = 1, dropOnNext
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, ChunkSize: 4}
	defer c.Close()
	if _, err := c.Scan(context.Background(), strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	// More than a chunk from a reader that cannot seek back: no retry.
	_, err := c.Scan(context.Background(), onlyReader{strings.NewReader("several chunks of data")})
	if err == nil {
		t.Fatal("Scan succeeded on a dropped session without a retry")
	}
	if conns, _ := f.counts(); conns != 1 {
		t.Errorf("%d connections, want 1 (no retry)", conns)
	}
	// Within one chunk, the data is kept for a retry.
	if _, err := c.Scan(context.Background(), onlyReader{strings.NewReader("abc")}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
}

func TestSessionRetriedOnlyOnce(t *testing.T) {
	f := newFakeClamd(t, "unix")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
	defer c.Close()
	if _, err := c.Scan(context.Background(), strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	f.setFailSessions(true)
	_, err := c.Scan(context.Background(), strings.NewReader("second"))
	if err == nil || !strings.Contains(err.Error(), "connection closed by server") {
		t.Errorf("Scan error = %v, want connection closed", err)
	}
	// The first connection, and one retry.
	if conns, _ := f.counts(); conns != 2 {
		t.Errorf("%d connections, want 2", conns)
	}
	// A failure on a new session is not retried.
	_, err = c.Scan(context.Background(), strings.NewReader("third"))
	if err == nil {
		t.Error("Scan succeeded")
	}
	if conns, _ := f.counts(); conns != 3 {
		t.Errorf("%d connections, want 3", conns)
	}
	f.setFailSessions(false)
	if _, err := c.Scan(context.Background(), strings.NewReader("fourth")); err != nil {
		t.Errorf("Scan after recovery: %v", err)
	}
}

func TestSessionWrongRequestNumber(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	f.wrongID = true
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
	defer c.Close()
	for i := range 2 {
		_, err := c.Scan(context.Background(), strings.NewReader("VIRUS-MARKER"))
		if err == nil || !strings.Contains(err.Error(), "does not answer request 1") {
			t.Fatalf("scan %d: error = %v, want wrong request number", i, err)
		}
		if n := c.idleCount(); n != 0 {
			t.Errorf("scan %d: %d idle sessions, want 0", i, n)
		}
	}
	// Each failure closed its connection and was not retried.
	if conns, _ := f.counts(); conns != 2 {
		t.Errorf("%d connections, want 2", conns)
	}
}

func TestSessionSizeLimit(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	f.limit = 1000
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, ChunkSize: 100}
	defer c.Close()
	for _, size := range []int{4 << 20, 1001} {
		if _, err := c.Scan(context.Background(), strings.NewReader("small")); err != nil {
			t.Fatal(err)
		}
		_, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, size)))
		if !errors.Is(err, ErrSizeLimit) {
			t.Fatalf("Scan of %d bytes: error = %v, want ErrSizeLimit", size, err)
		}
		if n := c.idleCount(); n != 0 {
			t.Errorf("%d idle sessions after the size limit, want 0", n)
		}
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("small")); err != nil {
		t.Fatal(err)
	}
}

func TestSessionTimeout(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
	defer c.Close()
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// clamd now answers only after a minute: only the context can end
	// the scan.
	f.mu.Lock()
	f.delay = time.Minute
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Scan(ctx, strings.NewReader("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Scan error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Scan took %v", d)
	}
	if n := c.idleCount(); n != 0 {
		t.Errorf("%d idle sessions after a timeout, want 0", n)
	}
	if conns, _ := f.counts(); conns != 1 {
		t.Errorf("%d connections, want 1 (no retry after a timeout)", conns)
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	f := newFakeClamd(t, "unix")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, IdleTimeout: 50 * time.Millisecond}
	defer c.Close()
	for range 2 {
		if _, err := c.Scan(context.Background(), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if conns, _ := f.counts(); conns != 2 {
		t.Errorf("%d connections, want 2", conns)
	}
}

func TestSessionConcurrent(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			f := newFakeClamd(t, network)
			c := &Client{Addr: f.addr(), Timeout: 10 * time.Second, MaxIdle: 4}
			defer c.Close()
			const workers, scans = 20, 25
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range scans {
						infected := (w+i)%3 == 0
						data := fmt.Sprintf("message %d/%d", w, i)
						if infected {
							data += " VIRUS-MARKER"
						}
						res, err := c.Scan(context.Background(), strings.NewReader(data))
						if err != nil || res.Infected != infected {
							errs <- fmt.Errorf("worker %d scan %d = %+v, %v", w, i, res, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := c.idleCount(); n > 4 {
				t.Errorf("%d idle sessions, want at most 4", n)
			}
			if conns, _ := f.counts(); conns >= workers*scans {
				t.Errorf("%d connections for %d scans: sessions not reused", conns, workers*scans)
			}
		})
	}
}

// countingWriter counts the writes and keeps what was written.
type countingWriter struct {
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func TestSendFewWrites(t *testing.T) {
	frame := func(cmd string, chunks ...string) string {
		s := cmd
		for _, ch := range chunks {
			n := len(ch)
			s += string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + ch
		}
		return s + "\x00\x00\x00\x00"
	}
	msg := string(benchMail())
	tests := []struct {
		name       string
		chunkSize  int
		data       string
		cmd        string
		want       string
		wantWrites int
	}{
		{"4 kB", 0, msg, cmdInstream, frame(cmdInstream, msg), 1},
		{"4 kB, new session", 0, msg, cmdSession + cmdInstream, frame(cmdSession+cmdInstream, msg), 1},
		{"empty", 0, "", cmdInstream, frame(cmdInstream), 1},
		{"exactly one chunk", 4, "abcd", cmdInstream, frame(cmdInstream, "abcd"), 2},
		{"partial last chunk", 4, "abcdefghij", cmdInstream, frame(cmdInstream, "abcd", "efgh", "ij"), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{ChunkSize: tt.chunkSize}
			d, err := c.newScanData(strings.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			defer d.free()
			for round := range 2 { // sent again, as for a retry
				var w countingWriter
				if err := d.send(&w, tt.cmd); err != nil {
					t.Fatal(err)
				}
				if w.buf.String() != tt.want {
					t.Errorf("round %d: sent %q, want %q", round, w.buf.String(), tt.want)
				}
				if w.writes != tt.wantWrites {
					t.Errorf("round %d: %d writes, want %d", round, w.writes, tt.wantWrites)
				}
				if !d.rewind() {
					t.Fatal("rewind failed")
				}
			}
		})
	}
}

func TestScanReadError(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, ChunkSize: 4}
	defer c.Close()
	boom := errors.New("disk on fire")
	for _, r := range []io.Reader{
		io.MultiReader(strings.NewReader("ab"), errReader{boom}),
		io.MultiReader(strings.NewReader("abcdefgh"), errReader{boom}),
	} {
		_, err := c.Scan(context.Background(), r)
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading message") {
			t.Errorf("Scan error = %v, want reading message: %v", err, boom)
		}
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("ok")); err != nil {
		t.Errorf("Scan after read errors: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
