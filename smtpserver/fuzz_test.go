package smtpserver

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzCommandParser: no command line makes the parsers panic, and what
// they accept is well-formed.
func FuzzCommandParser(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<ann@example.com> SIZE=100 BODY=8BITMIME SMTPUTF8",
		"RCPT TO:<\"a b\"@example.com>",
		"MAIL FROM:<@a,@b:c@d>",
		"MAIL FROM: <>",
		"BDAT 100 LAST",
		"BURL imap://ann@host/INBOX/;UID=1;URLAUTH=submit+ann:INTERNAL:00 LAST",
		"AUTH PLAIN AGFubgBzZWNyZXQ=",
		"MAIL FROM:<a@b> AUTH=a+2Bb",
		"EHLO [127.0.0.1]",
		"\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err == nil && (cmd.verb == "" || strings.ToUpper(cmd.verb) != cmd.verb) {
			t.Fatalf("verb %q", cmd.verb)
		}
		for _, prefix := range []string{"FROM:", "TO:"} {
			addr, params, perr := parsePathArg(line, prefix)
			if perr == nil {
				if strings.ContainsAny(addr, "<") && !strings.Contains(addr, `"`) {
					t.Fatalf("address %q kept a bracket", addr)
				}
				if len(params) > maxParams {
					t.Fatalf("%d parameters", len(params))
				}
			} else if perr.Code < 500 || perr.Code > 555 {
				t.Fatalf("code %d", perr.Code)
			}
		}
		parseChunkArg(line)
		parseSize(line)
		xtextDecode(line)
	})
}

// stuff dot-stuffs a message whose lines end in CRLF and adds the end
// marker, as a client does.
func stuff(msg string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(msg, "\r\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	b.WriteString(".\r\n")
	return b.String()
}

// FuzzDotReader: any message, dot-stuffed and ended as RFC 5321 says,
// reads back as it was (whatever bare CRs and LFs it holds), and the bytes
// after the end marker are left for the next command; any input gives a
// bounded output.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{"", "a\r\n", ".\r\n..\r\n", "a\r.\rb\r\n", "a\n.\nb", "hello\r\r\n", "\r", "x\r\n.", ".\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		// Round trip: only messages ending in CRLF (or empty) can be sent.
		if msg == "" || strings.HasSuffix(msg, "\r\n") {
			in := stuff(msg) + "NOOP\r\n"
			br := bufio.NewReaderSize(strings.NewReader(in), 16)
			got, err := io.ReadAll(&oneByteReader{newDotReader(br)})
			if err != nil || string(got) != msg {
				t.Fatalf("message %q: read %q, %v", msg, got, err)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != "NOOP\r\n" {
				t.Fatalf("message %q: left %q", msg, rest)
			}
		}
		// Raw input.
		got, _ := io.ReadAll(newDotReader(bufio.NewReader(strings.NewReader(msg))))
		if len(got) > len(msg) {
			t.Fatalf("input %q: read %q", msg, got)
		}
	})
}

// oneByteReader reads through a 1-byte buffer (the held-back bytes of
// dotReader must survive it).
type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// FuzzSession feeds random input to a session, after EHLO and a login,
// and checks that the server survives: it answers the next client.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBURL imap://x LAST\r\nBDAT 0 LAST\r\n",
		"AUTH LOGIN\r\n*\r\nSTARTTLS\r\n\x16\x03\x01",
		"RSET\r\nVRFY x\r\nBDAT 99999999999999999999\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\r\n.\n.\r.\r\n",
	} {
		f.Add(s)
	}
	ts := startServer(f, nil, false, func(o *Options) { o.ReadTimeout = 2 * time.Second })
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = io.WriteString(c, "EHLO fuzz.example\r\nAUTH PLAIN "+plainIR("", "ann", "secret")+"\r\n"+input+"\r\nQUIT\r\n")
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}()
		_, _ = io.Copy(io.Discard, c)
		c.Close()

		rc := ts.raw(t)
		rc.Cmd("NOOP", 250)
		rc.Cmd("QUIT", 221)
	})
}
