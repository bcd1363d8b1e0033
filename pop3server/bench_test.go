package pop3server

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchMessage returns a message of about size bytes: a header and lines
// of 76 characters, every tenth starting with a dot.
func benchMessage(size int) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: alice@example.com\r\nSubject: bench\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		if i%10 == 0 {
			b.WriteString(".")
			b.WriteString(strings.Repeat("x", 75))
		} else {
			b.WriteString(strings.Repeat("y", 76))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

func BenchmarkRETR(b *testing.B) {
	for _, size := range []int{10 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := newTestEnv(b, nil, nil)
			msg := benchMessage(size)
			e.add(msg)
			c := e.login()
			_ = c.conn.SetDeadline(time.Time{})
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.send("RETR 1")
				c.expectPrefix("+OK")
				n := 0
				for {
					line, err := c.r.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if bytes.Equal(line, []byte(".\r\n")) {
						break
					}
					n += len(line)
				}
				if n < len(msg) {
					b.Fatalf("RETR gave %d bytes, want at least %d", n, len(msg))
				}
			}
			b.StopTimer()
			c.cmdOK("QUIT")
		})
	}
}
