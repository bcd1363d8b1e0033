package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mta/queue"
)

// TestSieveWiring: issue 17 item 1. The intake `yubin serve` starts runs
// the user's active script at delivery; its vacation reply goes to the
// outbound queue, DKIM-signed with the keys of the user's domain (made on
// first use), once per sender.
func TestSieveWiring(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "smtp", "starttls")
	w.chain = filters.NewChain(nil) // no DNS: the filters are not under test
	svc := service.New(w.store, w.log)
	script := "require [\"vacation\", \"fileinto\", \"mailbox\"];\n" +
		"if header :contains \"subject\" \"invoice\" { fileinto :create \"Invoices\"; }\n" +
		"vacation :subject \"Away\" \"I am away until Monday.\";\n"
	if err := svc.PutSieveScript(ctx, service.System(), "ann@example.test", "main", script); err != nil {
		t.Fatal(err)
	}
	if err := svc.ActivateSieveScript(ctx, service.System(), "ann@example.test", "main"); err != nil {
		t.Fatal(err)
	}
	w.startSMTP()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})
	for _, subject := range []string{"invoice 7", "invoice 8"} {
		msg := "From: Sender <sender@remote.example>\r\nTo: Ann <ann@example.test>\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "") + "@remote.example>\r\n\r\nHello\r\n"
		if err := sendPlain(ln.Addr().String(), "sender@remote.example", "ann@example.test", msg); err != nil {
			t.Fatalf("send %s: %v", subject, err)
		}
	}
	u, err := w.store.GetUser(ctx, "ann@example.test")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := w.store.GetMailbox(ctx, u.ID, "Invoices")
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := w.store.ListMessages(ctx, mb.ID, nil); err != nil || len(ms) != 2 {
		t.Fatalf("Invoices holds %d, %v", len(ms), err)
	}
	items, err := w.queue.List(ctx, queue.Filter{})
	if err != nil || len(items) != 1 {
		t.Fatalf("queue: %d items, %v; want one vacation reply", len(items), err)
	}
	r, err := w.queue.OpenBody(ctx, &items[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r)
	r.Close()
	if !strings.HasPrefix(string(body), "DKIM-Signature:") || !strings.Contains(string(body), "d=example.test") || !strings.Contains(string(body), "Auto-Submitted: auto-replied") {
		t.Fatalf("the vacation reply is not signed for example.test: %.400s", body)
	}
}

// sendPlain sends one message over plain SMTP.
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(wc, msg); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}
