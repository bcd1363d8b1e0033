package mta

import (
	"net"
	"slices"
	"testing"
)

// writeRecorder is a net.Conn that records its writes.
type writeRecorder struct {
	net.Conn
	writes []string
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestClientConnJoinsReplyLines checks that the lines of a multi-line reply
// go out in one write with its last line, and that everything else (single
// lines, TLS records, anything that only looks like a reply line) is
// written as it comes.
func TestClientConnJoinsReplyLines(t *testing.T) {
	tlsRecord := "\x16\x03\x03\x00\x05250-x\r\n" // a handshake record whose bytes end like a line
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"EHLO reply", []string{"250-mx.example\r\n", "250-PIPELINING\r\n", "250 SMTPUTF8\r\n"}, []string{"250-mx.example\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"}},
		{"single line", []string{"250 2.0.0 OK\r\n", "354 Go ahead\r\n"}, []string{"250 2.0.0 OK\r\n", "354 Go ahead\r\n"}},
		{"TLS record", []string{tlsRecord, "\x17\x03\x03"}, []string{tlsRecord, "\x17\x03\x03"}},
		{"two lines in one write", []string{"250-a\r\n250-b\r\n", "250 c\r\n"}, []string{"250-a\r\n250-b\r\n", "250 c\r\n"}},
		{"no line end", []string{"250-a", "250 b\r\n"}, []string{"250-a", "250 b\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &writeRecorder{}
			c := &clientConn{Conn: rec}
			for _, w := range tc.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if !slices.Equal(rec.writes, tc.want) {
				t.Fatalf("writes %q, want %q", rec.writes, tc.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		rec := &writeRecorder{}
		c := &clientConn{Conn: rec}
		line := "250-" + string(make([]byte, 1000)) + "\r\n"
		for range 10 {
			c.Write([]byte(line))
		}
		c.Write([]byte("250 end\r\n"))
		total := 0
		for _, w := range rec.writes {
			if len(w) > maxHeldReply+len(line) {
				t.Fatalf("a write of %d bytes", len(w))
			}
			total += len(w)
		}
		if want := 10*len(line) + len("250 end\r\n"); total != want || len(rec.writes) < 2 {
			t.Fatalf("%d bytes in %d writes, want %d bytes in several", total, len(rec.writes), want)
		}
	})
}
