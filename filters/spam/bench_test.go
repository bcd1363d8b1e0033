package spam

import (
	"context"
	"strings"
	"testing"
)

// benchMessage is a plain 4 KB message like the intake benchmark's.
var benchMessage = "From: Sender <sender@remote.test>\r\nTo: ann@example.com\r\nSubject: quarterly report and meeting notes\r\n" +
	"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@remote.test>\r\n\r\n" +
	strings.Repeat("The quarterly numbers look fine; please review the attached notes before our meeting.\r\n", 45)

// benchMultipart returns a multipart/mixed message of about 6 KB: a
// multipart/alternative with a plain and an HTML part with links, and a zip
// attachment.
func benchMultipart(b testing.TB) string {
	para := "The quarterly numbers look fine; please review the attached notes before our meeting.\n"
	htmlPara := `<p>The <b>quarterly</b> numbers look fine; please review the <a href="https://intranet.example/notes">attached notes</a> before our meeting.</p>` + "\n"
	return crlf("From: Sender <sender@remote.test>\nTo: ann@example.com\nSubject: quarterly report and meeting notes\n" +
		"Date: Sun, 29 Nov 2026 10:00:00 +0000\nMessage-ID: <bench-mp@remote.test>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"mixed\"\n\n" +
		"--mixed\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n" +
		"--alt\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat(para, 15) + "See https://intranet.example/notes\n" +
		"--alt\nContent-Type: text/html; charset=utf-8\n\n<html><head><style>p { margin: 0 }</style></head><body>" +
		strings.Repeat(htmlPara, 15) + "</body></html>\n" +
		"--alt--\n" +
		"--mixed\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n" +
		"Content-Disposition: attachment; filename=\"notes.zip\"\n\n" + b64(zipOf(b, "notes.txt", "figures.csv")) +
		"--mixed--\n")
}

// BenchmarkCheck measures the spam filter on one ordinary message with the
// database-backed, trained classifier: the cost it adds to intake.
func BenchmarkCheck(b *testing.B) {
	benchCheck(b, benchMessage)
}

// BenchmarkCheckMultipart is BenchmarkCheck on a multipart message with
// plain and HTML text and a zip attachment.
func BenchmarkCheckMultipart(b *testing.B) {
	benchCheck(b, benchMultipart(b))
}

func benchCheck(b *testing.B, raw string) {
	ctx := context.Background()
	c := NewClassifier(dbTokens(b))
	for i := range 30 {
		spamText := "Subject: WIN MONEY NOW\r\n\r\ncheap pills casino winner prize " + strings.Repeat("offer ", i%5+1)
		hamText := "Subject: meeting\r\n\r\nplease review the notes for the quarterly meeting " + strings.Repeat("report ", i%5+1)
		if err := c.Train(ctx, strings.NewReader(spamText), true); err != nil {
			b.Fatal(err)
		}
		if err := c.Train(ctx, strings.NewReader(hamText), false); err != nil {
			b.Fatal(err)
		}
	}
	f := New(Options{Classifier: c})
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := f.Check(ctx, newTestMessage(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
