package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"math/rand"
	"os"
	"testing"
	"time"
)

// TestRoundTrip decodes what compress/flate writes at every level, with
// sync flushes in between, and compares.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		for _, size := range []int{0, 1, 100, 5000, 70000, 300000} {
			data := make([]byte, size)
			for i := range data {
				if rng.Intn(3) == 0 {
					data[i] = byte(rng.Intn(256))
				} else {
					data[i] = "abcdefgh\r\n"[rng.Intn(10)]
				}
			}
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			for i := 0; i < len(data); i += 7000 {
				w.Write(data[i:min(i+7000, len(data))])
				w.Flush()
			}
			w.Close()
			got, err := io.ReadAll(NewReader(bufio.NewReader(&buf)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d size %d: %v, equal %v", level, size, err, bytes.Equal(got, data))
			}
		}
	}
}

// TestMidBlockData: bytes a peer sent without ending its block are readable
// at once; the reader does not wait for the end of the block.
func TestMidBlockData(t *testing.T) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write([]byte("1 NOOP\r\n"))
	w.Flush()
	w.Write(bytes.Repeat([]byte("2 UID FETCH 1 (FLAGS)\r\n"), 50))
	w.Flush()
	all := buf.Bytes()
	// Cut the second flush short by its sync marker and a few more bytes:
	// what is left ends inside a block.
	cut := all[:len(all)-9]
	pr, pw := io.Pipe()
	go pw.Write(cut) // never closed: like a connection that stays open
	r := bufio.NewReader(NewReader(bufio.NewReader(pr)))
	lines := make(chan string)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	timeout := time.After(5 * time.Second)
	for i := 0; i < 30; i++ {
		select {
		case l := <-lines:
			if i > 0 && l != "2 UID FETCH 1 (FLAGS)\r\n" {
				t.Fatalf("line %d: %q", i, l)
			}
		case <-timeout:
			t.Fatalf("only %d lines came out of the stream cut inside a block", i)
		}
	}
}

func FuzzInflate(f *testing.F) {
	f.Add([]byte("hello hello hello"), 6, []byte{})
	f.Add([]byte{}, 0, []byte{0x03, 0x00})
	f.Fuzz(func(t *testing.T, data []byte, level int, raw []byte) {
		// Random input: no panic, no endless loop.
		_, _ = io.Copy(io.Discard, NewReader(bufio.NewReader(bytes.NewReader(raw))))
		level = level%11 - 2
		if level < -2 {
			level = 6
		}
		var buf bytes.Buffer
		w, err := flate.NewWriter(&buf, level)
		if err != nil {
			return
		}
		w.Write(data)
		w.Close()
		got, err := io.ReadAll(NewReader(bufio.NewReader(&buf)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestMbsyncPipeline decodes what mbsync 1.4 (zlib) sent after COMPRESS
// DEFLATE, captured on a connection: its last write carries an APPEND and
// fifteen pipelined FETCH commands and ends inside a DEFLATE block. Every
// command line must come out while the connection stays open (Go's
// compress/flate hands none of them over).
func TestMbsyncPipeline(t *testing.T) {
	data, err := os.ReadFile("testdata/mbsync-pipeline.deflate")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go pw.Write(data) // never closed
	r := bufio.NewReader(NewReader(bufio.NewReader(pr)))
	lines := make(chan string)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l := <-lines:
			if l == "22 UID FETCH 15 (INTERNALDATE BODY.PEEK[])\r\n" {
				return // the last command of the capture
			}
		case <-timeout:
			t.Fatal("the last pipelined command never came out")
		}
	}
}
