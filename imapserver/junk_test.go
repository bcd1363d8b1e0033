package imapserver

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
)

// moveCall is one call of the OnMove hook.
type moveCall struct {
	userID   int64
	from, to string
	uids     []uint32
	subjects []string
	spam     bool
}

// moveRecorder is a fake OnMove hook.
type moveRecorder struct {
	store *mailstore.Store
	mu    sync.Mutex
	calls []moveCall
}

func (r *moveRecorder) hook(ctx context.Context, userID int64, from, to *mailstore.Mailbox, msgs []mailstore.MessageMeta, spam bool) {
	c := moveCall{userID: userID, from: from.Name, to: to.Name, spam: spam}
	for i := range msgs {
		c.uids = append(c.uids, msgs[i].UID)
		// The messages must be readable in the destination.
		b, err := r.store.OpenMessage(ctx, &msgs[i])
		if err == nil {
			data, _ := io.ReadAll(b)
			b.Close()
			for _, l := range strings.Split(string(data), "\r\n") {
				if s, ok := strings.CutPrefix(l, "Subject: "); ok {
					c.subjects = append(c.subjects, s)
				}
			}
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// take returns and forgets the calls so far.
func (r *moveRecorder) take() []moveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func TestOnMoveJunkTraining(t *testing.T) {
	rec := &moveRecorder{}
	env := newTestEnv(t, func(o *Options) { o.OnMove = rec.hook })
	rec.store = env.store
	for _, s := range []string{"one", "two", "three", "four"} {
		env.deliver(t, testMessage(s, "bob@example.org", "x"))
	}
	c := env.selectInbox(t, nil)

	// INBOX → Archive is no junk decision.
	if _, err := c.Move(imap.UIDSetNum(4), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE to Archive: %v", err)
	}
	if _, err := c.Copy(imap.UIDSetNum(3), "Archive").Wait(); err != nil {
		t.Fatalf("COPY to Archive: %v", err)
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Fatalf("INBOX → Archive called the hook: %+v", calls)
	}

	// MOVE into Junk: spam.
	if _, err := c.Move(imap.UIDSet{{Start: 1, Stop: 2}}, "Junk").Wait(); err != nil {
		t.Fatalf("MOVE to Junk: %v", err)
	}
	calls := rec.take()
	if len(calls) != 1 || !calls[0].spam || calls[0].from != "INBOX" || calls[0].to != "Junk" ||
		calls[0].userID != env.user.ID || len(calls[0].uids) != 2 || strings.Join(calls[0].subjects, ",") != "one,two" {
		t.Fatalf("MOVE into Junk: %+v", calls)
	}

	// COPY into Junk: spam too.
	if _, err := c.Copy(imap.UIDSetNum(3), "Junk").Wait(); err != nil {
		t.Fatalf("COPY to Junk: %v", err)
	}
	if calls := rec.take(); len(calls) != 1 || !calls[0].spam || strings.Join(calls[0].subjects, ",") != "three" {
		t.Fatalf("COPY into Junk: %+v", calls)
	}

	// Out of Junk: ham, except into Trash; Junk → Junk is nothing.
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(1), "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE Junk → INBOX: %v", err)
	}
	calls = rec.take()
	if len(calls) != 1 || calls[0].spam || calls[0].from != "Junk" || calls[0].to != "INBOX" || strings.Join(calls[0].subjects, ",") != "one" {
		t.Fatalf("MOVE out of Junk: %+v", calls)
	}
	if _, err := c.Move(imap.UIDSetNum(2), "Trash").Wait(); err != nil {
		t.Fatalf("MOVE Junk → Trash: %v", err)
	}
	if _, err := c.Copy(imap.UIDSetNum(3), "Junk").Wait(); err != nil {
		t.Fatalf("COPY Junk → Junk: %v", err)
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Fatalf("Junk → Trash or Junk → Junk called the hook: %+v", calls)
	}
	if _, err := c.Copy(imap.UIDSetNum(3), "Archive").Wait(); err != nil {
		t.Fatalf("COPY Junk → Archive: %v", err)
	}
	if calls := rec.take(); len(calls) != 1 || calls[0].spam || calls[0].to != "Archive" {
		t.Fatalf("COPY out of Junk: %+v", calls)
	}

	// Nothing moved, or a failed move: no call.
	if _, err := c.Move(imap.UIDSetNum(999), "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE of nothing: %v", err)
	}
	if _, err := c.Move(imap.UIDSetNum(3), "Nosuch").Wait(); err == nil {
		t.Fatal("MOVE to a missing mailbox succeeded")
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Fatalf("empty or failed MOVE called the hook: %+v", calls)
	}
}

func TestJunkVerdict(t *testing.T) {
	mb := func(id int64, use string) *mailstore.Mailbox { return &mailstore.Mailbox{ID: id, SpecialUse: use} }
	for _, tc := range []struct {
		from, to     *mailstore.Mailbox
		spam, called bool
	}{
		{mb(1, ""), mb(2, `\Junk`), true, true},
		{mb(1, `\Archive`), mb(2, `\Junk`), true, true},
		{mb(1, `\Trash`), mb(2, `\Junk`), true, true},
		{mb(2, `\Junk`), mb(1, ""), false, true},
		{mb(2, `\Junk`), mb(1, `\Archive`), false, true},
		{mb(2, `\Junk`), mb(1, `\Trash`), false, false},
		{mb(2, `\Junk`), mb(3, `\Junk`), false, false},
		{mb(2, `\Junk`), mb(2, `\Junk`), false, false},
		{mb(1, ""), mb(4, `\Archive`), false, false},
		{nil, mb(2, `\Junk`), false, false},
	} {
		spam, called := junkVerdict(tc.from, tc.to)
		if spam != tc.spam || called != tc.called {
			t.Errorf("junkVerdict(%+v, %+v) = %v, %v; want %v, %v", tc.from, tc.to, spam, called, tc.spam, tc.called)
		}
	}
}
