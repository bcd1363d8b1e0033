package mailstore

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// crlfWant is what crlfReader must make of in: every LF without a CR
// before it gets one.
func crlfWant(in []byte) []byte {
	var out []byte
	for i, b := range in {
		if b == '\n' && (i == 0 || in[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	return out
}

// readAllIn reads r to its end with reads of size bytes.
func readAllIn(t testing.TB, r io.Reader, size int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCRLFReader(t *testing.T) {
	long := bytes.Repeat([]byte("a line\nand one\r\n"), 2000) // several read buffers
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"CRLF already", "Subject: x\r\n\r\nbody\r\n"},
		{"bare LF", "Subject: x\n\nbody\n"},
		{"LF first", "\nx"},
		{"bare CR kept", "a\rb\r\r\n"},
		{"mixed", "a\r\nb\nc\r\rd\n\n\r\n"},
		{"long", string(long)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := crlfWant([]byte(tc.in))
			for _, size := range []int{1, 2, 3, 7, 512, 64 << 10} {
				// The input in one piece, and a byte a time (a CR and
				// its LF in different reads).
				for _, in := range []io.Reader{bytes.NewReader([]byte(tc.in)), iotest.OneByteReader(bytes.NewReader([]byte(tc.in)))} {
					if got := readAllIn(t, newCRLFReader(in), size); !bytes.Equal(got, want) {
						t.Fatalf("reads of %d: got %q, want %q", size, got, want)
					}
				}
			}
		})
	}
}

// TestCRLFReaderError checks that an error of the input reaches the
// reader after the bytes read before it.
func TestCRLFReaderError(t *testing.T) {
	r := newCRLFReader(io.MultiReader(bytes.NewReader([]byte("a\nb")), iotest.ErrReader(io.ErrUnexpectedEOF)))
	got, err := io.ReadAll(r)
	if string(got) != "a\r\nb" || err != io.ErrUnexpectedEOF {
		t.Fatalf("got %q, %v", got, err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.ErrUnexpectedEOF {
		t.Fatalf("read after the error: %d, %v", n, err)
	}
}

func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\r\n\n\r", "x\r\r\n\n"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, size int) {
		size = 1 + (size&0xffff)%4096
		if got, want := readAllIn(t, newCRLFReader(bytes.NewReader(in)), size), crlfWant(in); !bytes.Equal(got, want) {
			t.Fatalf("reads of %d: got %q, want %q", size, got, want)
		}
	})
}
