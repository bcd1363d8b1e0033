package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clamdTicks returns the CPU time (user+system) used so far by process pid.
func clamdTicks(t testing.TB, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return time.Duration(u+k) * 10 * time.Millisecond // CLK_TCK is 100
}

// selfCPU returns the CPU time used so far by this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchMail returns a plain 4 kB message, as in zzexp.
func benchMail() []byte {
	body := bytes.Repeat([]byte("The quarterly figures look fine and the delivery schedule holds for next week.\r\n"), 48)
	return append([]byte("From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"), body...)
}

// rawSession is a hand-written IDSESSION client used to measure the
// protocol independently of Client.
type rawSession struct {
	conn net.Conn
	br   *bufio.Reader
	n    int
}

func dialRawSession(network, addr string) (*rawSession, error) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("zIDSESSION\x00")); err != nil {
		return nil, err
	}
	return &rawSession{conn: conn, br: bufio.NewReader(conn)}, nil
}

func (s *rawSession) scan(data []byte) (string, error) {
	s.n++
	buf := make([]byte, 0, 10+4+len(data)+4)
	buf = append(buf, "zINSTREAM\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	buf = append(buf, data...)
	buf = append(buf, 0, 0, 0, 0)
	if _, err := s.conn.Write(buf); err != nil {
		return "", err
	}
	reply, err := s.br.ReadString(0)
	if err != nil {
		return "", err
	}
	prefix := strconv.Itoa(s.n) + ": "
	if !strings.HasPrefix(reply, prefix) {
		return "", fmt.Errorf("reply %q, want prefix %q", reply, prefix)
	}
	return reply, nil
}

func (s *rawSession) close() {
	s.conn.Write([]byte("zEND\x00"))
	s.conn.Close()
}

// TestMeasureSessions measures the CPU per scan, on our side and clamd's,
// of one connection per scan against clamd sessions. It is an experiment,
// run only with YUBIN_CLAMD_MEASURE=1 (e.g. with -run MeasureSessions -v).
func TestMeasureSessions(t *testing.T) {
	if os.Getenv("YUBIN_CLAMD_MEASURE") == "" {
		t.Skip("set YUBIN_CLAMD_MEASURE=1 to measure")
	}
	clamd, sigtool := ensureClamd(t)
	tmp := "/dev/shm"
	if v := os.Getenv("YUBIN_CLAMD_TMP"); v != "" {
		tmp = v
	}
	tmpDir, err := os.MkdirTemp(tmp, "clamdtmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmpDir) })
	rc := startClamdWith(t, clamd, sigtool, clamdOptions{tmpDir: tmpDir, tcp: true,
		extra: "MaxThreads 20\nMaxQueue 200\n"})
	n := 4000
	if v := os.Getenv("YUBIN_CLAMD_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	data := benchMail()
	if os.Getenv("YUBIN_CLAMD_SMALL") != "" {
		data = []byte("hello world\r\n")
	}
	modes := strings.Fields(os.Getenv("YUBIN_CLAMD_MODES"))
	if len(modes) == 0 {
		modes = []string{"perconn", "rawsession", "client"}
	}
	for _, network := range []string{"unix", "tcp"} {
		addr := rc.client.Addr
		if network == "tcp" {
			addr = rc.tcpAddr
		}
		for _, conc := range []int{8, 20} {
			for _, mode := range modes {
				var scan func(ctx context.Context, worker int) error
				var cleanup func()
				switch mode {
				case "perconn", "client":
					c := &Client{Addr: addr, Timeout: 10 * time.Second}
					if mode == "perconn" {
						c.MaxIdle = -1
					} else {
						c.MaxIdle = conc
					}
					scan = func(ctx context.Context, _ int) error {
						res, err := c.Scan(ctx, bytes.NewReader(data))
						if err == nil && res.Infected {
							err = fmt.Errorf("infected: %+v", res)
						}
						return err
					}
					cleanup = func() { c.Close() }
				case "rawsession":
					sessions := make([]*rawSession, conc)
					raddr := strings.TrimPrefix(addr, "unix:")
					for i := range sessions {
						s, err := dialRawSession(network, raddr)
						if err != nil {
							t.Fatal(err)
						}
						sessions[i] = s
					}
					scan = func(_ context.Context, w int) error {
						_, err := sessions[w].scan(data)
						return err
					}
					cleanup = func() {
						for _, s := range sessions {
							s.close()
						}
					}
				}
				// Warm up.
				for w := 0; w < conc; w++ {
					if err := scan(context.Background(), w); err != nil {
						t.Fatalf("%s %s warm-up: %v", network, mode, err)
					}
				}
				work := make(chan struct{}, n)
				for range n {
					work <- struct{}{}
				}
				close(work)
				c0, s0, start := clamdTicks(t, rc.pid), selfCPU(), time.Now()
				var wg sync.WaitGroup
				var errOnce sync.Once
				var firstErr error
				for w := 0; w < conc; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range work {
							if err := scan(context.Background(), w); err != nil {
								errOnce.Do(func() { firstErr = err })
								return
							}
						}
					}()
				}
				wg.Wait()
				el := time.Since(start)
				c1, s1 := clamdTicks(t, rc.pid), selfCPU()
				cleanup()
				if firstErr != nil {
					t.Fatalf("%s %s: %v", network, mode, firstErr)
				}
				per := func(d time.Duration) float64 { return float64(d) / float64(n) / 1e6 }
				t.Logf("%-4s c=%2d %-10s %6.0f scans/s  clamd %.3f ms/scan  ours %.3f ms/scan  total %.3f ms/scan",
					network, conc, mode, float64(n)/el.Seconds(), per(c1-c0), per(s1-s0), per(c1-c0+s1-s0))
			}
		}
	}
}
