// Package testimap is a line-at-a-time IMAP client for tests that drive a
// real server over a socket and look at its exact responses (IDLE's
// unsolicited ones, say), where a full client library would hide them.
package testimap

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Wait bounds how long a read waits for a line that must come.
const Wait = 60 * time.Second

// Conn is an IMAP connection read and written one line at a time.
type Conn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// Dial connects to addr over plain TCP (loopback lets a client log in
// without TLS), reads the greeting and closes the connection when the
// test ends.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &Conn{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.Line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

// Line reads one response line, without CRLF.
func (r *Conn) Line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(Wait))
	s, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// Send writes line and CRLF.
func (r *Conn) Send(line string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(Wait))
	if _, err := io.WriteString(r.c, line+"\r\n"); err != nil {
		r.t.Fatal(err)
	}
}

// Until reads lines until one starts with prefix and returns it.
func (r *Conn) Until(prefix string) string {
	r.t.Helper()
	for {
		if l := r.Line(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// OK sends "tag line", wants its tagged OK and returns the untagged lines
// before it.
func (r *Conn) OK(tag, line string) []string {
	r.t.Helper()
	r.Send(tag + " " + line)
	var untagged []string
	for {
		l := r.Line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				r.t.Fatalf("%s: %s", line, l)
			}
			return untagged
		}
		untagged = append(untagged, l)
	}
}
