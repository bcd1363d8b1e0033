package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// The clients are checked against in-memory servers here, so that a
// broken client cannot pass for a slow or broken Yubin.

func TestFetchAllMemServer(t *testing.T) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("u", "p")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	tp := newTemplate(4500, "u@example.com", false, 1)
	var want int64
	const n = 50
	for i := 0; i < n; i++ {
		m := tp.render(nil)
		want += int64(len(m))
		if _, err := u.Append("INBOX", literal(m), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	if !waitGreeting(addr, 2*time.Second) {
		t.Fatal("no greeting")
	}
	if got, err := inboxCount(addr, "u", "p"); err != nil || got != n {
		t.Fatalf("inboxCount = %d, %v", got, err)
	}
	c, err := imapLogin(addr, "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []bool{false, true} {
		r, err := fetchAll(c, uid, pidMeter(os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Messages != n || r.Bytes != want {
			t.Errorf("uid=%v: %d messages, %d bytes; want %d, %d", uid, r.Messages, r.Bytes, n, want)
		}
	}
	m, err := idleConns(addr, "u", "p", 20, 10*time.Millisecond, pidMeter(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if m.Conns != 20 || m.Idle.RSS <= 0 || m.Full.RSS <= 0 {
		t.Errorf("idleConns: %+v", m)
	}
}

type literalReader struct {
	*bytes.Reader
}

func (l literalReader) Size() int64 { return int64(l.Len()) }

func literal(b []byte) imap.LiteralReader { return literalReader{bytes.NewReader(b)} }

// fakePOP3 serves msgs to one client at a time: CAPA (with PIPELINING if
// pipelining), USER, PASS, STAT, RETR n, QUIT. It reads commands with a
// buffered reader, so pipelined commands work.
func fakePOP3(t testing.TB, msgs []string, pipelining bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				bw := bufio.NewWriter(conn)
				bw.WriteString("+OK fake\r\n")
				bw.Flush()
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) == 0 {
						continue
					}
					switch strings.ToUpper(f[0]) {
					case "CAPA":
						bw.WriteString("+OK\r\nUSER\r\nUIDL\r\n")
						if pipelining {
							bw.WriteString("PIPELINING\r\n")
						}
						bw.WriteString(".\r\n")
					case "USER", "PASS":
						bw.WriteString("+OK\r\n")
					case "STAT":
						var size int
						for _, m := range msgs {
							size += len(m)
						}
						fmt.Fprintf(bw, "+OK %d %d\r\n", len(msgs), size)
					case "RETR":
						var i int
						fmt.Sscan(f[1], &i)
						if i < 1 || i > len(msgs) {
							bw.WriteString("-ERR no such message\r\n")
							break
						}
						fmt.Fprintf(bw, "+OK %d octets\r\n", len(msgs[i-1]))
						for _, l := range strings.SplitAfter(msgs[i-1], "\r\n") {
							if strings.HasPrefix(l, ".") {
								bw.WriteString(".")
							}
							bw.WriteString(l)
						}
						bw.WriteString(".\r\n")
					case "QUIT":
						bw.WriteString("+OK bye\r\n")
						bw.Flush()
						return
					default:
						bw.WriteString("-ERR unknown\r\n")
					}
					if br.Buffered() == 0 {
						bw.Flush()
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestPOP3Client(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	msgs := []string{
		"Subject: a\r\n\r\nhello\r\n",
		"Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nend\r\n",
		"Subject: long\r\n\r\n" + long + "\r\n." + long + "\r\n",
		string(newTemplate(4500, "u@example.com", false, 2).render(nil)),
	}
	for i := 0; i < 200; i++ {
		msgs = append(msgs, msgs[i%4])
	}
	for _, pipelining := range []bool{false, true} {
		addr := fakePOP3(t, msgs, pipelining)
		c, err := pop3Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.login("u", "p"); err != nil {
			t.Fatal(err)
		}
		if c.caps["PIPELINING"] != pipelining {
			t.Errorf("caps %v", c.caps)
		}
		n, size, err := c.stat()
		if err != nil || n != len(msgs) {
			t.Fatalf("stat: %d %d %v", n, size, err)
		}
		window := 1
		if pipelining {
			window = 7
		}
		r, err := c.retrAll(n, window, pidMeter(os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Bytes != size || r.Messages != n {
			t.Errorf("pipelining=%v: %d messages, %d bytes; want %d, %d", pipelining, r.Messages, r.Bytes, n, size)
		}
		if err := c.quit(); err != nil {
			t.Error(err)
		}
	}
}

// fakeIMAPFetch answers LOGIN, SELECT and one FETCH with pre-rendered
// responses: n messages of msg. It costs the server almost nothing, so
// BenchmarkClientFetch shows how fast the load generator's IMAP client can
// take a mailbox in, the ceiling of any FETCH figure it reports.
func fakeIMAPFetch(tb testing.TB, msg []byte, n int) string {
	var resp bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&resp, "* %d FETCH (UID %d BODY[] {%d}\r\n", i, i, len(msg))
		resp.Write(msg)
		resp.WriteString(")\r\n")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				conn.Write([]byte("* OK [CAPABILITY IMAP4rev1] fake\r\n"))
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) < 2 {
						continue
					}
					tag, cmd := f[0], strings.ToUpper(f[1])
					if cmd == "UID" && len(f) > 2 {
						cmd = strings.ToUpper(f[2])
					}
					switch cmd {
					case "SELECT", "EXAMINE":
						fmt.Fprintf(conn, "* %d EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n%s OK [READ-WRITE] done\r\n", n, tag)
					case "FETCH":
						conn.Write(resp.Bytes())
						fmt.Fprintf(conn, "%s OK done\r\n", tag)
					case "LOGOUT":
						fmt.Fprintf(conn, "* BYE\r\n%s OK done\r\n", tag)
						return
					default:
						fmt.Fprintf(conn, "%s OK done\r\n", tag)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func BenchmarkClientFetch(b *testing.B) {
	msg := newTemplate(4700, "u@example.com", false, 3).render(nil)
	const n = 10000
	addr := fakeIMAPFetch(b, msg, n)
	c, err := imapLogin(addr, "u", "p")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(n * len(msg)))
	for b.Loop() {
		r, err := fetchAll(c, false, pidMeter(os.Getpid()))
		if err != nil || r.Messages != n {
			b.Fatal(r.Messages, err)
		}
	}
}

func BenchmarkClientPOP3(b *testing.B) {
	msg := string(newTemplate(4700, "u@example.com", false, 4).render(nil))
	msgs := make([]string, 10000)
	for i := range msgs {
		msgs[i] = msg
	}
	addr := fakePOP3(b, msgs, true)
	b.SetBytes(int64(len(msgs) * len(msg)))
	for b.Loop() {
		c, err := pop3Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.login("u", "p"); err != nil {
			b.Fatal(err)
		}
		if _, err := c.retrAll(len(msgs), 32, pidMeter(os.Getpid())); err != nil {
			b.Fatal(err)
		}
		c.quit()
	}
}
