package imapserver

import (
	"context"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
)

// otherNode opens a second store on the database of env's store (opts, as
// newTestEnvStore made them): a node whose changes this server's hub hears
// nothing of, as when events between nodes are lost.
func otherNode(t *testing.T, opts mailstore.Options) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: opts.Dir, Database: opts.Database, BlobDir: opts.BlobDir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// idleUntil reads IDLE's lines until one has prefix want, and returns them.
func idleUntil(r *rawConn, want string) []string {
	r.t.Helper()
	var got []string
	for {
		l := r.line()
		got = append(got, l)
		if strings.HasPrefix(l, want) {
			return got
		}
	}
}

func TestResyncReportsMissedChanges(t *testing.T) {
	var opts mailstore.Options
	env := newTestEnvStore(t, func(o *mailstore.Options) { opts = *o }, nil)
	env.deliver(t, testMessage("one", "a@example.test", "1"))
	env.deliver(t, testMessage("two", "a@example.test", "2"))
	other := otherNode(t, opts)

	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("e", "ENABLE IMAP4rev2")
	if _, tagged := r.cmd("s", "SELECT INBOX"); !strings.HasPrefix(tagged, "s OK") {
		t.Fatal(tagged)
	}
	r.send("i IDLE")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}

	// The other node changes the mailbox; no event reaches this one.
	ctx := context.Background()
	res, err := other.Deliver(ctx, mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: env.user.ID, Mailbox: "INBOX"}},
		Body:    strings.NewReader(testMessage("three", "a@example.test", "3")),
	})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := other.StoreFlags(ctx, env.inboxID, mailstore.UIDs(1), mailstore.FlagsAdd, []string{`\Flagged`}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.StoreFlags(ctx, env.inboxID, mailstore.UIDs(2), mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Expunge(ctx, env.inboxID, mailstore.UIDs(2)); err != nil {
		t.Fatal(err)
	}

	// Resync: the session reports what it missed, as the events would have.
	env.store.Notifier().Publish([]mailstore.Event{{Kind: mailstore.Resync}})
	got := idleUntil(r, "* 1 FETCH")
	want := []string{"* 2 EXPUNGE", "* 2 EXISTS", `* 1 FETCH (UID 1 FLAGS (\Flagged))`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after Resync got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r.send("DONE")
	if l := r.line(); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("DONE: %q", l)
	}
	untagged, tagged := r.cmd("f", "FETCH 1:* (UID FLAGS)")
	want = []string{`* 1 FETCH (UID 1 FLAGS (\Flagged))`, "* 2 FETCH (UID 3 FLAGS ())"}
	if !strings.HasPrefix(tagged, "f OK") || strings.Join(untagged, "\n") != strings.Join(want, "\n") {
		t.Fatalf("FETCH got %q %s, want %q", untagged, tagged, want)
	}
}

func TestAddedOnAnotherNodeFirstIsNotSkipped(t *testing.T) {
	var opts mailstore.Options
	env := newTestEnvStore(t, func(o *mailstore.Options) { opts = *o }, nil)
	env.deliver(t, testMessage("one", "a@example.test", "1"))
	other := otherNode(t, opts)

	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("e", "ENABLE IMAP4rev2")
	r.cmd("s", "SELECT INBOX")
	r.send("i IDLE")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	// UID 2 on the other node, whose event has not come; UID 3 here.
	res, err := other.Deliver(context.Background(), mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: env.user.ID, Mailbox: "INBOX"}},
		Body:    strings.NewReader(testMessage("two", "a@example.test", "2")),
	})
	if err != nil || res[0].Err != nil || res[0].UID != 2 {
		t.Fatal(err, res)
	}
	if uid := env.deliver(t, testMessage("three", "a@example.test", "3")); uid != 3 {
		t.Fatalf("UID %d, want 3", uid)
	}
	if got := idleUntil(r, "* "); !strings.HasPrefix(got[len(got)-1], "* 3 EXISTS") {
		t.Fatalf("IDLE: %q, want * 3 EXISTS", got)
	}
	// UID 2's own event, late, changes nothing.
	env.store.Notifier().Publish([]mailstore.Event{{Kind: mailstore.MessagesAdded, UserID: env.user.ID, MailboxID: env.inboxID, UIDs: []uint32{2}}})
	r.send("DONE")
	if l := r.line(); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("DONE: %q", l)
	}
	untagged, tagged := r.cmd("f", "FETCH 1:* (UID)")
	if !strings.HasPrefix(tagged, "f OK") {
		t.Fatal(tagged)
	}
	want := []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}
	if strings.Join(untagged, "\n") != strings.Join(want, "\n") {
		t.Fatalf("FETCH got %q, want %q", untagged, want)
	}
}
