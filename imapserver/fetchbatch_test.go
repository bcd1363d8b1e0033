package imapserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
)

// TestFetchBodiesBatched: go-imap's client fetches the bodies of a whole
// mailbox over a real socket — small ones kept inline in the database
// (read ahead in batches), one in a file, one just under the inline
// limit (sealed: two chunks) — in plaintext and encrypted at rest, whole
// (sent unparsed) and in parts (parsed), over all of them, a scattered
// set and by UID, and every byte is the one delivered; a second session
// expunging messages meanwhile changes nothing for this one's FETCH of
// the others (RFC 2180 grace).
func TestFetchBodiesBatched(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			var storeMod func(*mailstore.Options)
			if sealed {
				storeMod = sealedStore(t)
			}
			env := newTestEnvStore(t, storeMod, nil)
			const n = 150
			bodies := map[uint32]string{}
			for i := range n {
				size := 200 + i*53
				switch i {
				case 70:
					size = mailstore.DefaultInlineMax + 4000
				case 71:
					size = mailstore.DefaultInlineMax - 300
				}
				msg := testMessage(fmt.Sprint("batch ", i), "bob@example.org", bigBody(size))
				bodies[env.deliver(t, msg)] = msg
			}
			c := env.selectInbox(t, nil)
			defer c.Close()
			check := func(what string, set imap.NumSet, wantCount int) {
				t.Helper()
				opts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{
					{Peek: true}, {Peek: true, Specifier: imap.PartSpecifierText},
				}}
				msgs, err := c.Fetch(set, opts).Collect()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if len(msgs) != wantCount {
					t.Fatalf("%s: %d messages, want %d", what, len(msgs), wantCount)
				}
				for _, m := range msgs {
					want, ok := bodies[uint32(m.UID)]
					if !ok {
						t.Fatalf("%s: unknown UID %d", what, m.UID)
					}
					whole := m.FindBodySection(opts.BodySection[0])
					text := m.FindBodySection(opts.BodySection[1])
					if string(whole) != want {
						t.Fatalf("%s: UID %d: BODY[] of %d bytes differs from the %d delivered", what, m.UID, len(whole), len(want))
					}
					_, wantText, _ := strings.Cut(want, "\r\n\r\n")
					if string(text) != wantText {
						t.Fatalf("%s: UID %d: BODY[TEXT] differs", what, m.UID)
					}
				}
			}
			check("1:*", imap.SeqSet{{Start: 1, Stop: 0}}, n)
			check("scattered", imap.SeqSetNum(150, 3, 72, 71, 1, 2, 140, 5), 8)
			uids := env.uids(t, inboxID(t, env))
			check("UID set", imap.UIDSetNum(imap.UID(uids[69]), imap.UID(uids[70]), imap.UID(uids[71]), imap.UID(uids[149])), 4)

			// Another session expunges the first ten: this one, not told
			// yet, still reads them (their bodies stay for a grace time).
			other := env.selectInbox(t, nil)
			defer other.Close()
			if err := other.Store(imap.SeqSet{{Start: 1, Stop: 10}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := other.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			check("1:20 after an expunge elsewhere", imap.SeqSet{{Start: 1, Stop: 20}}, 20)
		})
	}
}

// inboxID returns the id of the test user's INBOX.
func inboxID(t testing.TB, env *testEnv) int64 {
	t.Helper()
	mb, err := env.store.GetMailbox(t.Context(), env.user.ID, mailstore.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return mb.ID
}
