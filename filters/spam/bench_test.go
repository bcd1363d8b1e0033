package spam

import (
	"context"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
)

// benchMessage is a plain 4 KB message like the intake benchmark's.
var benchMessage = "From: Sender <sender@remote.test>\r\nTo: ann@example.com\r\nSubject: quarterly report and meeting notes\r\n" +
	"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@remote.test>\r\n\r\n" +
	strings.Repeat("The quarterly numbers look fine; please review the attached notes before our meeting.\r\n", 45)

// BenchmarkCheck measures the spam filter on one ordinary message with the
// database-backed, trained classifier: the cost it adds to intake.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	s, err := mailstore.Open(ctx, mailstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := NewClassifier(s.BayesTokens())
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
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if _, err := f.Check(ctx, newTestMessage(benchMessage)); err != nil {
			b.Fatal(err)
		}
	}
}
