package spam

import (
	"context"
	"testing"
)

// FuzzCheck checks that no input makes the filter fail or panic.
func FuzzCheck(f *testing.F) {
	f.Add(crlf(alternative(cleanHeader, "hi http://192.0.2.1/", `<a href="http://x.example">y.example</a>`)))
	f.Add(crlf(withAttachment(cleanHeader, "a.zip", "application/zip", zipOf(f, "b.exe"))))
	f.Add(crlf(cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\n--b"))
	f.Add("Authentication-Results: mx.example.com; spf=fail (x (y) \\) z; dkim=\n\n")
	filter := New(Options{})
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := filter.Check(context.Background(), newTestMessage(raw)); err != nil {
			t.Fatal(err)
		}
	})
}
