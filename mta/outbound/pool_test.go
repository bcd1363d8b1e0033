package outbound

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingMTA is a small SMTP server on loopback that counts connections,
// messages and RSETs, and can drop connections the way real servers do.
type countingMTA struct {
	addr string

	mu          sync.Mutex
	connections int
	messages    int
	rsets       int
	quits       int
	// dropAtRSET closes the connection instead of answering RSET;
	// dropAtSecondMail closes it at the second MAIL FROM of a connection.
	dropAtRSET, dropAtSecondMail bool
}

func newCountingMTA(t *testing.T) *countingMTA {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &countingMTA{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.mu.Lock()
			m.connections++
			m.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); m.serve(c) }()
		}
	}()
	return m
}

func (m *countingMTA) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 counting.test ESMTP")
	mails := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		m.mu.Lock()
		dropRSET, dropMail := m.dropAtRSET, m.dropAtSecondMail
		m.mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-counting.test")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL"):
			mails++
			if dropMail && mails > 1 {
				return
			}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT"):
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			m.mu.Lock()
			m.messages++
			m.mu.Unlock()
			say("250 kept")
		case cmd == "RSET":
			if dropRSET {
				return
			}
			m.mu.Lock()
			m.rsets++
			m.mu.Unlock()
			say("250 ok")
		case cmd == "QUIT":
			m.mu.Lock()
			m.quits++
			m.mu.Unlock()
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

func (m *countingMTA) counts() (connections, messages, rsets, quits int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connections, m.messages, m.rsets, m.quits
}

// TestConnectionReuse: issue 18 item 6. N messages for one destination go
// over one SMTP connection (RSET between them), at most ReuseMessages per
// connection, and a peer that drops a kept connection costs a reconnect,
// never a message.
func TestConnectionReuse(t *testing.T) {
	const n = 10
	tests := []struct {
		name                  string
		reuse                 int
		dropRSET, dropMail    bool
		wantConns, wantReused int
	}{
		{name: "one connection", reuse: 0, wantConns: 1, wantReused: n - 1},
		{name: "cap per connection", reuse: 3, wantConns: 4, wantReused: n - 4},
		{name: "reuse off", reuse: -1, wantConns: n, wantReused: 0},
		{name: "peer drops at RSET", reuse: 0, dropRSET: true, wantConns: n, wantReused: 0},
		{name: "peer drops at MAIL", reuse: 0, dropMail: true, wantConns: n, wantReused: n - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mta := newCountingMTA(t)
			mta.dropAtRSET, mta.dropAtSecondMail = tt.dropRSET, tt.dropMail
			st := testStore(t)
			for i := range n {
				enqueue(t, st, ann, "rcpt"+strconv.Itoa(i)+"@remote.test")
			}
			w := testWorker(t, st, &sink{}, newClock(), func(o *Options) {
				o.Smarthost, o.SmarthostTLS = mta.addr, TLSNone
				o.PerDomain = 1 // one delivery at a time: they follow each other
				o.ReuseMessages = tt.reuse
				o.Now = nil
			})
			process(t, w)
			conns, msgs, rsets, quits := mta.counts()
			if msgs != n {
				t.Fatalf("%d messages arrived, want %d", msgs, n)
			}
			if conns != tt.wantConns {
				t.Errorf("%d connections for %d messages, want %d", conns, n, tt.wantConns)
			}
			s := w.Stats()
			if s.Delivered != n || s.Deferred != 0 || int(s.Connections) != tt.wantConns || int(s.Reused) != tt.wantReused {
				t.Errorf("stats %+v", s)
			}
			if !tt.dropRSET && !tt.dropMail && rsets != tt.wantReused {
				t.Errorf("%d RSETs, want one per reuse (%d)", rsets, tt.wantReused)
			}
			if !tt.dropRSET && !tt.dropMail && quits != tt.wantConns {
				t.Errorf("%d QUITs for %d connections", quits, tt.wantConns)
			}
			if q := queued(t, st); len(q) != 0 {
				t.Errorf("queue still holds %d", len(q))
			}
		})
	}
}

// TestPoolIdleExpiry: a kept connection is handed to its expiry once idle
// for the given time, and can then no longer be taken.
func TestPoolIdleExpiry(t *testing.T) {
	var p pool
	s := &session{}
	expired := make(chan *session, 1)
	p.put("k", s, time.Millisecond, func(s *session) { expired <- s })
	select {
	case got := <-expired:
		if got != s {
			t.Fatal("another session expired")
		}
	case <-time.After(time.Minute):
		t.Fatal("the idle session never expired")
	}
	if p.take("k") != nil {
		t.Fatal("an expired session was taken")
	}
	// Taken before it expires: never expired.
	p.put("k", s, time.Hour, func(*session) { t.Error("a taken session expired") })
	if p.take("k") != s {
		t.Fatal("not taken")
	}
	if p.take("k") != nil || len(p.drain()) != 0 {
		t.Fatal("pool not empty")
	}
}

// A session opened for a domain without an enforced MTA-STS policy (where
// STARTTLS was opportunistic) is never reused for one with it.
func TestPoolKeySeparatesMTASTSEnforce(t *testing.T) {
	plain := target{addr: "192.0.2.1:25", name: "mx.example.org", tls: ""}
	enforced := plain
	enforced.stsEnforce = true
	if poolKey(plain) == poolKey(enforced) {
		t.Fatalf("one pool key %q for sessions with and without an enforced MTA-STS policy", poolKey(plain))
	}
}
