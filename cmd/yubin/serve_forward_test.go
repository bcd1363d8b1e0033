package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mta/queue"
)

// TestForwardWiring: issue 18 item 5. The intake `yubin serve` starts
// forwards an alias's external target from an SRS address of the alias's
// domain (the secret made in DATA/srs.key), sealed with ARC and signed
// with the domain's DKIM key, and takes the bounce to that address back to
// the original sender; a forged SRS address is refused.
func TestForwardWiring(t *testing.T) {
	ctx := context.Background()
	w, ln := testWiring(t, "smtp", "starttls")
	w.chain = filters.NewChain(nil) // no DNS: the filters are not under test
	if _, err := w.store.CreateAlias(ctx, "fwd@example.test", []string{"friend@elsewhere.example"}); err != nil {
		t.Fatal(err)
	}
	w.startSMTP()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})
	st, err := os.Stat(filepath.Join(w.cfg.DataDir, "srs.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("srs.key: %v, %v", st, err)
	}
	msg := "From: Sender <sender@remote.example>\r\nTo: fwd@example.test\r\nSubject: pass it on\r\nMessage-ID: <f1@remote.example>\r\n\r\nHello\r\n"
	if err := sendPlain(ln.Addr().String(), "sender@remote.example", "fwd@example.test", msg); err != nil {
		t.Fatal(err)
	}
	items, bodies := queueBodies(t, w.queue)
	if len(items) != 1 {
		t.Fatalf("queue holds %d", len(items))
	}
	srsAddr := items[0].Message.From
	if !strings.HasPrefix(srsAddr, "SRS0=") || !strings.HasSuffix(srsAddr, "=remote.example=sender@example.test") {
		t.Fatalf("forwarded from %q", srsAddr)
	}
	if !strings.HasPrefix(bodies[0], "ARC-Seal: i=1;") || !strings.Contains(bodies[0], "d=example.test") || !strings.Contains(bodies[0], "DKIM-Signature:") {
		t.Fatalf("forwarded message: %.600s", bodies[0])
	}

	bounce := "From: MAILER-DAEMON@elsewhere.example\r\nSubject: Undelivered\r\n\r\nfriend is gone\r\n"
	if err := sendPlain(ln.Addr().String(), "", srsAddr, bounce); err != nil {
		t.Fatalf("bounce: %v", err)
	}
	items, _ = queueBodies(t, w.queue)
	var back *queue.Item
	for i := range items {
		if items[i].Message.From == "" {
			back = &items[i]
		}
	}
	if back == nil || len(back.Recipients) != 1 || back.Recipients[0].Address != "sender@remote.example" {
		t.Fatalf("the bounce was not queued for the sender: %+v", items)
	}
	forged := strings.Replace(srsAddr, "=sender@", "=mallory@", 1)
	if err := sendPlain(ln.Addr().String(), "", forged, bounce); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("forged SRS address: %v", err)
	}
}

// queueBodies returns the queued messages with their bodies.
func queueBodies(t *testing.T, q *queue.Queue) ([]queue.Item, []string) {
	t.Helper()
	ctx := context.Background()
	items, err := q.List(ctx, queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i := range items {
		r, err := q.OpenBody(ctx, &items[i].Message)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		bodies = append(bodies, string(b))
	}
	return items, bodies
}
