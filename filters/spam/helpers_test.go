package spam

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
)

const testHostname = "mx.example.com"

// crlf turns "\n" line endings into "\r\n".
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func newTestMessage(raw string) *filters.Message {
	return filters.NewMessage(
		filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("203.0.113.5:40000"), HELO: "client.example.net", Hostname: testHostname},
		filters.Envelope{MailFrom: "ann@example.net", Recipients: []string{"bob@example.com"}},
		strings.NewReader(raw), int64(len(raw)),
	)
}

// cleanHeader is a complete, honest header.
const cleanHeader = "From: Ann Example <ann@example.net>\n" +
	"To: bob@example.com\n" +
	"Date: Mon, 6 May 2024 10:00:00 +0000\n" +
	"Message-ID: <1234@example.net>\n" +
	"Subject: Lunch on Friday\n" +
	"MIME-Version: 1.0\n"

func zipOf(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("content of " + n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// withAttachment returns a multipart/mixed message with a text part and an
// attachment.
func withAttachment(header, filename, contentType string, data []byte) string {
	return header + "Content-Type: multipart/mixed; boundary=\"XX\"\n\n" +
		"--XX\nContent-Type: text/plain\n\nSee attached.\n" +
		"--XX\nContent-Type: " + contentType + "\nContent-Transfer-Encoding: base64\n" +
		"Content-Disposition: attachment; filename=\"" + filename + "\"\n\n" + b64(data) +
		"--XX--\n"
}

func alternative(header, plain, html string) string {
	return header + "Content-Type: multipart/alternative; boundary=\"alt\"\n\n" +
		"--alt\nContent-Type: text/plain; charset=utf-8\n\n" + plain + "\n" +
		"--alt\nContent-Type: text/html; charset=utf-8\n\n" + html + "\n" +
		"--alt--\n"
}
