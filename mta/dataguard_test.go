package mta

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDataGuard(t *testing.T) {
	tests := []struct {
		name, in string
		watch    bool
		want     string
		ended    bool
		err      error
	}{
		{"plain", "a\r\nb\r\n", true, "a\r\nb\r\n", false, nil},
		{"broken end", "a\r\r\n.\r\nMAIL FROM:<x>\r\n", true, "a\r\n", true, nil},
		{"broken end not watched", "a\r\r\n.\r\n", false, "a\r\r\n.\r\n", false, nil},
		{"near miss", "a\r\r\n.x\r\n\r\r\r\n.\r\n", true, "a\r\r\n.x\r\n\r\r\n", true, nil},
		{"1000 bytes", strings.Repeat("x", 998) + "\r\n", true, strings.Repeat("x", 998) + "\r\n", false, nil},
		{"1001 bytes", strings.Repeat("x", 999) + "\r\nmore\r\n", true, "", false, errLineTooLong},
		{"long last line", "a\r\n" + strings.Repeat("x", 1001), false, "", false, errLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newDataGuard(iotest.OneByteReader(strings.NewReader(tt.in)), tt.watch)
			got, err := io.ReadAll(g)
			if !errors.Is(err, tt.err) || string(got) != tt.want && tt.err == nil || g.brokenEndSeen() != tt.ended {
				t.Errorf("got %q, %v, ended %v; want %q, %v, %v", got, err, g.brokenEndSeen(), tt.want, tt.err, tt.ended)
			}
		})
	}
}

// BenchmarkDataGuard measures DATA's byte-at-a-time reading of a 1 MiB
// message from a buffered connection.
func BenchmarkDataGuard(b *testing.B) {
	msg := bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), 1<<20/78)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		g := newDataGuard(bufio.NewReader(bytes.NewReader(msg)), true)
		if _, err := io.Copy(io.Discard, g); err != nil {
			b.Fatal(err)
		}
	}
}
