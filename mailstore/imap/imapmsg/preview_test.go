package imapmsg

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// encodeJapanese encodes s with a Japanese charset for test messages.
func encodeJapanese(t testing.TB, iso bool, s string) string {
	enc := japanese.ShiftJIS.NewEncoder()
	if iso {
		enc = japanese.ISO2022JP.NewEncoder()
	}
	b, err := enc.String(s)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

func TestPreview(t *testing.T) {
	jp := "いつもお世話になっております。来週の会議の件でご連絡いたします。"
	long := strings.Repeat("word ", 100)
	longJP := strings.Repeat("日本語の長い本文です。", 30)
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"simple", msgSimple, "Hello Bob, this is a test."},
		{"alternative prefers plain", msgAlt, "Café au lait soft break."},
		{"mixed skips attachment", msgMixed, "See attached."},
		{"embedded message", msgRFC822, "Forwarded message below."},
		{"only an embedded message", crlf("Content-Type: message/rfc822", "", "Subject: inner", "", "inner text"), "inner text"},
		{"no text", crlf("Content-Type: application/pdf", "", "%PDF"), ""},
		{"empty", msgEmpty, ""},
		{"text attachment only", crlf(
			"Content-Type: multipart/mixed; boundary=b", "",
			"--b", "Content-Type: text/plain", "Content-Disposition: attachment; filename=a.txt", "", "attached text",
			"--b--"), ""},
		{"html", crlf(
			"Content-Type: text/html; charset=utf-8", "",
			"<html><head><title>Title</title><style>p { color: red }</style></head>",
			"<body><p>Hello&nbsp;<b>World</b> &amp; co</p><blockquote>old quoted mail</blockquote>",
			"<script>alert(1)</script><div>Bye</div></body></html>"),
			"Hello World & co Bye"},
		{"html only a quote", crlf("Content-Type: text/html", "", "<blockquote>only quoted</blockquote>"), "only quoted"},
		{"alternative with html first", crlf(
			"Content-Type: multipart/alternative; boundary=b", "",
			"--b", "Content-Type: text/html", "", "<p>html version</p>",
			"--b", "Content-Type: text/plain", "", "plain version",
			"--b--"), "plain version"},
		{"related html", crlf(
			"Content-Type: multipart/alternative; boundary=b", "",
			"--b", "Content-Type: multipart/related; boundary=c", "",
			"--c", "Content-Type: text/html", "", "<p>related html</p>",
			"--c--",
			"--b--"), "related html"},
		{"quotes and signature", crlf(
			"Content-Type: text/plain", "",
			"Thanks, that works.", "", "On Monday, Bob wrote:", "> old text", "  > more old text", "-- ", "Alice, signature"),
			"Thanks, that works. On Monday, Bob wrote:"},
		{"only quotes", crlf("", "> all quoted", "> here"), "> all quoted > here"},
		{"base64 and latin1", crlf(
			"Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: base64", "",
			base64.StdEncoding.EncodeToString([]byte("Gr\xfc\xdfe aus K\xf6ln"))), "Grüße aus Köln"},
		{"iso-2022-jp", crlf(
			"Subject: "+iso2022jpWord(t, "会議"), "Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit", "",
			encodeJapanese(t, true, jp)), jp},
		{"shift_jis base64", crlf(
			"Content-Type: text/plain; charset=Shift_JIS", "Content-Transfer-Encoding: base64", "",
			base64.StdEncoding.EncodeToString([]byte(encodeJapanese(t, false, jp)))), jp},
		{"shift_jis html", crlf(
			"Content-Type: text/html; charset=shift_jis", "Content-Transfer-Encoding: 8bit", "",
			encodeJapanese(t, false, "<p>"+jp+"</p>")), jp},
		{"ideographic spaces", crlf("Content-Type: text/plain; charset=utf-8", "", "東京　\u3000大阪\t\t名古屋"), "東京 大阪 名古屋"},
		{"control characters", "\r\nnul\x00 and\x1b esc\x07\r\n", "nul and esc"},
		{"long", crlf("", long), strings.TrimSpace(long[:200])},
		{"long japanese", crlf("Content-Type: text/plain; charset=utf-8", "", longJP), string([]rune(longJP)[:200])},
		{"signed", crlf(
			"Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"", "",
			"--s", "Content-Type: text/plain", "", "signed text",
			"--s", "Content-Type: application/pgp-signature", "", "-----BEGIN PGP SIGNATURE-----",
			"--s--"), "signed text"},
		{"encrypted", crlf(
			"Content-Type: multipart/encrypted; boundary=e; protocol=\"application/pgp-encrypted\"", "",
			"--e", "Content-Type: application/pgp-encrypted", "", "Version: 1",
			"--e", "Content-Type: application/octet-stream", "", "-----BEGIN PGP MESSAGE-----",
			"--e--"), ""},
		{"malformed multipart", msgWrongBoundary, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PreviewOf([]byte(tt.raw))
			if tt.name == "malformed multipart" {
				checkPreview(t, got)
				return
			}
			if got != tt.want {
				t.Errorf("Preview = %q\nwant      %q", got, tt.want)
			}
			checkPreview(t, got)
		})
	}
}

// checkPreview checks what every preview must be: valid UTF-8, at most
// PreviewMaxChars characters, no control characters, no outer or double
// white space.
func checkPreview(t *testing.T, p string) {
	t.Helper()
	if !utf8.ValidString(p) {
		t.Fatalf("invalid UTF-8 %q", p)
	}
	if n := utf8.RuneCountInString(p); n > PreviewMaxChars {
		t.Fatalf("%d characters", n)
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			t.Fatalf("control character %U in %q", r, p)
		}
	}
	if strings.TrimSpace(p) != p || strings.Contains(p, "  ") {
		t.Fatalf("white space not collapsed: %q", p)
	}
}

// FuzzPreview checks the preview invariants on any message.
func FuzzPreview(f *testing.F) {
	for _, c := range corpus {
		if len(c.raw) < 64*1024 {
			f.Add([]byte(c.raw))
		}
	}
	f.Add([]byte(crlf("Content-Type: text/plain; charset=ISO-2022-JP", "", encodeJapanese(f, true, "日本語のテキスト"))))
	f.Add([]byte(crlf("Content-Type: text/plain; charset=shift_jis", "", encodeJapanese(f, false, "日本語")[:5])))
	f.Add([]byte(crlf("Content-Type: text/html", "", "<p>a<blockquote><script>b</p></blockquote")))
	f.Add([]byte(crlf("Content-Type: text/plain; charset=iso-2022-jp", "", "\x1b$B\x1b$B$$")))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPreview(t, PreviewOf(data))
	})
}
