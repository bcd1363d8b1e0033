package limits

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnLimiterAcquire(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	aMapped := netip.MustParseAddr("::ffff:192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	v6Zone := netip.MustParseAddr("fe80::1%eth0")
	v6NoZone := netip.MustParseAddr("fe80::1")
	none := netip.Addr{}

	type acq struct {
		ip     netip.Addr
		wantOK bool
	}
	tests := []struct {
		name         string
		total, perIP int
		seq          []acq
	}{
		{"unlimited", 0, 0, []acq{{a, true}, {a, true}, {a, true}, {b, true}, {none, true}}},
		{"total", 2, 0, []acq{{a, true}, {b, true}, {a, false}, {b, false}, {none, false}}},
		{"per IP", 0, 2, []acq{{a, true}, {a, true}, {a, false}, {b, true}, {b, true}, {b, false}}},
		{"both", 3, 2, []acq{{a, true}, {a, true}, {a, false}, {b, true}, {b, false}}},
		{"mapped IPv4 is the same address", 0, 1, []acq{{a, true}, {aMapped, false}}},
		{"zone ignored", 0, 1, []acq{{v6Zone, true}, {v6NoZone, false}, {v6, true}}},
		{"invalid address only counts in total", 2, 1, []acq{{none, true}, {none, true}, {none, false}}},
		{"negative means unlimited", -1, -1, []acq{{a, true}, {a, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewConnLimiter(tt.total, tt.perIP)
			var releases []func()
			for i, s := range tt.seq {
				release, ok := l.Acquire(s.ip)
				if ok != s.wantOK {
					t.Fatalf("acquire #%d (%v): ok = %v, want %v", i, s.ip, ok, s.wantOK)
				}
				if release == nil {
					t.Fatalf("acquire #%d: nil release", i)
				}
				if ok {
					releases = append(releases, release)
				} else {
					release() // a no-op: must not free anybody's slot
				}
			}
			for _, r := range releases {
				r()
				r() // idempotent
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.active != 0 || len(l.byIP) != 0 {
				t.Fatalf("after releasing all: active = %d, byIP = %v", l.active, l.byIP)
			}
		})
	}
}

func TestConnLimiterReleaseIdempotent(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	l := NewConnLimiter(2, 0)
	r1, _ := l.Acquire(ip)
	if _, ok := l.Acquire(ip); !ok {
		t.Fatal("second acquire refused")
	}
	r1()
	r1()
	r1()
	if _, ok := l.Acquire(ip); !ok {
		t.Fatal("acquire after release refused")
	}
	if _, ok := l.Acquire(ip); ok {
		t.Fatal("repeated release freed more than one slot")
	}
}

func TestConnLimiterConcurrent(t *testing.T) {
	const total, perIP = 10, 3
	l := NewConnLimiter(total, perIP)
	ips := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("2001:db8::2"),
		netip.MustParseAddr("2001:db8::3"),
	}
	var held, maxHeld atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			ip := ips[g%len(ips)]
			for range 500 {
				release, ok := l.Acquire(ip)
				if !ok {
					continue
				}
				n := held.Add(1)
				for {
					m := maxHeld.Load()
					if n <= m || maxHeld.CompareAndSwap(m, n) {
						break
					}
				}
				held.Add(-1)
				release()
				release()
			}
		})
	}
	wg.Wait()
	if m := maxHeld.Load(); m > total {
		t.Fatalf("max concurrently held = %d, limit %d", m, total)
	}
	if l.active != 0 || len(l.byIP) != 0 {
		t.Fatalf("leaked slots: active = %d, byIP = %v", l.active, l.byIP)
	}
}

// acceptLoop accepts connections from ln until it fails and sends them on
// the returned channel.
func acceptLoop(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 16)
	go func() {
		defer close(ch)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("accept: %v", err)
				}
				return
			}
			ch <- c
		}
	}()
	return ch
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an accepted connection")
		return nil
	}
}

func expectNoAccept(t *testing.T, ch <-chan net.Conn) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected accepted connection from %v", c.RemoteAddr())
	case <-time.After(100 * time.Millisecond):
	}
}

func TestListenerRejects(t *testing.T) {
	const refusal = "421 4.7.0 too many connections\r\n"
	l := NewConnLimiter(0, 1)
	ln := l.Listener(listen(t), func(c net.Conn) {
		_, _ = io.WriteString(c, refusal)
	})
	defer ln.Close()
	accepted := acceptLoop(t, ln)

	dial(t, ln)
	first := receive(t, accepted)

	over := dial(t, ln)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(over).ReadString('\n')
	if err != nil || line != refusal {
		t.Fatalf("refused connection read %q, %v; want %q", line, err, refusal)
	}
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection not closed after refusal: %v", err)
	}
	expectNoAccept(t, accepted)

	// Closing (twice) gives the slot back exactly once.
	if err := first.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_ = first.Close()
	dial(t, ln)
	second := receive(t, accepted)
	defer second.Close()
	if nc, ok := second.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() == nil {
		t.Fatalf("accepted connection does not expose NetConn")
	}

	c := dial(t, ln)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); line != refusal {
		t.Fatalf("after re-acquire: got %q, want refusal", line)
	}
}

func TestListenerSlowRejectDoesNotBlockAccept(t *testing.T) {
	unblock := make(chan struct{})
	rejected := make(chan struct{}, 1)
	l := NewConnLimiter(1, 0)
	ln := l.Listener(listen(t), func(c net.Conn) {
		rejected <- struct{}{}
		<-unblock
	})
	defer ln.Close()
	defer close(unblock)
	accepted := acceptLoop(t, ln)

	dial(t, ln)
	first := receive(t, accepted)

	dial(t, ln) // refused; reject blocks
	select {
	case <-rejected:
	case <-time.After(5 * time.Second):
		t.Fatal("reject not called")
	}

	first.Close()
	dial(t, ln)
	receive(t, accepted).Close()
}

func TestListenerNilReject(t *testing.T) {
	l := NewConnLimiter(1, 0)
	ln := l.Listener(listen(t), nil)
	defer ln.Close()
	accepted := acceptLoop(t, ln)

	dial(t, ln)
	first := receive(t, accepted)
	defer first.Close()

	over := dial(t, ln)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection: read %d bytes, err %v; want EOF", n, err)
	}
}

func TestListenerCloseStopsAccept(t *testing.T) {
	l := NewConnLimiter(1, 1)
	ln := l.Listener(listen(t), nil)
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestAddrIP(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want netip.Addr
	}{
		{"nil", nil, netip.Addr{}},
		{"tcp", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 25}, netip.MustParseAddr("::ffff:192.0.2.7")},
		{"tcp v6", &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 25}, netip.MustParseAddr("2001:db8::7")},
		{"typed nil tcp", (*net.TCPAddr)(nil), netip.Addr{}},
		{"udp", &net.UDPAddr{IP: net.ParseIP("2001:db8::8"), Port: 53}, netip.MustParseAddr("2001:db8::8")},
		{"unix", &net.UnixAddr{Name: "/run/sock", Net: "unix"}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addrIP(tt.addr); got != tt.want {
				t.Fatalf("addrIP(%v) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// TestConnLimiterIPv6Prefix: IPv6 clients count by their /64 (or the
// configured prefix), so one client cannot multiply the per-IP cap with
// the addresses of its prefix.
func TestConnLimiterIPv6Prefix(t *testing.T) {
	a1 := netip.MustParseAddr("2001:db8:1:2::1")
	a2 := netip.MustParseAddr("2001:db8:1:2:ffff::2")
	b := netip.MustParseAddr("2001:db8:1:3::1")
	for _, tt := range []struct {
		name   string
		prefix int // 0: the default
		want   []bool
	}{
		{"default /64", 0, []bool{true, false, true}},
		{"/48 groups both", 48, []bool{true, false, false}},
		{"/128 counts each address", 128, []bool{true, true, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := NewConnLimiter(0, 1)
			if tt.prefix != 0 {
				l = l.WithIPv6Prefix(tt.prefix)
			}
			for i, ip := range []netip.Addr{a1, a2, b} {
				if _, ok := l.Acquire(ip); ok != tt.want[i] {
					t.Errorf("acquire %v: ok = %v, want %v", ip, ok, tt.want[i])
				}
			}
		})
	}
}

// TestLimitedConnReadFrom: a capped connection passes io.Copy on to the
// connection it wraps (a TCP connection then sends a file with sendfile),
// and the bytes arrive whole.
func TestLimitedConnReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	capped := NewConnLimiter(10, 10).Listener(ln, nil)
	got := make(chan []byte, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := capped.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rf, ok := c.(io.ReaderFrom)
	if !ok {
		t.Fatal("a capped connection is not an io.ReaderFrom")
	}
	want := bytes.Repeat([]byte("0123456789"), 10_000)
	f, err := os.CreateTemp(t.TempDir(), "body")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(want)
	f.Seek(0, io.SeekStart)
	if n, err := rf.ReadFrom(io.LimitReader(f, int64(len(want)))); n != int64(len(want)) || err != nil {
		t.Fatalf("ReadFrom: %d bytes, %v", n, err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer got %d bytes, want %d", len(b), len(want))
	}
}
