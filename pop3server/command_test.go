package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		name string
		args []string
		rest string
		err  error
	}{
		{line: "USER alice", name: "USER", args: []string{"alice"}, rest: "alice"},
		{line: "user alice", name: "USER", args: []string{"alice"}, rest: "alice"},
		{line: "uSeR alice@example.com", name: "USER", args: []string{"alice@example.com"}, rest: "alice@example.com"},
		{line: "PASS my secret  pw ", name: "PASS", args: []string{"my", "secret", "pw"}, rest: "my secret  pw "},
		{line: "STAT", name: "STAT"},
		{line: "STAT\r", name: "STAT"},
		{line: "TOP 1 10", name: "TOP", args: []string{"1", "10"}, rest: "1 10"},
		{line: "LIST  1 ", name: "LIST", args: []string{"1"}, rest: " 1 "},
		{line: "LIST\t", err: errBadKeyword},
		{line: "NOOP ", name: "NOOP", rest: ""},
		{line: "AUTH PLAIN AGFsaWNlAHNlY3JldA==", name: "AUTH", args: []string{"PLAIN", "AGFsaWNlAHNlY3JldA=="}, rest: "PLAIN AGFsaWNlAHNlY3JldA=="},
		{line: "PASS a\tb", name: "PASS", args: []string{"a", "b"}, rest: "a\tb"},
		{line: "", err: errEmptyCommand},
		{line: "\r", err: errEmptyCommand},
		{line: "   ", err: errEmptyCommand},
		{line: "\t", err: errEmptyCommand},
		{line: "US", err: errBadKeyword},
		{line: "USERS alice", err: errBadKeyword},
		{line: "US3R alice", err: errBadKeyword},
		{line: " USER alice", err: errBadKeyword},
		{line: "USÉR alice", err: errBadKeyword},
		{line: "\xff\xfe\xfd", err: errBadKeyword},
		{line: "USER al\x00ice", err: errBadChar},
		{line: "USER alice\x1b", err: errBadChar},
		{line: "NOOP\x7f", err: errBadChar},
		{line: "NOOP\r\r", err: errBadChar},
		{line: "NO\rOP", err: errBadChar},
	}
	for _, tt := range tests {
		cmd, err := parseCommand([]byte(tt.line))
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("parseCommand(%q) error = %v, want %v", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCommand(%q) error = %v", tt.line, err)
			continue
		}
		if cmd.name != tt.name || !slices.Equal(cmd.args, tt.args) || cmd.rest != tt.rest {
			t.Errorf("parseCommand(%q) = {%q %q %q}, want {%q %q %q}", tt.line, cmd.name, cmd.args, cmd.rest, tt.name, tt.args, tt.rest)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"USER alice", "PASS secret with spaces", "STAT", "LIST 1", "UIDL", "RETR 1",
		"TOP 1 0", "DELE 2", "RSET", "NOOP", "QUIT", "CAPA", "STLS", "AUTH PLAIN",
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==", "APOP alice 0123456789abcdef",
		"", " ", "\t", "\r", "\x00", "USER \x00", "\x7f", "LIST\t1", "l i s t",
		"USER " + strings.Repeat("a", 2000), strings.Repeat("X", 5000),
		"\xc3\xa9t\xc3\xa9", "NOOP\u00a0x", "TOP\x85 1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		cmd, err := parseCommand(line)
		if !bytes.Equal(line, orig) {
			t.Fatalf("parseCommand modified its input")
		}
		if err != nil {
			if cmd.name != "" || cmd.args != nil || cmd.rest != "" {
				t.Fatalf("parseCommand(%q) returned %+v with error %v", line, cmd, err)
			}
			return
		}
		if n := len(cmd.name); n < 3 || n > 4 {
			t.Fatalf("parseCommand(%q): name %q is not 3-4 letters", line, cmd.name)
		}
		for _, c := range []byte(cmd.name) {
			if c < 'A' || c > 'Z' {
				t.Fatalf("parseCommand(%q): name %q is not upper-case letters", line, cmd.name)
			}
		}
		for _, c := range []byte(cmd.rest) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				t.Fatalf("parseCommand(%q): rest %q has a control character", line, cmd.rest)
			}
		}
		for _, a := range cmd.args {
			if a == "" || strings.ContainsAny(a, " \t") {
				t.Fatalf("parseCommand(%q): bad argument %q", line, a)
			}
			if !strings.Contains(cmd.rest, a) {
				t.Fatalf("parseCommand(%q): argument %q not in rest %q", line, a, cmd.rest)
			}
		}
	})
}

func TestParseMsgNumber(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want int
		ok   bool
	}{
		{"1", 3, 1, true},
		{"3", 3, 3, true},
		{"01", 3, 1, true},
		{"4", 3, 0, false},
		{"0", 3, 0, false},
		{"1", 0, 0, false},
		{"-1", 3, 0, false},
		{"+1", 3, 0, false},
		{" 1", 3, 0, false},
		{"1a", 3, 0, false},
		{"", 3, 0, false},
		{"0x1", 3, 0, false},
		{"999999999", 1_000_000_000, 999999999, true},
		{"9999999999", 1 << 40, 0, false},
		{"99999999999999999999999", 3, 0, false},
		{"١", 3, 0, false}, // Arabic-Indic digit one
	}
	for _, tt := range tests {
		got, ok := parseMsgNumber(tt.s, tt.n)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMsgNumber(%q, %d) = %d, %v; want %d, %v", tt.s, tt.n, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		s    string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10, true},
		{"007", 7, true},
		{"123456789", 123456789, true},
		{"1234567890", 0, false},
		{"-0", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"5 ", 0, false},
		{"", 0, false},
		{"1e3", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCount(tt.s)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCount(%q) = %d, %v; want %d, %v", tt.s, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDotWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty", nil, ".\r\n"},
		{"empty write", []string{""}, ".\r\n"},
		{"one line", []string{"a\r\n"}, "a\r\n.\r\n"},
		{"no final CRLF", []string{"abc"}, "abc\r\n.\r\n"},
		{"ends with CR", []string{"abc\r"}, "abc\r\r\n.\r\n"},
		{"leading dot", []string{".a\r\n"}, "..a\r\n.\r\n"},
		{"dot line", []string{"a\r\n.\r\nb\r\n"}, "a\r\n..\r\nb\r\n.\r\n"},
		{"only a dot", []string{"."}, "..\r\n.\r\n"},
		{"dots", []string{"..\r\n...\r\n"}, "...\r\n....\r\n.\r\n"},
		{"dot mid line", []string{"a.b\r\n.c"}, "a.b\r\n..c\r\n.\r\n"},
		{"bare LF", []string{"x\n.y"}, "x\n..y\r\n.\r\n"},
		{"dot after split CRLF", []string{"a\r", "\n", ".b\r\n"}, "a\r\n..b\r\n.\r\n"},
		{"dot at start of write", []string{"a\r\n", ".", "b\r\n"}, "a\r\n..b\r\n.\r\n"},
		{"CR and LF in separate writes", []string{"abc\r", "\n"}, "abc\r\n.\r\n"},
		{"single bytes", []string{"a", "\r", "\n"}, "a\r\n.\r\n"},
		{"dot not at line start across writes", []string{"a", ".b\r\n"}, "a.b\r\n.\r\n"},
		{"blank lines", []string{"\r\n\r\n"}, "\r\n\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			dw := newDotWriter(bw)
			total := 0
			for _, w := range tt.writes {
				n, err := dw.Write([]byte(w))
				if err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
				total += n
			}
			if err := dw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if dw.n != int64(total) {
				t.Errorf("n = %d, want %d", dw.n, total)
			}
		})
	}
}

// TestDotWriterRoundTrip checks that unstuffing what dotWriter writes gives
// back the data, for CRLF data written in chunks of every size.
func TestDotWriterRoundTrip(t *testing.T) {
	data := "From: a\r\n.\r\n..\r\n.x\r\n\r\nbody\r\n. \r\n.\r\n"
	for size := 1; size <= len(data); size++ {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		dw := newDotWriter(bw)
		for i := 0; i < len(data); i += size {
			if _, err := dw.Write([]byte(data[i:min(i+size, len(data))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		got, err := unstuff(buf.String())
		if err != nil {
			t.Fatalf("chunk %d: %v", size, err)
		}
		if got != data {
			t.Fatalf("chunk %d: round trip gave %q, want %q", size, got, data)
		}
	}
}

// unstuff decodes a dot-stuffed multi-line body ending with ".\r\n".
func unstuff(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			return "", errors.New("unterminated body")
		}
		line := s[:i]
		s = s[i+2:]
		if line == "." {
			if s != "" {
				return "", errors.New("data after terminator")
			}
			return b.String(), nil
		}
		if strings.HasPrefix(line, ".") {
			if !strings.HasPrefix(line, "..") {
				return "", errors.New("unstuffed dot line " + line)
			}
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
}

func TestCopyTop(t *testing.T) {
	msg := "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
	long := "X: " + strings.Repeat("a", 4093) // 4096 bytes: the reader's buffer
	longLF := "X: " + strings.Repeat("a", 4092) + "\r"
	tests := []struct {
		name  string
		msg   string
		lines int
		want  string
	}{
		{"header only", msg, 0, "A: 1\r\nB: 2\r\n\r\n"},
		{"one line", msg, 1, "A: 1\r\nB: 2\r\n\r\nl1\r\n"},
		{"two lines", msg, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"},
		{"all lines", msg, 3, msg},
		{"more than exist", msg, 100, msg},
		{"no body", "A: 1\r\nB: 2\r\n", 5, "A: 1\r\nB: 2\r\n"},
		{"no body, no final CRLF", "A: 1\r\nB: 2", 0, "A: 1\r\nB: 2"},
		{"empty body", "A: 1\r\n\r\n", 3, "A: 1\r\n\r\n"},
		{"empty message", "", 3, ""},
		{"blank first line", "\r\nl1\r\nl2\r\n", 1, "\r\nl1\r\n"},
		{"LF only", "A: 1\nB: 2\n\nl1\nl2\n", 1, "A: 1\nB: 2\n\nl1\n"},
		{"LF only, zero", "A: 1\n\nl1\n", 0, "A: 1\n\n"},
		{"last line unterminated", "A: 1\r\n\r\nl1\r\nl2", 5, "A: 1\r\n\r\nl1\r\nl2"},
		{"blank lines in body", "A: 1\r\n\r\n\r\n\r\nl3\r\n", 2, "A: 1\r\n\r\n\r\n\r\n"},
		{"long header line ending at buffer", long + "\r\nY: 1\r\n\r\nb1\r\nb2\r\n", 1, long + "\r\nY: 1\r\n\r\nb1\r\n"},
		{"long header line split in CRLF", longLF + "\nY: 1\r\n\r\nb1\r\nb2\r\n", 1, longLF + "\nY: 1\r\n\r\nb1\r\n"},
		{"long body line", "A: 1\r\n\r\n" + strings.Repeat("b", 10000) + "\r\nl2\r\n", 1, "A: 1\r\n\r\n" + strings.Repeat("b", 10000) + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.msg), iotest.OneByteReader(strings.NewReader(tt.msg))} {
				var buf bytes.Buffer
				n, err := copyTop(&buf, r, tt.lines)
				if err != nil {
					t.Fatal(err)
				}
				if got := buf.String(); got != tt.want {
					t.Errorf("copyTop(%d) = %q, want %q", tt.lines, got, tt.want)
				}
				if n != int64(buf.Len()) {
					t.Errorf("copyTop returned %d, wrote %d", n, buf.Len())
				}
			}
		})
	}
}

func TestCopyTopErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := copyTop(io.Discard, iotest.ErrReader(boom), 1)
	if !errors.Is(err, boom) {
		t.Errorf("read error: got %v", err)
	}
	_, err = copyTop(errWriter{boom}, strings.NewReader("A: 1\r\n\r\nb\r\n"), 1)
	if !errors.Is(err, boom) {
		t.Errorf("write error: got %v", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReadLine(t *testing.T) {
	in := "NOOP\r\nSTAT\n" + strings.Repeat("x", 100) + "\r\nLIST\r\npartial"
	br := newLineReader(strings.NewReader(in), 20)
	for _, want := range []string{"NOOP", "STAT"} {
		line, err := readLine(br)
		if err != nil || string(line) != want {
			t.Fatalf("readLine = %q, %v; want %q", line, err, want)
		}
	}
	if _, err := readLine(br); !errors.Is(err, errLineTooLong) {
		t.Fatalf("long line: err = %v, want errLineTooLong", err)
	}
	if line, err := readLine(br); err != nil || string(line) != "LIST" {
		t.Fatalf("after long line: %q, %v", line, err)
	}
	if _, err := readLine(br); !errors.Is(err, io.EOF) {
		t.Fatalf("unterminated last line: err = %v, want EOF", err)
	}
}

// FuzzDotWriter checks dotWriter, written to in chunks of any size,
// against a byte-at-a-time model of dot-stuffing (RFC 1939 §3).
func FuzzDotWriter(f *testing.F) {
	f.Add([]byte("a\r\n.\r\n..x\r\nb"), uint8(1))
	f.Add([]byte(".\n.\r\n\r\n.a"), uint8(3))
	f.Add([]byte("x\r\n.y\r\n.z\r\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var want bytes.Buffer
		start := true
		for _, c := range data {
			if start && c == '.' {
				want.WriteByte('.')
			}
			want.WriteByte(c)
			start = c == '\n'
		}
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\r\n")) {
			want.WriteString("\r\n")
		}
		want.WriteString(".\r\n")

		var got bytes.Buffer
		bw := bufio.NewWriterSize(&got, 16)
		dw := newDotWriter(bw)
		size := int(chunk) + 1
		for i := 0; i < len(data); i += size {
			if _, err := dw.Write(data[i:min(i+size, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("stuffed %q in chunks of %d: %q, want %q", data, size, got.Bytes(), want.Bytes())
		}
	})
}
