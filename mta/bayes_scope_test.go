package mta

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
)

// TestBayesTrainingStaysWithTheUser replays the poisoning of issue 11 over
// SMTP: ann trained her own classifier (as her Junk moves do) that mail
// about the quarterly figures is spam. Her copy of such a message goes to
// her Junk; bob's, sent alone, stays in his INBOX; a message to both is
// judged without ann's training.
func TestBayesTrainingStaysWithTheUser(t *testing.T) {
	ctx := context.Background()
	var annID int64
	ts := startServer(t, func(o *Options) {
		u, err := o.Store.GetUser(ctx, ann)
		if err != nil {
			t.Fatal(err)
		}
		annID = u.ID
		bs, err := bayesdb.Open(ctx, o.Store)
		if err != nil {
			t.Fatal(err)
		}
		c := spam.NewClassifier(bs).WithScopes(func(scope string) spam.TokenStore { return bs.Scope(scope) })
		for i := range 30 {
			poisoned := fmt.Sprintf("Subject: quarterly figures %d\r\n\r\nthe quarterly figures and the budget review %d\r\n", i, i)
			other := fmt.Sprintf("Subject: lunch %d\r\n\r\nshall we have lunch on tuesday at noon %d\r\n", i, i)
			if err := c.TrainIn(ctx, spam.UserScope(annID), strings.NewReader(poisoned), true); err != nil {
				t.Fatal(err)
			}
			if err := c.TrainIn(ctx, spam.UserScope(annID), strings.NewReader(other), false); err != nil {
				t.Fatal(err)
			}
		}
		opts := spam.DefaultOptions()
		opts.Classifier = c
		opts.JunkScore = 4 // Bayes alone gives at most 5
		o.Filters = filters.NewChain(nil, filters.Stage{Filter: spam.New(opts), Enabled: true})
	})
	msg := "From: cfo@example.org\r\nTo: team@example.com\r\nSubject: quarterly figures\r\nDate: Mon, 07 Dec 2026 06:00:00 +0000\r\n" +
		"Message-ID: <q@example.org>\r\n\r\nthe quarterly figures and the budget review are attached\r\n"
	for _, rcpts := range [][]string{{ann}, {bob}, {ann, bob}} {
		if _, err := ts.send(t, "cfo@example.org", rcpts, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(messages(t, ts.store, ann, "Junk")); n != 1 {
		t.Errorf("ann's Junk has %d messages, want 1 (her own training)", n)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Errorf("ann's INBOX has %d messages, want 1 (the message to both)", n)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 2 {
		t.Errorf("bob's INBOX has %d messages, want 2: ann's training must not reach him", n)
	}
	if n := len(messages(t, ts.store, bob, "Junk")); n != 0 {
		t.Errorf("bob's Junk has %d messages, want 0", n)
	}
}
