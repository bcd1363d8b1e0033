package imapserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

// fetchUIDs fetches "1:*" (UID) by sequence number and returns the UIDs in
// sequence order, checking that the sequence numbers run from 1 without gaps.
func fetchUIDs(t testing.TB, c *imapclient.Client) []uint32 {
	t.Helper()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:* UID: %v", err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.SeqNum) - int(b.SeqNum) })
	out := make([]uint32, len(msgs))
	for i, m := range msgs {
		if m.SeqNum != uint32(i+1) {
			t.Fatalf("FETCH 1:*: sequence numbers %v not contiguous", seqNums(msgs))
		}
		out[i] = uint32(m.UID)
	}
	return out
}

func seqNums(msgs []*imapclient.FetchMessageBuffer) []uint32 {
	out := make([]uint32, len(msgs))
	for i, m := range msgs {
		out[i] = m.SeqNum
	}
	return out
}

func TestIdleReceivesDelivery(t *testing.T) {
	env := newTestEnv(t, nil)
	rec := newRecorder()
	a := env.selectInbox(t, rec.options())

	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	env.deliver(t, testMessage("while idling", "bob@example.org", "hi"))
	start := time.Now() // the change is published before Deliver returns
	if n := wait(t, rec.exists, "EXISTS during IDLE"); n != 1 {
		t.Fatalf("EXISTS %d, want 1", n)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("EXISTS took %v", d)
	}
	uid2 := env.deliver(t, testMessage("second", "bob@example.org", "hi"))
	if n := wait(t, rec.exists, "second EXISTS during IDLE"); n != 2 {
		t.Fatalf("EXISTS %d, want 2", n)
	}
	// Flag changes and expunges by others arrive during IDLE too.
	ctx := context.Background()
	if _, err := env.store.StoreFlags(ctx, env.inboxID, mailstore.UIDs(uid2), mailstore.FlagsAdd, []string{`\Flagged`}); err != nil {
		t.Fatal(err)
	}
	up := wait(t, rec.fetch, "FETCH FLAGS during IDLE")
	if up.seq != 2 || !hasFlag(up.flags, imap.FlagFlagged) {
		t.Fatalf("FETCH during IDLE: %+v", up)
	}
	if err := env.store.DeleteMessages(ctx, env.inboxID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if seq := wait(t, rec.expunge, "EXPUNGE during IDLE"); seq != 1 {
		t.Fatalf("EXPUNGE %d during IDLE, want 1", seq)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if got := fetchUIDs(t, a); !slices.Equal(got, []uint32{uid2}) {
		t.Fatalf("after IDLE: UIDs %v, want [%d]", got, uid2)
	}
}

// Changes that happen between two commands are sent as soon as IDLE starts,
// not only once something else changes.
func TestIdleSendsPendingUpdates(t *testing.T) {
	env := newTestEnv(t, nil)
	rec := newRecorder()
	a := env.selectInbox(t, rec.options())
	env.deliver(t, testMessage("before idle", "bob@example.org", "hi"))

	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Wait()
	defer idle.Close()
	if n := wait(t, rec.exists, "EXISTS queued before IDLE"); n != 1 {
		t.Fatalf("EXISTS %d, want 1", n)
	}
}

func TestTwoClientsSeeEachOther(t *testing.T) {
	env := newTestEnv(t, nil)
	var uids []uint32
	for i := 0; i < 3; i++ {
		uids = append(uids, env.deliver(t, testMessage(fmt.Sprint("msg ", i), "bob@example.org", "hi")))
	}
	recA := newRecorder()
	a := env.selectInbox(t, recA.options())
	b := env.selectInbox(t, nil)

	// B flags message 2: A hears of it on its next command.
	if _, err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	up := wait(t, recA.fetch, "FETCH FLAGS after another client's STORE")
	if up.seq != 2 || !hasFlag(up.flags, imap.FlagFlagged) {
		t.Fatalf("A got %+v, want FETCH 2 with \\Flagged", up)
	}

	// B expunges message 1.
	if _, err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	expunged, err := b.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(expunged, []uint32{1}) {
		t.Fatalf("B's EXPUNGE: %v, want [1]", expunged)
	}
	// A's sequence numbers still are the old ones: 2 and 3 are still the
	// messages with UIDs 2 and 3, and no EXPUNGE comes during FETCH.
	msgs, err := a.Fetch(imap.SeqSetNum(2, 3), &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].SeqNum != 2 || uint32(msgs[0].UID) != uids[1] || msgs[1].SeqNum != 3 || uint32(msgs[1].UID) != uids[2] {
		t.Fatalf("A's FETCH 2,3 after another's expunge: %+v", msgs)
	}
	// (SEARCH, not UID SEARCH: EXPUNGE may be sent during UID commands.)
	search, err := a.Search(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := search.AllSeqNums(); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("A's SEARCH ALL: %v", got)
	}
	if err := a.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$Label1"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	none(t, recA.expunge, "EXPUNGE during FETCH/SEARCH/STORE")
	// A new message arrives too.
	uid4 := env.deliver(t, testMessage("msg 3", "bob@example.org", "hi"))

	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := wait(t, recA.expunge, "EXPUNGE on NOOP"); seq != 1 {
		t.Fatalf("A got EXPUNGE %d, want 1", seq)
	}
	if n := wait(t, recA.exists, "EXISTS on NOOP"); n != 3 {
		t.Fatalf("A got EXISTS %d, want 3", n)
	}
	if got, want := fetchUIDs(t, a), []uint32{uids[1], uids[2], uid4}; !slices.Equal(got, want) {
		t.Fatalf("A's UIDs after NOOP: %v, want %v", got, want)
	}
	if n := a.Mailbox().NumMessages; n != 3 {
		t.Fatalf("A counts %d messages", n)
	}
	// B saw A's keyword (STORE was silent for A, not for B).
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, b, uids[2], &imap.FetchOptions{Flags: true})
	if !hasFlag(m.Flags, "$Label1") {
		t.Fatalf("B: flags %v", m.Flags)
	}
}

// A client is not told twice about its own flag changes.
func TestOwnStoreNotEchoed(t *testing.T) {
	env := newTestEnv(t, nil)
	uid := env.deliver(t, testMessage("mine", "bob@example.org", "hi"))
	env.deliver(t, testMessage("other", "bob@example.org", "hi"))
	recA, recB := newRecorder(), newRecorder()
	a := env.selectInbox(t, recA.options())
	b := env.selectInbox(t, recB.options())

	msgs, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !hasFlag(msgs[0].Flags, imap.FlagFlagged) {
		t.Fatalf("STORE response: %+v", msgs)
	}
	if err := a.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// A non-PEEK body fetch sets \Seen and says so in its own response.
	m := fetchOne(t, a, uid, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	if !hasFlag(m.Flags, imap.FlagSeen) {
		t.Fatalf("FETCH BODY[] response flags %v, want \\Seen", m.Flags)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	none(t, recA.fetch, "FETCH echo of A's own change")

	// B hears of the changes: of message 1's two only the later, whose
	// flags are the message's flags now (TestFlagChangesNeverStale).
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	// (imapclient hands unsolicited FETCH responses to the handler from
	// separate goroutines: their order is lost.)
	var got []string
	for i := 0; i < 2; i++ {
		up := wait(t, recB.fetch, "FETCH FLAGS of A's change")
		got = append(got, fmt.Sprint(up.seq, up.flags))
	}
	slices.Sort(got)
	none(t, recB.fetch, "a FETCH of message 1's older flags")
	if want := []string{`1 [\Flagged \Seen]`, `2 [\Answered]`}; !slices.Equal(got, want) {
		t.Fatalf("B got %q, want %q", got, want)
	}
}

func TestDeliveredWhileSelected(t *testing.T) {
	env := newTestEnv(t, nil)
	rec := newRecorder()
	a := env.selectInbox(t, rec.options())
	msg := testMessage("late", "bob@example.org", "arrived later")
	uid := env.deliver(t, msg)
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := wait(t, rec.exists, "EXISTS"); n != 1 {
		t.Fatalf("EXISTS %d", n)
	}
	m := fetchOne(t, a, uid, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if got := string(m.FindBodySection(&imap.FetchItemBodySection{Peek: true})); got != msg {
		t.Fatalf("BODY[] = %q", got)
	}
}

// Messages added in one change (a COPY of several) are not visible by
// sequence number before the client was told of them.
func TestBulkAddNotVisibleBeforeExists(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "hi"))
	env.deliver(t, testMessage("two", "bob@example.org", "hi"))
	for i := 0; i < 3; i++ {
		env.deliverTo(t, "Archive", testMessage(fmt.Sprint("archived ", i), "bob@example.org", "hi"))
	}
	rec := newRecorder()
	a := env.selectInbox(t, rec.options())
	a2 := env.selectInbox(t, nil)
	b := env.login(t, nil)
	if _, err := b.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Copy(imap.SeqSet{{Start: 1, Stop: 3}}, "INBOX").Wait(); err != nil {
		t.Fatal(err)
	}

	msgs, err := a.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("FETCH 1:* before NOOP returned sequence numbers %v; the client knows 2 messages", seqNums(msgs))
	}
	// (The FETCH was followed by the EXISTS: ask another client.)
	sd, err := a2.Search(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.AllSeqNums(); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("SEARCH ALL before NOOP: %v", got)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	var last uint32
	for last != 5 {
		last = wait(t, rec.exists, "EXISTS")
	}
	if got := fetchUIDs(t, a); !slices.Equal(got, env.uids(t, env.inboxID)) {
		t.Fatalf("after NOOP: %v, want %v", got, env.uids(t, env.inboxID))
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	const clients, messages = 5, 50
	env := newTestEnv(t, nil)
	// A few messages to expunge while deliveries go on.
	var early []uint32
	for i := 0; i < 5; i++ {
		early = append(early, env.deliver(t, testMessage(fmt.Sprint("early ", i), "bob@example.org", "hi")))
	}

	cs := make([]*imapclient.Client, clients)
	for i := range cs {
		cs[i] = env.selectInbox(t, nil)
	}

	ctx := context.Background()
	stop := make(chan struct{})
	var pollers sync.WaitGroup
	errs := make(chan error, clients)
	// The clients poll and fetch all the while, checking their view stays
	// consistent: contiguous sequence numbers, ascending UIDs.
	for i, c := range cs {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Noop().Wait(); err != nil {
					errs <- fmt.Errorf("client %d NOOP: %v", i, err)
					return
				}
				msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
				// RFC 2180 §4.1.2: a message expunged by another session
				// meanwhile makes the FETCH answer NO [EXPUNGEISSUED].
				var ie *imap.Error
				if errors.As(err, &ie) && ie.Code == "EXPUNGEISSUED" {
					err = nil
				}
				if err != nil {
					errs <- fmt.Errorf("client %d FETCH: %v", i, err)
					return
				}
				// Unsolicited FETCH FLAGS (for a message not in the
				// FETCH data because it was expunged meanwhile) may be
				// counted in by imapclient, out of order.
				slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.SeqNum) - int(b.SeqNum) })
				for k := 1; k < len(msgs); k++ {
					if msgs[k].SeqNum <= msgs[k-1].SeqNum || msgs[k].UID <= msgs[k-1].UID {
						errs <- fmt.Errorf("client %d: inconsistent FETCH: seq %d uid %d after seq %d uid %d",
							i, msgs[k].SeqNum, msgs[k].UID, msgs[k-1].SeqNum, msgs[k-1].UID)
						return
					}
				}
			}
		}()
	}

	var writers sync.WaitGroup
	for i := 0; i < messages; i++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			_, err := env.store.Deliver(ctx, mailstore.Delivery{
				Targets: []mailstore.DeliveryTarget{{UserID: env.user.ID, Mailbox: "INBOX"}},
				Body:    strings.NewReader(testMessage(fmt.Sprint("concurrent ", i), "bob@example.org", "hi")),
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	writers.Add(1)
	go func() {
		defer writers.Done()
		for _, uid := range early {
			if _, err := env.store.StoreFlags(ctx, env.inboxID, mailstore.UIDs(uid), mailstore.FlagsAdd, []string{`\Seen`}); err != nil {
				t.Error(err)
			}
			if err := env.store.DeleteMessages(ctx, env.inboxID, []uint32{uid}); err != nil {
				t.Error(err)
			}
		}
	}()
	writers.Wait()
	close(stop)
	pollers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	want := env.uids(t, env.inboxID)
	if len(want) != messages {
		t.Fatalf("store has %d messages, want %d", len(want), messages)
	}
	for i, c := range cs {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; n != messages {
			t.Errorf("client %d counts %d messages, want %d", i, n, messages)
		}
		if got := fetchUIDs(t, c); !slices.Equal(got, want) {
			t.Errorf("client %d UIDs %v, want %v", i, got, want)
		}
	}
}

// openBoxes returns how many mailboxes the hub tracks.
func (e *testEnv) openBoxes() int {
	e.srv.hub.mu.Lock()
	defer e.srv.hub.mu.Unlock()
	return len(e.srv.hub.views)
}

// waitFor polls cond until it holds or updateTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(updateTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, updateTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that disconnects during IDLE, or ends IDLE with something else
// than DONE, leaves the server consistent (the IDLE reader goroutine and
// the session must not race; run with -race).
func TestIdleEndsAbruptly(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 5; i++ {
		r := dialRaw(t, env.addr)
		r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
		r.cmd("s", "SELECT INBOX")
		r.send("i IDLE")
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		env.deliver(t, testMessage("while idling", "bob@example.org", "x"))
		if l := r.line(); l != fmt.Sprintf("* %d EXISTS", i+1) {
			t.Fatalf("during IDLE: %q", l)
		}
		r.c.Close()
	}
	waitFor(t, "mailboxes released after disconnects", func() bool { return env.openBoxes() == 0 })

	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	r.send("i IDLE")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	r.send("x SELECT Archive")
	if l := r.line(); !strings.HasPrefix(l, "i BAD") {
		// The answer is IDLE's.
		t.Fatalf("IDLE ended without DONE: %q", l)
	}
	if untagged, tagged := r.cmd("y", "SELECT Archive"); !strings.HasPrefix(tagged, "y OK") || !slices.Contains(untagged, "* 0 EXISTS") {
		t.Fatalf("SELECT after a broken IDLE: %q %q", untagged, tagged)
	}
	env.deliver(t, testMessage("to INBOX", "bob@example.org", "x"))
	if untagged, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") || len(untagged) != 0 {
		t.Fatalf("NOOP in Archive after an INBOX delivery: %q %q", untagged, tagged)
	}
	r.c.Close()
	waitFor(t, "mailboxes released", func() bool { return env.openBoxes() == 0 })
}
