package mta

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
)

// deliveryHeader returns the values of the Delivered-To and Return-Path
// fields in the header of a stored message.
func deliveryHeader(stored string) (deliveredTo, returnPath []string) {
	head, _, _ := strings.Cut(stored, "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Delivered-To: "); ok {
			deliveredTo = append(deliveredTo, v)
		}
		if v, ok := strings.CutPrefix(line, "Return-Path: "); ok {
			returnPath = append(returnPath, v)
		}
	}
	return deliveredTo, returnPath
}

// checkOwnCopy fails unless the INBOX of addr holds exactly one message
// whose delivery fields are Return-Path returnPath and exactly one
// Delivered-To, naming want, and that names no other recipient in them.
func checkOwnCopy(t *testing.T, st *mailstore.Store, addr, returnPath, want string, others ...string) {
	t.Helper()
	got := inbox(t, st, addr)
	if len(got) != 1 {
		t.Fatalf("%s holds %d messages, want 1", addr, len(got))
	}
	dt, rp := deliveryHeader(got[0])
	if len(dt) != 1 || dt[0] != want {
		t.Errorf("%s: Delivered-To %q, want exactly [%s]", addr, dt, want)
	}
	if len(rp) != 1 || rp[0] != returnPath {
		t.Errorf("%s: Return-Path %q, want exactly [%s]", addr, rp, returnPath)
	}
	if !strings.HasPrefix(got[0], "Return-Path: "+returnPath+"\r\nDelivered-To: "+want+"\r\n") {
		t.Errorf("%s: the delivery fields are not on top: %.200q", addr, got[0])
	}
	fields, _, _ := strings.Cut(got[0], "\r\nReceived: ")
	for _, o := range others {
		if strings.Contains(strings.ToLower(fields), strings.ToLower(o)) {
			t.Errorf("%s: its delivery fields name %s: %q", addr, o, fields)
		}
	}
}

// blobCount is the number of bodies ts's store keeps (files and inline
// ones), once the writer has committed what came before.
func blobCount(t *testing.T, ts *testServer) int {
	t.Helper()
	ctx := context.Background()
	if err := ts.store.CheckWritable(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := ts.store.SealStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Bodies
}

// TestDeliveredToEachCopy: issue 13 item 8. A message for several local
// mailboxes over the MX port gets one copy per mailbox, each with exactly
// one Delivered-To naming only its own recipient (as Postfix's local
// delivery does: a shared list would show Bcc recipients to each other).
// A mailbox reached by two addresses of one transaction (ann@, ann+x@)
// gets one copy, named by the address that came first.
func TestDeliveredToEachCopy(t *testing.T) {
	tests := []struct {
		name    string
		rcpts   []string
		wantAnn string
	}{
		{"plain address first", []string{ann, bob, "ann+x@example.com"}, ann},
		{"subaddress first", []string{"ann+x@example.com", bob, ann}, "ann+x@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
			before := blobCount(t, ts)
			c := ts.dial(t)
			if _, err := sendOn(c, "sender@remote.example", tt.rcpts, simpleMsg("each copy"), nil); err != nil {
				t.Fatal(err)
			}
			checkOwnCopy(t, ts.store, ann, "<sender@remote.example>", tt.wantAnn, bob)
			checkOwnCopy(t, ts.store, bob, "<sender@remote.example>", bob, ann, "ann+x")
			if n := blobCount(t, ts) - before; n != 2 {
				t.Errorf("%d bodies stored for two copies", n)
			}
		})
	}
}

// TestDeliveredToOneRecipientOneBody: a message for one mailbox is stored
// as one body, as before per-copy fields.
func TestDeliveredToOneRecipientOneBody(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	before := blobCount(t, ts)
	if _, err := ts.send(t, "sender@remote.example", []string{"ann+x@example.com"}, simpleMsg("one")); err != nil {
		t.Fatal(err)
	}
	checkOwnCopy(t, ts.store, ann, "<sender@remote.example>", "ann+x@example.com")
	if n := blobCount(t, ts) - before; n != 1 {
		t.Errorf("%d bodies stored for one copy", n)
	}
}

// TestDeliveredToAllOrNothing: when one recipient's copy does not fit its
// quota, the transaction is refused and no copy and no body is left,
// though each copy had its own body.
func TestDeliveredToAllOrNothing(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	before := blobCount(t, ts)
	msg := simpleMsg("too big for tiny") + strings.Repeat("padding line\r\n", tinyQuota/10)
	c := ts.dial(t)
	_, err := sendOn(c, "sender@remote.example", []string{ann, bob, tiny}, msg, nil)
	wantCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
	for _, u := range []string{ann, bob, tiny} {
		if n := len(inbox(t, ts.store, u)); n != 0 {
			t.Errorf("%s kept %d copies of a refused message", u, n)
		}
	}
	if n := blobCount(t, ts) - before; n != 0 {
		t.Errorf("%d orphaned bodies left", n)
	}
	for _, u := range []string{ann, bob} {
		usr, err := ts.store.GetUser(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if usr.UsedMessages != 0 || usr.UsedBytes != 0 {
			t.Errorf("%s: quota used by a refused message: %d messages, %d bytes", u, usr.UsedMessages, usr.UsedBytes)
		}
	}
}

// TestSubmissionDeliveredToEachCopy: the local copies of a submitted
// message each name only their own recipient, including the sender's own
// copy and a Bcc recipient's; the Bcc field itself is gone.
func TestSubmissionDeliveredToEachCopy(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	c := login(t, ts, ann)
	msg := "Bcc: " + bob + "\r\n" + msgFrom(ann, ann, "self and bcc")
	if _, err := sendOn(c, ann, []string{ann, bob}, msg, nil); err != nil {
		t.Fatal(err)
	}
	checkOwnCopy(t, ts.store, ann, "<"+ann+">", ann, bob)
	checkOwnCopy(t, ts.store, bob, "<"+ann+">", bob)
	for _, u := range []string{ann, bob} {
		if strings.Contains(inbox(t, ts.store, u)[0], "Bcc:") {
			t.Errorf("%s: the Bcc field was kept", u)
		}
	}
}
