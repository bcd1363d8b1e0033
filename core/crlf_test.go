package core

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCRLFReader(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"a\r\nb\r\n":                "a\r\nb\r\n",
		"a\nb":                      "a\r\nb",
		"hello\r.\rMAIL FROM:<x>\r": "hello\r\n.\r\nMAIL FROM:<x>\r\n",
		"\r\r\n":                    "\r\n\r\n",
		"\n\r":                      "\r\n\r\n",
		"x\r\n\r\ny":                "x\r\n\r\ny",
	} {
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			got, err := io.ReadAll(NewCRLFReader(r))
			if err != nil || string(got) != want {
				t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
			}
		}
	}
}

func FuzzCRLFReader(f *testing.F) {
	f.Add("a\rb\nc\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := io.ReadAll(NewCRLFReader(iotest.HalfReader(strings.NewReader(in))))
		if err != nil {
			t.Fatal(err)
		}
		s := string(got)
		if strings.Count(s, "\r") != strings.Count(s, "\n") || strings.Count(s, "\r\n") != strings.Count(s, "\n") {
			t.Fatalf("bare CR or LF left in %q", s)
		}
		if strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", "") != strings.ReplaceAll(strings.ReplaceAll(in, "\r", ""), "\n", "") {
			t.Fatalf("content changed: %q -> %q", in, s)
		}
	})
}
