package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
	"github.com/yubinmail/yubin/imapserver"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// junkMessage returns a small message.
func junkMessage(i int, subject, body string) string {
	return fmt.Sprintf("From: sender%d@example.org\r\nTo: ann@example.test\r\nSubject: %s\r\n"+
		"Message-ID: <m%d@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", i, subject, i, body)
}

// TestJunkTrainingOverIMAP moves messages into and out of Junk over a real
// IMAP connection and checks that the store's Bayes totals change.
func TestJunkTrainingOverIMAP(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := store.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "ann-password"})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{
		junkMessage(1, "Cheap pills", "Buy cheap viagra pills now, limited offer"),
		junkMessage(2, "Casino bonus", "Win a casino bonus today, click here"),
		junkMessage(3, "Lunch", "Shall we have lunch on Tuesday?"),
	} {
		res, err := store.Deliver(ctx, mailstore.Delivery{
			Targets: []mailstore.DeliveryTarget{{UserID: u.ID}},
			Body:    strings.NewReader(m),
		})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver %d: %v %v", i, err, res)
		}
	}

	bs, err := bayesdb.Open(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	trainer := newJunkTrainer(store, bayesClassifier(bs), log)
	userScope := bs.Scope(spam.UserScope(u.ID))
	srv := imapserver.NewServer(imapserver.Options{Backend: imapserver.NewStoreBackend(store), Logger: log, OnMove: trainer.onMove})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann@example.test", "ann-password").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	totals := func() (int64, int64) {
		t.Helper()
		s, h, err := userScope.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s, h
	}
	// waitTotals waits for the background training to reach the totals.
	waitTotals := func(spam, ham int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, h := totals()
			if s == spam && h == ham {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Bayes totals spam %d ham %d, want %d %d", s, h, spam, ham)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if _, err := c.Move(goimap.UIDSet{{Start: 1, Stop: 2}}, "Junk").Wait(); err != nil {
		t.Fatalf("MOVE to Junk: %v", err)
	}
	waitTotals(2, 0)
	counts, _, _, err := userScope.Counts(ctx, []string{"viagra", "casino"})
	if err != nil {
		t.Fatal(err)
	}
	if counts["viagra"].Spam != 1 || counts["casino"].Spam != 1 {
		t.Errorf("token counts after training spam: %v", counts)
	}

	// INBOX → Archive trains nothing.
	if _, err := c.Move(goimap.UIDSetNum(3), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE to Archive: %v", err)
	}
	// Junk → INBOX takes back the spam training and trains ham.
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(goimap.UIDSetNum(2), "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE out of Junk: %v", err)
	}
	waitTotals(1, 1)
	counts, _, _, err = userScope.Counts(ctx, []string{"casino"})
	if err != nil {
		t.Fatal(err)
	}
	if counts["casino"].Spam != 0 || counts["casino"].Ham != 1 {
		t.Errorf("token counts after moving out of Junk: %v, want casino spam 0 ham 1", counts)
	}
	// The training of one user stays out of the server's counts.
	if s, h, err := bs.Totals(ctx); err != nil || s != 0 || h != 0 {
		t.Errorf("server-wide Bayes totals %d %d (%v), want 0 0", s, h, err)
	}

	// Saturated: the move is not trained.
	trainer.sem <- struct{}{}
	trainer.sem <- struct{}{}
	if _, err := c.Move(goimap.UIDSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE out of Junk: %v", err)
	}
	<-trainer.sem
	<-trainer.sem

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := trainer.stop(sctx); err != nil {
		t.Fatal(err)
	}
	if s, h := totals(); s != 1 || h != 1 {
		t.Errorf("after all: Bayes totals spam %d ham %d, want 1 1", s, h)
	}
	// After stop nothing more is trained.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	md, err := c.Move(goimap.UIDSetNum(4), "Junk").Wait() // the casino message again
	if err != nil || md == nil || md.DestUIDs == nil {
		t.Fatalf("MOVE to Junk: %v %v", md, err)
	}
	if s, h := totals(); s != 1 || h != 1 {
		t.Errorf("after stop: Bayes totals spam %d ham %d, want 1 1", s, h)
	}
}
