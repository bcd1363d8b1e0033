package imapserver

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchmarkSort sorts a mailbox of 3,000 messages of 4 KiB by subject and
// sent date: SORT reads only the header of each message.
func BenchmarkSort(b *testing.B) {
	const messages = 3000
	env := newTestEnv(b, nil)
	fillInbox(b, env, messages, 4<<10)
	c := env.selectInbox(b, nil)
	opts := &imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := c.Sort(opts).Wait()
		if err != nil || len(got) != messages {
			b.Fatalf("SORT: %d results, %v", len(got), err)
		}
	}
}

// BenchmarkThreadReferences threads the same kind of mailbox with
// REFERENCES, over a raw socket.
func BenchmarkThreadReferences(b *testing.B) {
	const messages = 3000
	env := newTestEnv(b, nil)
	fillInbox(b, env, messages, 4<<10)
	r := dialRaw(b, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		untagged, tagged := r.cmd("t", "THREAD REFERENCES UTF-8 ALL")
		if !strings.HasPrefix(tagged, "t OK") || len(untagged) != 1 || !strings.HasPrefix(untagged[0], "* THREAD (") {
			b.Fatalf("THREAD: %q %q", untagged, tagged)
		}
	}
}
