package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
)

// fakeClamd is a clamd speaking the protocol on a loopback listener.
type fakeClamd struct {
	ln net.Listener

	// limit is the StreamMaxLength; 0 means none.
	limit int
	// delay is how long to wait before replying (cut short when the test
	// ends: see stop).
	delay time.Duration
	// stop is closed when the test ends.
	stop chan struct{}
	// virus is the marker that makes a stream infected.
	virus string

	// dropAfter, if positive, makes the server end each session after
	// this many replies, the way dropMode says.
	dropAfter int
	dropMode  dropMode
	// wrongID makes replies in sessions carry the wrong request number.
	wrongID bool
	// failSessions, set with setFailSessions, makes every session end
	// on its first command without a reply.
	failSessions bool

	mu       sync.Mutex
	chunks   []int    // lengths of the chunks received in the last INSTREAM
	received []byte   // data of the last INSTREAM
	streams  [][]byte // data of every INSTREAM since takeStreams
	commands []string
	open     map[net.Conn]bool
	conns    int // connections accepted
	sessions int // IDSESSION commands received
	wg       sync.WaitGroup
}

// dropMode is how the fake clamd ends a session.
type dropMode int

const (
	// dropOnNext reads the next command and closes without a reply.
	dropOnNext dropMode = iota
	// dropTimedOut answers the next command with "COMMAND READ TIMED
	// OUT", as clamd does when a session stayed idle, and closes.
	dropTimedOut
	// dropAtOnce closes right after the last reply.
	dropAtOnce
)

const fakeSig = "Fake.Test.Virus"

func newFakeClamd(t testing.TB, network string) *fakeClamd {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "clamd.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{ln: ln, virus: "VIRUS-MARKER", stop: make(chan struct{})}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		close(f.stop)
		ln.Close()
		// Close the sessions that clients keep open.
		f.mu.Lock()
		for c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeClamd) addr() string {
	if f.ln.Addr().Network() == "unix" {
		return "unix:" + f.ln.Addr().String()
	}
	return f.ln.Addr().String()
}

func (f *fakeClamd) serve() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		f.mu.Lock()
		if f.open == nil {
			f.open = make(map[net.Conn]bool)
		}
		f.open[conn] = true
		f.mu.Unlock()
		go func() {
			defer f.wg.Done()
			defer func() {
				f.mu.Lock()
				delete(f.open, conn)
				f.mu.Unlock()
				conn.Close()
			}()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			f.handle(conn)
		}()
	}
}

func (f *fakeClamd) handle(conn net.Conn) {
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	br := bufio.NewReader(conn)
	cmd, err := f.readCommand(br)
	if err != nil {
		return
	}
	if cmd != "zIDSESSION" {
		f.run(conn, br, cmd, "")
		return
	}
	f.mu.Lock()
	f.sessions++
	f.mu.Unlock()
	for id := 1; ; id++ {
		cmd, err := f.readCommand(br)
		if err != nil || cmd == "zEND" {
			return
		}
		f.mu.Lock()
		fail := f.failSessions
		f.mu.Unlock()
		if fail || (f.dropAfter > 0 && id > f.dropAfter) {
			if f.dropMode == dropTimedOut {
				conn.Write([]byte("COMMAND READ TIMED OUT\n"))
			}
			return
		}
		n := id
		if f.wrongID {
			n++
		}
		if !f.run(conn, br, cmd, strconv.Itoa(n)+": ") {
			return
		}
		if f.dropAfter > 0 && id == f.dropAfter && f.dropMode == dropAtOnce {
			return
		}
	}
}

func (f *fakeClamd) readCommand(br *bufio.Reader) (string, error) {
	cmd, err := br.ReadString(0)
	if err != nil {
		return "", err
	}
	cmd = strings.TrimSuffix(cmd, "\x00")
	f.mu.Lock()
	f.commands = append(f.commands, cmd)
	f.mu.Unlock()
	return cmd, nil
}

// run carries out cmd, prefixing the reply with prefix, and reports
// whether the connection can go on.
func (f *fakeClamd) run(conn net.Conn, br *bufio.Reader, cmd, prefix string) bool {
	reply := func(s string) {
		if f.delay > 0 {
			t := time.NewTimer(f.delay)
			select {
			case <-t.C:
			case <-f.stop:
				t.Stop()
			}
		}
		conn.Write([]byte(prefix + s + "\x00"))
	}
	switch cmd {
	case "zPING":
		reply("PONG")
	case "zVERSION":
		reply("ClamAV 1.0.0/27000/Thu Jan  1 00:00:00 2026")
	case "zINSTREAM":
		var data []byte
		var chunks []int
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return false
			}
			n := int(binary.BigEndian.Uint32(hdr[:]))
			if n == 0 {
				break
			}
			if f.limit > 0 && len(data)+n > f.limit {
				// Like clamd: reply and close without reading on.
				conn.Write([]byte(prefix + "INSTREAM size limit exceeded. ERROR\x00"))
				return false
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(br, buf); err != nil {
				return false
			}
			chunks = append(chunks, n)
			data = append(data, buf...)
		}
		f.mu.Lock()
		f.chunks, f.received = chunks, data
		f.streams = append(f.streams, data)
		f.mu.Unlock()
		if bytes.Contains(data, []byte(f.virus)) {
			reply("stream: " + fakeSig + " FOUND")
		} else {
			reply("stream: OK")
		}
	default:
		reply("UNKNOWN COMMAND")
		return false
	}
	return true
}

// setFailSessions sets failSessions.
func (f *fakeClamd) setFailSessions(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSessions = fail
}

// counts returns the numbers of connections and sessions so far.
func (f *fakeClamd) counts() (conns, sessions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, f.sessions
}

// takeStreams returns the data of every INSTREAM received since the last
// call, in order, and forgets them.
func (f *fakeClamd) takeStreams() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.streams
	f.streams = nil
	return s
}

func (f *fakeClamd) last() ([]int, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chunks, f.received
}

func TestPingVersion(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			f := newFakeClamd(t, network)
			c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
			if err := c.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			v, err := c.Version(context.Background())
			if err != nil || !strings.HasPrefix(v, "ClamAV 1.0.0/") {
				t.Fatalf("Version = %q, %v", v, err)
			}
		})
	}
}

func TestScanChunks(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, ChunkSize: 10}
	tests := []struct {
		name       string
		data       string
		wantChunks []int
	}{
		{"empty", "", nil},
		{"one byte", "x", []int{1}},
		{"exactly one chunk", "0123456789", []int{10}},
		{"partial last chunk", "0123456789abcdefghijklmnopqrstu", []int{10, 10, 10, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Scan(context.Background(), strings.NewReader(tt.data))
			if err != nil || res.Infected {
				t.Fatalf("Scan = %+v, %v; want clean", res, err)
			}
			chunks, data := f.last()
			if string(data) != tt.data {
				t.Errorf("server received %q, want %q", data, tt.data)
			}
			if !equalInts(chunks, tt.wantChunks) {
				t.Errorf("chunks = %v, want %v", chunks, tt.wantChunks)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScanLarge(t *testing.T) {
	f := newFakeClamd(t, "unix")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
	data := bytes.Repeat([]byte("abcdefgh"), 100_000) // 800 kB
	data = append(data, "VIRUS-MARKER"...)
	res, err := c.Scan(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Infected || res.Signature != fakeSig {
		t.Errorf("Scan = %+v, want infected with %s", res, fakeSig)
	}
	chunks, got := f.last()
	if !bytes.Equal(got, data) {
		t.Errorf("server received %d bytes, want %d", len(got), len(data))
	}
	if len(chunks) != (len(data)+DefaultChunkSize-1)/DefaultChunkSize {
		t.Errorf("got %d chunks", len(chunks))
	}
}

func TestScanSizeLimit(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	f.limit = 1000
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second, ChunkSize: 100}
	// Much more than the limit, so that writes fail after clamd closed.
	_, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 4<<20)))
	if !errors.Is(err, ErrSizeLimit) {
		t.Fatalf("Scan error = %v, want ErrSizeLimit", err)
	}
	// Just over the limit: the reply comes after the data was written.
	_, err = c.Scan(context.Background(), bytes.NewReader(make([]byte, 1001)))
	if !errors.Is(err, ErrSizeLimit) {
		t.Fatalf("Scan error = %v, want ErrSizeLimit", err)
	}
}

func TestParseScanReply(t *testing.T) {
	tests := []struct {
		reply   string
		want    Result
		wantErr string
	}{
		{"stream: OK", Result{}, ""},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", Result{Infected: true, Signature: "Win.Test.EICAR_HDB-1"}, ""},
		{"1: stream: Eicar-Signature FOUND", Result{Infected: true, Signature: "Eicar-Signature"}, ""},
		{"INSTREAM size limit exceeded. ERROR", Result{}, "size limit exceeded"},
		{"stream: Can't allocate memory ERROR", Result{}, "Can't allocate memory"},
		{"stream:  FOUND", Result{}, "unexpected reply"},
		{"what?", Result{}, "unexpected reply"},
	}
	for _, tt := range tests {
		got, err := parseScanReply(tt.reply)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseScanReply(%q) error = %v, want %q", tt.reply, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseScanReply(%q) = %+v, %v; want %+v", tt.reply, got, err, tt.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	// clamd answers only after a minute: only the timeouts can end the
	// calls, and the bounds below are far from both, whatever the load.
	f := newFakeClamd(t, "tcp")
	f.delay = time.Minute
	t.Run("client timeout", func(t *testing.T) {
		c := &Client{Addr: f.addr(), Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := c.Scan(context.Background(), strings.NewReader("hello"))
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("Scan error = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Scan took %v", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		c := &Client{Addr: f.addr()}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Ping(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Ping error = %v, want deadline exceeded", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Ping took %v", d)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		c := &Client{Addr: f.addr()}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Scan(ctx, strings.NewReader("hello"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan error = %v, want canceled", err)
		}
	})
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Client{Addr: addr, Timeout: time.Second}
	if err := c.Ping(context.Background()); err == nil {
		t.Error("Ping to a closed port succeeded")
	}
	if _, err := (&Client{}).Scan(context.Background(), strings.NewReader("")); err == nil {
		t.Error("Scan without an address succeeded")
	}
}

func testMessage(raw string) *filters.Message {
	return filters.NewMessage(
		filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.1:2525"), HELO: "client.example.org"},
		filters.Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.com"}},
		strings.NewReader(raw), int64(len(raw)),
	)
}

func TestFilter(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	flt := NewFilter(&Client{Addr: f.addr(), Timeout: 5 * time.Second})
	if flt.Name() != "clamd" {
		t.Errorf("Name = %q", flt.Name())
	}
	ctx := context.Background()

	v, err := flt.Check(ctx, testMessage("Subject: hi\r\n\r\nclean body\r\n"))
	if err != nil || v.Action != filters.Accept {
		t.Errorf("clean message: %+v, %v", v, err)
	}

	v, err = flt.Check(ctx, testMessage("Subject: hi\r\n\r\nVIRUS-MARKER\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != filters.Reject || v.Code != 554 || v.EnhancedCode != [3]int{5, 7, 1} ||
		v.Reason != "message contains a virus ("+fakeSig+")" {
		t.Errorf("infected message: %+v", v)
	}
	if len(v.Evidence) != 1 || v.Evidence[0].Result != "infected" || v.Evidence[0].Detail != fakeSig {
		t.Errorf("evidence = %+v", v.Evidence)
	}

	// Through a chain, the reply survives normalisation.
	chain := filters.NewChain(nil, filters.Stage{Filter: flt, Enabled: true})
	cv := chain.Check(ctx, testMessage("Subject: hi\r\n\r\nVIRUS-MARKER\r\n"))
	if cv.Action != filters.Reject || cv.Code != 554 {
		t.Errorf("chain verdict: %+v", cv)
	}

	// Oversized messages are skipped when MaxSize is set.
	big := &Filter{Client: flt.Client, MaxSize: 10}
	v, err = big.Check(ctx, testMessage("Subject: hi\r\n\r\nVIRUS-MARKER\r\n"))
	if err != nil || v.Action != filters.Accept || len(v.Evidence) != 1 || v.Evidence[0].Result != "skipped" {
		t.Errorf("oversized message: %+v, %v", v, err)
	}
}

func TestFilterErrorTempFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	flt := NewFilter(&Client{Addr: addr, Timeout: time.Second})
	if _, err := flt.Check(context.Background(), testMessage("Subject: x\r\n\r\n")); err == nil {
		t.Fatal("Check succeeded without clamd")
	}
	chain := filters.NewChain(nil, filters.Stage{Filter: flt, Enabled: true})
	v := chain.Check(context.Background(), testMessage("Subject: x\r\n\r\n"))
	if v.Action != filters.TempFail || v.Code != 451 {
		t.Errorf("chain verdict with clamd down: %+v", v)
	}
}
