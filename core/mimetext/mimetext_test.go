package mimetext

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// encode converts s to the given encoding for a test.
func encode(t testing.TB, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

// word returns s as an RFC 2047 B-encoded word in charset cs.
func word(cs string, b []byte) string {
	return "=?" + cs + "?B?" + base64.StdEncoding.EncodeToString(b) + "?="
}

func TestDecodeBytes(t *testing.T) {
	tests := []struct {
		name    string
		charset string
		in      []byte
		want    string
	}{
		{"empty charset utf-8", "", []byte("héllo"), "héllo"},
		{"us-ascii", "US-ASCII", []byte("plain"), "plain"},
		{"quoted name", `"UTF-8"`, []byte("日本"), "日本"},
		{"invalid utf-8 read as latin-1", "utf-8", []byte("caf\xe9"), "café"},
		{"unknown-8bit", "unknown-8bit", []byte("caf\xe9"), "café"},
		{"unknown charset falls back", "x-no-such-charset", []byte("caf\xe9"), "café"},
		{"iso-8859-1", "ISO-8859-1", []byte("caf\xe9"), "café"},
		{"windows-1252 euro", "windows-1252", []byte("\x80 5"), "€ 5"},
		{"iso-2022-jp 7-bit", "ISO-2022-JP", encode(t, japanese.ISO2022JP, "こんにちは、世界"), "こんにちは、世界"},
		{"iso-2022-jp ascii only", "iso-2022-jp", []byte("hello"), "hello"},
		{"shift_jis", "Shift_JIS", encode(t, japanese.ShiftJIS, "日本語のテキスト"), "日本語のテキスト"},
		{"shift_jis alias", "sjis", encode(t, japanese.ShiftJIS, "会議"), "会議"},
		{"euc-jp", "EUC-JP", encode(t, japanese.EUCJP, "山田太郎"), "山田太郎"},
		{"utf-7 7-bit", "UTF-7", []byte("Hi Mom -+Jjo--!"), "Hi Mom -☺-!"},
		{"utf-7 plus", "utf-7", []byte("1 +- 1 = 2"), "1 + 1 = 2"},
		{"utf-7 japanese", "UTF-7", []byte("+ZeVnLIqe-"), "日本語"},
		{"utf-7 8-bit", "UTF-7", []byte("caf\xe9"), "caf\uFFFD"},
		{"hz 7-bit", "HZ-GB-2312", []byte("~{<:Ky2;S{#,~}"), "己所不欲，"},
		{"truncated shift_jis", "shift_jis", encode(t, japanese.ShiftJIS, "日本語")[:5], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecodeBytes(tt.charset, tt.in)
			if !utf8.ValidString(got) {
				t.Fatalf("DecodeBytes(%q, %q) = %q: not valid UTF-8", tt.charset, tt.in, got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("DecodeBytes(%q, %q) = %q, want %q", tt.charset, tt.in, got, tt.want)
			}
			if tt.want == "" && !strings.HasPrefix(got, "日") {
				t.Errorf("DecodeBytes(%q, %q) = %q, want the whole characters kept", tt.charset, tt.in, got)
			}
		})
	}
}

func TestCharsetReader(t *testing.T) {
	r, err := CharsetReader("ISO-2022-JP", bytes.NewReader(encode(t, japanese.ISO2022JP, "会議の件")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "会議の件" {
		t.Errorf("CharsetReader = %q, want %q", b, "会議の件")
	}
	if _, err := CharsetReader("x-bogus", strings.NewReader("ok")); err != nil {
		t.Errorf("CharsetReader of an unknown charset failed: %v", err)
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Hello there", "Hello there"},
		{"q utf-8", "=?UTF-8?Q?caf=C3=A9?= time", "café time"},
		{"adjacent words joined", "=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
		{"iso-2022-jp word", word("ISO-2022-JP", encode(t, japanese.ISO2022JP, "こんにちは")), "こんにちは"},
		{"iso-2022-jp from", word("ISO-2022-JP", encode(t, japanese.ISO2022JP, "山田")) + " <yamada@example.jp>", "山田 <yamada@example.jp>"},
		{"shift_jis word", word("Shift_JIS", encode(t, japanese.ShiftJIS, "会議")), "会議"},
		{"raw iso-2022-jp", string(encode(t, japanese.ISO2022JP, "会議のお知らせ")), "会議のお知らせ"},
		{"raw 8-bit latin-1", "Caf\xe9", "Café"},
		{"raw utf-8", "日本語", "日本語"},
		{"unknown charset kept", "=?x-bogus?Q?abc?=", "abc"},
		{"broken word kept", "=?UTF-8?B?###?=", "=?UTF-8?B?###?="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeHeader(tt.in); got != tt.want {
				t.Errorf("DecodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in   string
		skipQuotes bool
		want       string
	}{
		{"entities", "<p>Tom &amp; Jerry&nbsp;!</p>", false, "\nTom & Jerry\u00a0!\n"},
		{"inline joins", "V<b>i</b>agra", false, "Viagra"},
		{"blocks break", "a<br>b<div>c</div>d<td>e", false, "a\nb\nc\nd\ne"},
		{"image is a space", "a<img src=x>b", false, "a b"},
		{"head script style hidden", "<html><head><title>T</title><style>p{}</style></head><body>x<script>alert(1)</script>y</body>", false, "xy"},
		{"unclosed head", "<head><meta charset=x><body>shown", false, "shown"},
		{"comment", "a<!-- hidden -->b", false, "ab"},
		{"blockquote kept", "new<blockquote>old</blockquote>", false, "new\nold\n"},
		{"blockquote skipped", "new<blockquote>old<blockquote>older</blockquote></blockquote>end", true, "newend"},
		{"japanese", "<p>こんにちは</p>", false, "\nこんにちは\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(strings.NewReader(tt.in), HTMLOptions{SkipQuotes: tt.skipQuotes}); got != tt.want {
				t.Errorf("HTMLToText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHTMLToTextLinks(t *testing.T) {
	type link struct{ href, text string }
	var got []link
	doc := `<a href="http://one.example/">One <b>bold</b></a> <a name=x>no</a>` +
		`<a href="http://two.example/"><a href=http://three.example/ />tail <a href="http://four.example/">four`
	text := HTMLToText(strings.NewReader(doc), HTMLOptions{Link: func(href, text string) {
		got = append(got, link{href, text})
	}})
	want := []link{
		{"http://one.example/", "One bold"},
		{"http://two.example/", ""},
		{"http://three.example/", ""},
		{"http://four.example/", "four"},
	}
	if len(got) != len(want) {
		t.Fatalf("links = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("link %d = %q, want %q", i, got[i], want[i])
		}
	}
	if text != "One bold notail four" {
		t.Errorf("text = %q", text)
	}
	text = HTMLToText(strings.NewReader(doc), HTMLOptions{SeparateWords: true})
	if want := " One  bold    no   tail  four"; text != want {
		t.Errorf("SeparateWords text = %q, want %q", text, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("ISO-2022-JP", []byte("\x1b$B$3$s$K$A$O\x1b(B"))
	f.Add("iso-2022-jp", []byte("\x1b$B\x1b$B$$"))
	f.Add("shift_jis", []byte("\x93\xfa\x96{"))
	f.Add("utf-7", []byte("+Jjo-+"))
	f.Add("hz-gb-2312", []byte("~{<:~"))
	f.Add("utf-8", []byte("caf\xe9"))
	f.Add("", []byte("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?= <jp@example.jp>"))
	f.Add("", []byte("=?UTF-8?Q?=E6=97?= =?x?B?====?="))
	f.Add("", []byte("<p>a<a href=x>b<script>c"))
	f.Fuzz(func(t *testing.T, cs string, b []byte) {
		if s := DecodeBytes(cs, b); !utf8.ValidString(s) {
			t.Fatalf("DecodeBytes(%q, %q) = %q: not UTF-8", cs, b, s)
		}
		if s := DecodeHeader(string(b)); !utf8.ValidString(s) {
			t.Fatalf("DecodeHeader(%q) = %q: not UTF-8", b, s)
		}
		HTMLToText(bytes.NewReader(b), HTMLOptions{SkipQuotes: true, Link: func(href, text string) {}})
	})
}
