package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMailConnectionCaps (issue 16 item 3): every mail listener of `yubin
// serve` — the MX, submission on both ports, IMAP, IMAPS, POP3, POP3S and
// ManageSieve — runs on the one connection lifecycle, which applies
// YUBIN_MAX_CONNECTIONS_PER_IP: a connection beyond it gets its protocol's
// refusal (over TLS on implicit-TLS ports) and is closed, while the
// connections within it are served; one that leaves gives its place back.
func TestMailConnectionCaps(t *testing.T) {
	const perIP = 2
	dir := t.TempDir()
	listeners := []struct {
		env, name string
		implicit  bool
		greeting  string // the start of the greeting of a served connection
		refusal   string // the refusal of one beyond the cap
	}{
		{"YUBIN_SMTP_ADDR", "smtp", false, "220 ", "421 4.7.0 mail.example.test too many connections"},
		{"YUBIN_SUBMISSION_ADDR", "submission", false, "220 ", "421 4.7.0 mail.example.test too many connections"},
		{"YUBIN_SUBMISSIONS_ADDR", "submissions", true, "220 ", "421 4.7.0 mail.example.test too many connections"},
		{"YUBIN_IMAP_ADDR", "imap", false, "* OK", "* BYE [UNAVAILABLE] too many connections"},
		{"YUBIN_IMAPS_ADDR", "imaps", true, "* OK", "* BYE [UNAVAILABLE] too many connections"},
		{"YUBIN_POP3_ADDR", "pop3", false, "+OK", "-ERR [SYS/TEMP] too many connections"},
		{"YUBIN_POP3S_ADDR", "pop3s", true, "+OK", "-ERR [SYS/TEMP] too many connections"},
		{"YUBIN_MANAGESIEVE_ADDR", "managesieve", false, `"IMPLEMENTATION"`, `BYE (TRYLATER) "Too many connections"`},
	}
	settings := map[string]string{
		"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_FILTERS": "none",
		"YUBIN_MAX_CONNECTIONS_PER_IP": "2",
	}
	addrs := map[string]string{}
	for _, l := range listeners {
		addrs[l.name] = freeLoopbackAddr(t)
		settings[l.env] = addrs[l.name]
	}
	rs := startServe(t, dir, settings)
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))

	for _, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			dial := func() (net.Conn, string) {
				t.Helper()
				var c net.Conn
				var err error
				if l.implicit {
					c, err = tls.Dial("tcp", addrs[l.name], &tls.Config{InsecureSkipVerify: true})
				} else {
					c, err = net.Dial("tcp", addrs[l.name])
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				return c, strings.TrimRight(line, "\r\n")
			}
			// served dials until a connection is served: places held by
			// sessions that are ending (of the previous subtest, or of the
			// other port of the same server, which shares the caps) come
			// back once those end; the test's own deadline bounds the wait.
			served := func() net.Conn {
				t.Helper()
				for {
					c, greeting := dial()
					if strings.HasPrefix(greeting, l.greeting) {
						return c
					}
					c.Close()
					if greeting != l.refusal {
						t.Fatalf("connection got %q", greeting)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			var held []net.Conn
			for range perIP {
				held = append(held, served())
			}
			// Every place is ours: one more is refused.
			over, line := dial()
			if line != l.refusal {
				t.Fatalf("connection over the cap got %q, want %q", line, l.refusal)
			}
			if n, err := over.Read(make([]byte, 1)); err == nil {
				t.Fatalf("connection over the cap left open (read %d bytes)", n)
			}
			// A served connection that leaves gives its place back.
			held[0].Close()
			served().Close()
		})
	}
}
