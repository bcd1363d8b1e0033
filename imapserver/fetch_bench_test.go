package imapserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// skim sends one command line (tag "t") and reads up to its tagged
// response, skipping literals at little CPU cost, so that a benchmark's
// profile is the server's. It returns how many untagged lines and literal
// bytes came, and the tagged line.
func (r *rawConn) skim(cmd string) (lines int, literalBytes int64, tagged string, err error) {
	r.c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(r.c, "t "+cmd+"\r\n"); err != nil {
		return 0, 0, "", err
	}
	for {
		l, err := r.br.ReadSlice('\n')
		if err != nil {
			return lines, literalBytes, "", err
		}
		if len(l) > 2 && l[0] == 't' && l[1] == ' ' {
			return lines, literalBytes, strings.TrimRight(string(l), "\r\n"), nil
		}
		lines++
		// A line ending in {n} is followed by n bytes and more line.
		for len(l) >= 5 && l[len(l)-3] == '}' {
			open := bytes.LastIndexByte(l, '{')
			if open < 0 {
				break
			}
			n, perr := strconv.ParseInt(string(l[open+1:len(l)-3]), 10, 64)
			if perr != nil {
				break
			}
			if _, err := r.br.Discard(int(n)); err != nil {
				return lines, literalBytes, "", err
			}
			literalBytes += n
			if l, err = r.br.ReadSlice('\n'); err != nil {
				return lines, literalBytes, "", err
			}
		}
	}
}

// mustSkim is skim that fails the test unless the command succeeds.
func (r *rawConn) mustSkim(t testing.TB, cmd string) (int, int64) {
	t.Helper()
	lines, n, tagged, err := r.skim(cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if !strings.HasPrefix(tagged, "t OK") {
		t.Fatalf("%s: %s", cmd, tagged)
	}
	return lines, n
}

// sealedStore turns on encryption at rest with a fresh server key.
func sealedStore(t testing.TB) func(*mailstore.Options) {
	t.Helper()
	keyPath := filepath.Join(t.TempDir(), "server.key")
	if _, err := blobcrypt.GenerateKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	return func(o *mailstore.Options) {
		sealer, err := blobcrypt.LoadServerKey(keyPath, o.Dir)
		if err != nil {
			t.Fatal(err)
		}
		o.Sealer = sealer
	}
}

// BenchmarkFetchWhole is FETCH 1:* BODY.PEEK[] of a mailbox, with a
// client that only skips the literals: per message, its time and
// allocations are the server's (and the kernel's). The sizes are those of
// yubin-bench's imap scenario; "sealed" is encryption at rest.
func BenchmarkFetchWhole(b *testing.B) {
	for _, tc := range []struct {
		name     string
		messages int
		size     int
		sealed   bool
	}{
		{"4KiB", 2000, 4400, false},
		{"4KiB-sealed", 2000, 4400, true},
		{"100KiB", 200, 100 << 10, false},
		{"100KiB-sealed", 200, 100 << 10, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var storeMod func(*mailstore.Options)
			if tc.sealed {
				storeMod = sealedStore(b)
			}
			env := newTestEnvStore(b, storeMod, nil)
			total := fillInbox(b, env, tc.messages, tc.size)
			c := dialRaw(b, env.addr)
			// A large read buffer keeps the client's share of the CPU
			// small for large bodies too (nothing is buffered yet).
			c.br = bufio.NewReaderSize(c.c, 256<<10)
			c.mustSkim(b, fmt.Sprintf("LOGIN %s \"%s\"", testAddr, testPass))
			c.mustSkim(b, "SELECT INBOX")
			c.mustSkim(b, "FETCH 1:* BODY.PEEK[]") // warm the page cache
			b.SetBytes(total)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lines, got := c.mustSkim(b, "FETCH 1:* BODY.PEEK[]")
				if lines != tc.messages || got != total {
					b.Fatalf("fetched %d messages, %d bytes; want %d, %d", lines, got, tc.messages, total)
				}
			}
			b.StopTimer()
			msgs := float64(b.N * tc.messages)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/msgs, "µs/msg")
			// CPU of the whole process (the client's share is small):
			// unlike the time, it does not depend on what else runs.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/msgs, "cpu-µs/msg")
		})
	}
}
