package sieve

import (
	"context"
	"mime"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/yubinmail/yubin/core/mimetext"
)

// sjisBody encodes s in Shift_JIS.
func sjisBody(t *testing.T, s string) string {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jisBody encodes s in ISO-2022-JP.
func jisBody(t *testing.T, s string) string {
	t.Helper()
	b, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// userScript is the kind of script the dashboard's rule editor writes.
const userScript = `require ["fileinto", "imap4flags", "mailbox", "vacation", "body", "variables", "envelope", "subaddress", "copy"];
# rule: invoices
if anyof (header :contains "subject" ["invoice", "請求書"], body :text :contains "請求金額") {
    fileinto :create "Invoices";
    stop;
}
# rule: newsletters are marked read
if exists "List-Id" {
    addflag "\\Seen";
    fileinto :create "Newsletters";
    stop;
}
# rule: the boss
if address :is "from" "boss@example.com" {
    addflag "\\Flagged";
}
# rule: plus addresses sort themselves
if envelope :detail :matches "to" "*" {
    if string :is "${1}" "" { keep; } else { set :lower "folder" "${1}"; fileinto :create "Plus/${folder}"; }
}
# rule: forward a copy of orders
if header :contains "subject" "注文" {
    redirect :copy "orders@example.net";
}
`

func TestCorpus(t *testing.T) {
	invoiceJIS := "From: " + iso2022jpWord(t, "経理部") + " <keiri@example.co.jp>\nTo: me@example.com\nSubject: " + iso2022jpWord(t, "12月分の請求書") + "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" + jisBody(t, "いつもお世話になっております。") + "\n"
	invoiceSJISBody := "From: shop@example.co.jp\nTo: me@example.com\nSubject: " + mime.QEncoding.Encode("utf-8", "ご案内") + "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: 8bit\n\n" + sjisBody(t, "今月の請求金額は5,000円です。") + "\n"
	invoiceBase64 := "From: shop@example.co.jp\nTo: me@example.com\nSubject: notice\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n44GU6KuL5rGC6YeR6aGN44Gv44GT44Gh44KJ\n--b--\n"
	newsletter := "From: news@example.org\nTo: me@example.com\nList-Id: <news.example.org>\nSubject: Weekly news\n\nhello\n"
	boss := "From: The Boss <BOSS@example.com>\nTo: me@example.com\nSubject: meeting\n\nsee you\n"
	order := "From: " + iso2022jpWord(t, "田中") + " <tanaka@example.jp>\nTo: me@example.com\nSubject: " + iso2022jpWord(t, "ご注文の確認") + "\n\nx\n"
	english := "From: friend@example.net\nTo: me@example.com\nSubject: Invoice for the repair\n\nThanks\n"
	plain := "From: friend@example.net\nTo: me@example.com\nSubject: hello\n\nhi\n"
	runCases(t, []scriptCase{
		{name: "iso-2022-jp subject", script: userScript, msg: invoiceJIS, want: "fileinto:Invoices(create)"},
		{name: "shift_jis body", script: userScript, msg: invoiceSJISBody, want: "fileinto:Invoices(create)"},
		{name: "base64 utf-8 body", script: userScript, msg: invoiceBase64, want: "fileinto:Invoices(create)"},
		{name: "english invoice", script: userScript, msg: english, want: "fileinto:Invoices(create)"},
		{name: "newsletter", script: userScript, msg: newsletter, want: `fileinto:Newsletters(create)[\Seen]`},
		{name: "boss flagged", script: userScript, msg: boss, want: `keep[\Flagged]*`},
		{name: "plus address", script: userScript, msg: plain, to: "me+Shopping@example.com", want: "fileinto:Plus/shopping(create)"},
		{name: "plus empty", script: userScript, msg: plain, to: "me+@example.com", want: "keep"},
		{name: "japanese order", script: userScript, msg: order, want: "redirect:orders@example.net(copy) keep*"},
		{name: "nothing", script: userScript, msg: plain, want: "keep*"},
		{name: "japanese name address", script: `require "fileinto"; if address :is "from" "keiri@example.co.jp" { fileinto "経理"; }`, msg: invoiceJIS, want: "fileinto:経理"},
		{name: "japanese display name", script: `require "fileinto"; if header :contains "from" "経理部" { fileinto "経理"; }`, msg: invoiceJIS, want: "fileinto:経理"},
		{name: "iso-2022-jp body", script: `require ["body", "fileinto"]; if body :contains "お世話" { fileinto "jis"; }`, msg: invoiceJIS, want: "fileinto:jis"},
		{name: "japanese matches var", script: `require ["variables", "fileinto"]; if header :matches "subject" "*月分の*" { fileinto "${1}/${2}"; }`, msg: invoiceJIS, want: "fileinto:12/請求書"},
		{name: "fullwidth unicode-casemap", script: `require ["comparator-i;unicode-casemap", "fileinto"]; if header :comparator "i;unicode-casemap" :contains "subject" "ｉｎｖｏｉｃｅ" { fileinto "x"; }`, msg: "Subject: " + mime.QEncoding.Encode("utf-8", "ＩＮＶＯＩＣＥ 12") + "\n\nx\n", want: "fileinto:x"},
		{name: "ascii-casemap leaves non-ascii", script: `require "fileinto"; if header :contains "subject" "ｉｎｖｏｉｃｅ" { fileinto "x"; }`, msg: "Subject: " + mime.QEncoding.Encode("utf-8", "ＩＮＶＯＩＣＥ") + "\n\nx\n", want: "keep*"},
		{name: "raw iso-2022-jp header", script: `require "fileinto"; if header :contains "subject" "請求" { fileinto "x"; }`, msg: "Subject: " + jisBody(t, "請求のお知らせ") + "\n\nx\n", want: "fileinto:x"},
		{name: "raw 8-bit header", script: `require "fileinto"; if header :contains "subject" "請求" { fileinto "x"; }`, msg: "Subject: 請求のお知らせ\n\nx\n", want: "fileinto:x"},
		{name: "folded header", script: `require "fileinto"; if header :is "subject" "a long subject" { fileinto "x"; }`, msg: "Subject: a long\n  subject\n\nx\n", want: "fileinto:x"},
		{name: "group address", script: `require "fileinto"; if address :is "to" "b@example.com" { fileinto "x"; }`, msg: "To: friends: a@example.com, b@example.com;, c@example.com\n\nx\n", want: "fileinto:x"},
		{name: "bad address raw all", script: `require "fileinto"; if address :all :is "to" "not an address" { fileinto "x"; }`, msg: "To: not an address\n\nx\n", want: "fileinto:x"},
		{name: "bad address no localpart", script: `require "fileinto"; if address :localpart :is "to" "not an address" { fileinto "x"; }`, msg: "To: not an address\n\nx\n", want: "keep*"},
		{name: "partly bad list", script: `require "fileinto"; if address :domain :is "cc" "example.net" { fileinto "x"; }`, msg: "Cc: @@bad, good@example.net\n\nx\n", want: "fileinto:x"},
	})
}

// TestHeaderParsing checks the lenient header reader.
func TestHeaderParsing(t *testing.T) {
	h := parseHeader([]byte("A: 1\r\nB:2\r\n\tcont\r\nbroken line\r\nC: 3\r\n"))
	var got []string
	for _, f := range h {
		got = append(got, f.name+"="+f.value)
	}
	// A line that is no field does not end the header (core/mimeparse).
	if strings.Join(got, "|") != "A=1|B=2 cont|C=3" {
		t.Errorf("fields %q", got)
	}
	if v := mimetext.DecodeHeader(mime.BEncoding.Encode("Shift_JIS", sjisBody(t, "請求書"))); v != "請求書" {
		t.Errorf("Shift_JIS word %q", v)
	}
	if v := mimetext.DecodeHeader("=?x-unknown?Q?abc?="); v != "abc" && v != "=?x-unknown?Q?abc?=" {
		t.Errorf("unknown charset %q", v)
	}
	if v := mimetext.DecodeHeader("caf\xe9"); v != "café" {
		t.Errorf("latin-1 fallback %q", v)
	}
}

func TestHeaderObsoleteSpace(t *testing.T) {
	h := parseHeader([]byte("Subject : spaced\r\n: nothing\r\nX: y\r\n"))
	if len(h) != 2 || h[0].name != "Subject" || h[0].value != "spaced" || h[1].name != "X" {
		t.Errorf("fields %+v", h)
	}
}

func BenchmarkRun(b *testing.B) {
	s, err := Compile(userScript, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	raw := "From: shop@example.co.jp\nTo: me@example.com\nSubject: =?utf-8?B?44GU5qGI5YaF?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("hello world ", 500) + "\n"
	env := newTestEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(context.Background(), testMessage(raw, "a@b.example", "me@example.com"), env, defaultOpts); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	cases := map[string]string{
		"<p>Hello <b>world</b></p>":           "Hello world",
		"<script>var x = '<p>';</script>text": "text",
		"<STYLE>p {}</STYLE>a &amp; b":        "a & b",
		// An unclosed script hides the rest, as in a browser (the HTML
		// tokenizer runs in linear time, however many tags are open).
		"İİİİ<script>never closed<script>again<p>x</p>": "İİİİ",
		strings.Repeat("<script>", 2000) + "tail":       "",
		"İİİİ<script>closed</script><p>x</p>":           "İİİİ x",
		"V<b>i</b>agra":  "Viagra",
		"no tags at all": "no tags at all",
		"broken <tag":    "broken",
	}
	for in, want := range cases {
		if got := htmlToText(in); got != want {
			t.Errorf("%.40q: %q, want %q", in, got, want)
		}
	}
}
