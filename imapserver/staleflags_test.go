package imapserver

import (
	"strconv"
	"strings"
	"testing"
)

// A change another session made to a message is reported with the flags
// the message has now: when this session changed the same message since,
// a FETCH of the older flags would make the client forget its own change
// (RFC 9051 §7.5.2: FETCH FLAGS are the message's flags). Found by
// replaying imaptest's expunge2 script: the client got its STORE's FETCH
// (\Deleted \Seen) and then the other session's older (\Seen).
func TestFlagChangesNeverStale(t *testing.T) {
	for _, silent := range []bool{false, true} {
		name := map[bool]string{false: "FLAGS", true: "FLAGS.SILENT"}[silent]
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, nil)
			uid := env.deliver(t, testMessage("one", "bob@example.org", "x"))
			a := dialRaw(t, env.addr)
			a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
			a.cmd("s", "SELECT INBOX")
			b := dialRaw(t, env.addr)
			b.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
			b.cmd("s", "SELECT INBOX")

			if _, tagged := b.cmd("b1", "UID STORE "+strconv.Itoa(int(uid))+` FLAGS (\Seen)`); !strings.HasPrefix(tagged, "b1 OK") {
				t.Fatalf("B's STORE: %s", tagged)
			}
			item := "+FLAGS"
			if silent {
				item = "+FLAGS.SILENT"
			}
			untagged, tagged := a.cmd("a1", "STORE 1 "+item+` (\Deleted)`)
			if !strings.HasPrefix(tagged, "a1 OK") {
				t.Fatalf("A's STORE: %s", tagged)
			}
			last := ""
			for _, l := range untagged {
				if strings.HasPrefix(l, "* 1 FETCH ") {
					last = l
				}
			}
			if last == "" {
				t.Fatalf("A was not told the flags of message 1 (B set \\Seen, A \\Deleted): %q", untagged)
			}
			if !strings.Contains(last, `\Deleted`) || !strings.Contains(last, `\Seen`) {
				t.Fatalf("the last FETCH A got says %q, want both \\Deleted and \\Seen; all: %q", last, untagged)
			}
		})
	}
}
