package imapserver

import (
	"strings"
	"testing"
)

// NOTIFY SET STATUS sends a STATUS for each watched mailbox; where
// FlagChange is asked for, it holds HIGHESTMODSEQ even if the client never
// enabled CONDSTORE (RFC 5465 §3). Replays imaptest's notify script.
func TestNotifyStatusHighestModSeq(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("c", "CREATE box2")
	if _, tagged := r.cmd("a", "APPEND box2 {11+}\r\nSubject: x\r\n"); !strings.HasPrefix(tagged, "a OK") {
		t.Fatalf("APPEND: %s", tagged)
	}
	for _, tc := range []struct {
		cmd, want string
	}{
		{"NOTIFY SET STATUS (mailboxes box2 (MessageNew MessageExpunge))", "no HIGHESTMODSEQ"},
		{"NOTIFY SET STATUS (mailboxes box2 (MessageNew MessageExpunge FlagChange))", "HIGHESTMODSEQ"},
		{"NOTIFY SET (mailboxes box2 (MessageNew MessageExpunge FlagChange))", "no STATUS"},
	} {
		untagged, tagged := r.cmd("n", tc.cmd)
		if !strings.HasPrefix(tagged, "n OK") {
			t.Fatalf("%s: %s", tc.cmd, tagged)
		}
		status := ""
		for _, l := range untagged {
			if strings.HasPrefix(l, `* STATUS "box2" (`) || strings.HasPrefix(l, "* STATUS box2 (") {
				status = l
			}
		}
		switch tc.want {
		case "no STATUS":
			if status != "" {
				t.Errorf("%s: got %q, want no STATUS", tc.cmd, status)
			}
		case "HIGHESTMODSEQ", "no HIGHESTMODSEQ":
			if status == "" || !strings.Contains(status, "MESSAGES 1") || !strings.Contains(status, "UIDNEXT 2") || !strings.Contains(status, "UIDVALIDITY ") {
				t.Fatalf("%s: STATUS %q, want MESSAGES, UIDNEXT and UIDVALIDITY; all: %q", tc.cmd, status, untagged)
			}
			if got := strings.Contains(status, "HIGHESTMODSEQ "); got != (tc.want == "HIGHESTMODSEQ") {
				t.Errorf("%s: STATUS %q, want %s", tc.cmd, status, tc.want)
			}
		}
	}
}
