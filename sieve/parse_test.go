package sieve

import (
	"errors"
	"strings"
	"testing"
)

func TestLexerStrings(t *testing.T) {
	cases := []struct {
		src  string
		want []string
	}{
		{`"a\"b\\c\d"`, []string{`a"b\cd`}},
		{"\"two\nlines\"", []string{"two\nlines"}},
		{"text:\nline 1\n..dot\n.\n", []string{"line 1\r\n.dot\r\n"}},
		{"text: # comment\r\nx\r\n.\r\n", []string{"x\r\n"}},
		{"text:\n.\n", []string{""}},
		{`["a", "b"] "c"`, []string{"a", "b", "c"}},
		{"/* a\n comment */ \"x\" # rest\n", []string{"x"}},
	}
	for _, c := range cases {
		l := newLexer(c.src, 1000)
		var got []string
		for {
			tok, err := l.next()
			if err != nil {
				t.Fatalf("%q: %v", c.src, err)
			}
			if tok.kind == tokEOF {
				break
			}
			if tok.kind == tokString {
				got = append(got, tok.text)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q: strings %q, want %q", c.src, got, c.want)
		}
	}
}

func TestLexerNumbers(t *testing.T) {
	for src, want := range map[string]uint64{"0": 0, "100": 100, "1K": 1024, "2k": 2048, "3M": 3 << 20, "1G": 1 << 30} {
		tok, err := newLexer(src, 0).next()
		if err != nil || tok.kind != tokNumber || tok.num != want {
			t.Errorf("%s: got %v %d, want %d", src, err, tok.num, want)
		}
	}
	for _, src := range []string{"99999999999999999999", "9999999999G", "12x"} {
		if _, err := newLexer(src, 0).next(); err == nil {
			t.Errorf("%s: no error", src)
		}
	}
}

// TestCompileErrors checks that bad scripts are refused with the right
// position and a message naming the problem.
func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src  string
		pos  string
		text string
	}{
		{`keep`, "1:5", `expected ";"`},
		{"keep;\nfoo;", "2:1", `unknown command "foo"`},
		{`fileinto "x";`, "1:1", `needs require "fileinto"`},
		{`require "fileinto"; fileinto ["a","b"];`, "1:30", "must be a string"},
		{"require \"nosuch\";", "1:9", `unsupported extension "nosuch"`},
		{"keep;\nrequire \"fileinto\";", "2:1", `"require" must come before`},
		{`if true keep;`, "1:9", `"true" takes no test`},
		{`if header :is :contains "a" "b" {}`, "1:15", "exclude each other"},
		{`if header :bogus "a" "b" {}`, "1:11", `unknown tag ":bogus"`},
		{`if header "a" {}`, "1:4", "takes 2 positional"},
		{`if size 100 {}`, "1:4", `":over" or ":under"`},
		{`elsif true {}`, "1:1", `without a preceding "if"`},
		{`if true {} keep; else {}`, "1:18", `without a preceding "if"`},
		{`if (true) {}`, "1:1", "exactly one test"},
		{`if anyof true {}`, "1:4", "list of tests"},
		{`keep {}`, "1:1", "takes no block"},
		{`if true;`, "1:1", "needs a block"},
		{`if keep {}`, "1:4", "is a command, not a test"},
		{`header "a" "b";`, "1:1", "is a test, not a command"},
		{`if header :comparator "i;nosuch" "a" "b" {}`, "1:23", "unknown comparator"},
		{`if header :comparator "i;unicode-casemap" "a" "b" {}`, "1:23", `needs require "comparator-i;unicode-casemap"`},
		{`require "relational"; if header :count "xx" "a" "b" {}`, "1:40", "not one of gt"},
		{`require "index"; if header :last "a" "b" {}`, "1:28", `":last" needs ":index"`},
		{`if header :index 1 "a" "b" {}`, "1:11", `needs require "index"`},
		{`redirect "not an address";`, "1:10", "not a mail address"},
		{`require "variables"; set "1x" "v";`, "1:26", "invalid variable name"},
		{`require "date"; if date "date" "fortnight" "x" {}`, "1:32", "unknown date part"},
		{`require "date"; if date :zone "CET" "date" "year" "x" {}`, "1:31", "time zone"},
		{`"unterminated`, "1:1", "unterminated string"},
		{"/* never ends", "1:1", "unterminated comment"},
		{"require \"vacation\";\nvacation text:\nno end\n", "2:10", "unterminated multi-line"},
		{`if header :is "a" "b" { keep; `, "1:31", `"}" or a command`},
		{`keep; }`, "1:7", "expected a command"},
		{`if header :contains ["a" "b"] "c" {}`, "1:26", `"," or "]"`},
		{`@`, "1:1", "unexpected character"},
		{"require \"encoded-character\";\nkeep :x;", "2:6", `unknown tag ":x"`},
		{"if header :is \"a\" \"b\" :contains {}", "1:23", "must come before the positional"},
		{`if header :is "sub ject" "b" {}`, "1:15", "not a header field name"},
		{`if exists ["a", "b:"] {}`, "1:11", "not a header field name"},
		{`require "envelope"; if envelope :is "auth" "b" {}`, "1:37", "envelope part"},
	}
	for _, c := range cases {
		_, err := Compile(c.src, Limits{})
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a *Error", c.src, err)
			continue
		}
		if se.Pos.String() != c.pos || !strings.Contains(se.Msg, c.text) {
			t.Errorf("%q: got %s %q, want %s ...%s...", c.src, se.Pos, se.Msg, c.pos, c.text)
		}
	}
}

func TestCompileLimits(t *testing.T) {
	deep := strings.Repeat("if true {", 40) + strings.Repeat("}", 40)
	if _, err := Compile(deep, Limits{MaxNesting: 32}); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep blocks: %v", err)
	}
	deepTests := "if " + strings.Repeat("not ", 50) + "true {}"
	if _, err := Compile(deepTests, Limits{MaxNesting: 32}); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep tests: %v", err)
	}
	big := strings.Repeat("keep;\n", 1000)
	if _, err := Compile(big, Limits{MaxScriptBytes: 1000}); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("big script: %v", err)
	}
	long := `require "fileinto"; fileinto "` + strings.Repeat("x", 200) + `";`
	if _, err := Compile(long, Limits{MaxStringBytes: 100}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long string: %v", err)
	}
	if _, err := Compile("keep;\xff", Limits{}); err == nil || !strings.Contains(err.Error(), "line 1, column 6") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestEncodedCharacter(t *testing.T) {
	for in, want := range map[string]string{
		"${hex:40}":                   "@",
		"${hex: 40 41 }x":             "@Ax",
		"${unicode:3042}":             "あ",
		"${HEX:zz}":                   "${HEX:zz}",
		"${foo}":                      "${foo}",
		"a${hex:4}b${unicode:1F600}c": "a\x04b😀c",
	} {
		got, err := decodeEncodedChars(in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := decodeEncodedChars("${unicode:D800}"); err == nil {
		t.Error("surrogate accepted")
	}
	s, err := Compile(`require ["encoded-character", "fileinto"]; fileinto "${unicode:53d7}${hex:E4 BF A1}";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.cmds[0].args[0].strs[0]; got != "受信" {
		t.Errorf("mailbox %q", got)
	}
}

func TestRequires(t *testing.T) {
	s, err := Compile(`require ["vacation", "fileinto"]; require "copy";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Requires(), ","); got != "copy,fileinto,vacation" {
		t.Errorf("requires %s", got)
	}
}
