package main

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
)

// TestSharedAccountReceivesMail: issue 19 item 2. Mail to a shared
// account over the SMTP intake `yubin serve` starts lands in its INBOX,
// which its member can open.
func TestSharedAccountReceivesMail(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "smtp", "starttls")
	info, err := w.store.CreateSharedAccount(ctx, mailstore.NewUser{Address: "info@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetSharedMember(ctx, "info@example.test", "ann@example.test", "lrswite"); err != nil {
		t.Fatal(err)
	}
	w.startSMTP()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.sup.stopAll(ctx)
	})
	msg := "From: customer@example.net\r\nTo: info@example.test\r\nSubject: Opening hours?\r\nMessage-ID: <q1@example.net>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\nWhen are you open?\r\n"
	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("customer@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("info@example.test", nil); err != nil {
		t.Fatalf("RCPT info@: %v", err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := wc.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	inbox, err := w.store.GetMailbox(ctx, info.ID, mailstore.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := w.store.ListMessages(ctx, inbox.ID, nil)
	if err != nil || len(metas) != 1 {
		t.Fatalf("info@'s INBOX: %+v %v", metas, err)
	}
	ann, err := w.store.GetUser(ctx, "ann@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if rights, err := w.store.RightsOn(ctx, inbox.ID, ann.ID); err != nil || rights != "lrswite" {
		t.Fatalf("ann's rights on info@'s INBOX: %q %v", rights, err)
	}
}
