package imapserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestPrivateSeenIdle: alice shares Projects with bob; its \Seen is
// private (the default). Over go-imap clients: bob, idling, is told of
// alice's \Flagged but not of her reading; bob's reading in another
// session reaches his idling one, not alice's.
func TestPrivateSeenIdle(t *testing.T) {
	env := newTestEnv(t, nil)
	env.shareProjects(t, "lrsw", [2]string{"one", "first"}, [2]string{"two", "second"})
	bobRec := newRecorder()
	bob := env.loginAs(t, bobAddr, bobRec.options())
	if _, err := bob.Select(sharedBox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := bob.Idle()
	if err != nil {
		t.Fatal(err)
	}
	aliceRec := newRecorder()
	alice := env.loginAs(t, testAddr, aliceRec.options())
	if _, err := alice.Select("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// alice reads message 1, then flags message 2.
	if _, err := alice.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// Changes come in order: had bob been told of alice's \Seen, it
	// would come first.
	if u := wait(t, bobRec.fetch, "FETCH of alice's \\Flagged"); u.seq != 2 || !hasFlag(u.flags, imap.FlagFlagged) || hasFlag(u.flags, imap.FlagSeen) {
		t.Fatalf("bob told %+v", u)
	}
	// bob reads message 1 in another session: his idling one is told.
	bob2 := env.loginAs(t, bobAddr, nil)
	if _, err := bob2.Select(sharedBox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := bob2.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if u := wait(t, bobRec.fetch, "FETCH of bob's \\Seen"); u.seq != 1 || !hasFlag(u.flags, imap.FlagSeen) {
		t.Fatalf("bob told %+v", u)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	// alice is not told of bob's \Seen; her own stays.
	if err := alice.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	none(t, aliceRec.fetch, "FETCH of bob's \\Seen to alice")
	msg := fetchOne(t, alice, 1, &imap.FetchOptions{Flags: true})
	if !hasFlag(msg.Flags, imap.FlagSeen) {
		t.Fatalf("alice's flags of 1: %v", msg.Flags)
	}
	msg = fetchOne(t, alice, 2, &imap.FetchOptions{Flags: true})
	if hasFlag(msg.Flags, imap.FlagSeen) || !hasFlag(msg.Flags, imap.FlagFlagged) {
		t.Fatalf("alice's flags of 2: %v", msg.Flags)
	}
}

// TestPrivateSeenQresync: a QRESYNC resync (RFC 7162 §3.2.5) after bob
// read a message of alice's shared mailbox brings bob the change, and
// alice nothing.
func TestPrivateSeenQresync(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	mb := env.shareProjects(t, "lrs", [2]string{"one", "first"}, [2]string{"two", "second"})
	st, err := env.store.Status(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%d %d", st.UIDValidity, st.HighestModSeq)
	bob := env.rawLogin(t, bobAddr)
	mustCmd(t, bob, "e", "ENABLE QRESYNC")
	mustCmd(t, bob, "s", `SELECT "`+sharedBox+`"`)
	u := mustCmd(t, bob, "st", "STORE 2 +FLAGS.SILENT (\\Seen)")
	if len(u) != 1 || !strings.Contains(u[0], "MODSEQ") {
		t.Fatalf("bob's STORE with QRESYNC: %q", u)
	}
	mustCmd(t, bob, "u", "UNSELECT")
	u = mustCmd(t, bob, "q", `SELECT "`+sharedBox+`" (QRESYNC (`+before+`))`)
	var fetches []string
	for _, l := range u {
		if strings.Contains(l, " FETCH ") {
			fetches = append(fetches, l)
		}
	}
	if len(fetches) != 1 || !strings.HasPrefix(fetches[0], "* 2 FETCH") || !strings.Contains(fetches[0], `\Seen`) {
		t.Fatalf("bob's resync: %q", u)
	}
	alice := env.rawLogin(t, testAddr)
	mustCmd(t, alice, "e", "ENABLE QRESYNC")
	for _, l := range mustCmd(t, alice, "q", "SELECT Projects (QRESYNC ("+before+"))") {
		if strings.Contains(l, " FETCH ") {
			t.Fatalf("alice's resync brings bob's \\Seen: %q", l)
		}
	}
}

// TestPrivateSeenNotify: bob watches alice's shared mailbox with NOTIFY
// (RFC 5465) and is told of his own \Seen change made in another session
// (a STATUS with his UNSEEN); alice, watching it too, is not.
func TestPrivateSeenNotify(t *testing.T) {
	env := newTestEnv(t, nil)
	env.shareProjects(t, "lrs", [2]string{"one", "first"})
	bob := env.rawLogin(t, bobAddr)
	mustCmd(t, bob, "n", `NOTIFY SET (mailboxes "`+sharedBox+`" (MessageNew MessageExpunge FlagChange))`)
	alice := env.rawLogin(t, testAddr)
	mustCmd(t, alice, "n", `NOTIFY SET (mailboxes Projects (MessageNew MessageExpunge FlagChange))`)
	bob2 := env.rawLogin(t, bobAddr)
	mustCmd(t, bob2, "s", `SELECT "`+sharedBox+`"`)
	mustCmd(t, bob2, "st", "STORE 1 +FLAGS.SILENT (\\Seen)")
	expectLines(t, bob, `\* STATUS "`+regexp.QuoteMeta(sharedBox)+`" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)`) // FlagChange asked: HIGHESTMODSEQ too (RFC 5465 §3)
	if u := mustCmd(t, alice, "a", "NOOP"); len(u) != 0 {
		t.Fatalf("alice told of bob's \\Seen: %q", u)
	}
}
