package imapmsg

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/yubinmail/yubin/core/mimeparse"
)

func TestReadHeader(t *testing.T) {
	long := "X-Long: " + strings.Repeat("y", 10000) + "\r\n"
	tests := []struct {
		name, in, want string
	}{
		{"crlf", msgSimple, simpleHeader},
		{"bare lf", "A: b\n c\nD: e\n\nbody\n", "A: b\n c\nD: e\n\n"},
		{"no separator", "A: b\r\nnot a field\r\nmore\r\n", "A: b\r\nnot a field\r\nmore\r\n"},
		{"junk line before the separator", "A: b\r\nnot a field\r\nC: d\r\n\r\nbody", "A: b\r\nnot a field\r\nC: d\r\n\r\n"},
		{"mbox from line", "From x@y Mon Jan 1\r\nA: b\r\n\r\nbody", "From x@y Mon Jan 1\r\nA: b\r\n\r\n"},
		{"header only", "A: b", "A: b"},
		{"empty", "", ""},
		{"long line", long + "\r\nbody", long + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadHeader(iotest.OneByteReader(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ReadHeader = %q, want %q", truncate(string(got)), truncate(tt.want))
			}
			if SortKeyOf(got, nil) != SortKeyOf([]byte(tt.in), nil) {
				t.Errorf("sort keys differ between header and message")
			}
		})
	}
	huge := bytes.Repeat([]byte("X-A: b\r\n"), mimeparse.MaxHeaderBytes/4)
	got, err := ReadHeader(bytes.NewReader(huge))
	if err != nil || len(got) != mimeparse.MaxHeaderBytes {
		t.Errorf("huge header: %d bytes, %v", len(got), err)
	}
	boom := errors.New("boom")
	if _, err := ReadHeader(io.MultiReader(strings.NewReader("A: b\r\n"), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Errorf("error = %v", err)
	}
}

// FuzzReadHeader checks that ReadHeader returns a prefix of the message
// that gives the same SORT and THREAD keys as the whole message.
func FuzzReadHeader(f *testing.F) {
	for _, c := range corpus {
		if len(c.raw) < 64*1024 {
			f.Add([]byte(c.raw))
		}
	}
	f.Add([]byte("Subject: " + "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n\r\n\x1b$B$3$s\x1b(B"))
	f.Add([]byte("From x\r\n\r\r\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHeader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, h) {
			t.Fatalf("header is not a prefix")
		}
		if SortKeyOf(h, nil) != SortKeyOf(data, nil) {
			t.Fatalf("sort keys differ")
		}
		a, b := ThreadInfoOf(h), ThreadInfoOf(data)
		if a.MessageID != b.MessageID || a.Subject != b.Subject || strings.Join(a.References, " ") != strings.Join(b.References, " ") {
			t.Fatalf("thread info differs")
		}
	})
}
