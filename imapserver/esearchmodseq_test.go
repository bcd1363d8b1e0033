package imapserver

import (
	"regexp"
	"strings"
	"testing"
)

// With MIN or MAX alone, ESEARCH's MODSEQ is that of the messages
// returned, not of every match (RFC 4731 §3.2, RFC 7162 §3.1.5). Replays
// imaptest's esearch-condstore script.
func TestESearchModSeqOfReturned(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 4; i++ {
		env.deliver(t, testMessage("m", "bob@example.org", "x"))
	}
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	r.cmd("f", "FETCH 1 MODSEQ") // a CONDSTORE enabling command, as the script's
	modSeq := map[int]string{}
	for _, n := range []string{"1", "3", "2", "4"} {
		untagged, _ := r.cmd("st", "STORE "+n+` +FLAGS (\Seen)`)
		m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(strings.Join(untagged, " "))
		if m == nil {
			t.Fatalf("STORE %s: %q", n, untagged)
		}
		modSeq[int(n[0]-'0')] = m[1]
	}
	for _, tc := range []struct{ ret, set, want string }{
		{"(MIN)", "1:3", "MIN 1 MODSEQ " + modSeq[1]},
		{"(MAX)", "1:3", "MAX 3 MODSEQ " + modSeq[3]},
		{"()", "1:3", "ALL 1:3 MODSEQ " + modSeq[2]},
		{"(MIN MAX)", "2:3", "MIN 2 MAX 3 MODSEQ " + modSeq[2]},
		{"(COUNT)", "1:3", "COUNT 3 MODSEQ " + modSeq[2]},
	} {
		untagged, tagged := r.cmd("e", `SEARCH RETURN `+tc.ret+` `+tc.set+` MODSEQ "/flags/\\seen" all 1`)
		want := `* ESEARCH (TAG "e") ` + tc.want
		if !strings.HasPrefix(tagged, "e OK") || len(untagged) != 1 || untagged[0] != want {
			t.Errorf("RETURN %s %s: %q %s, want %s", tc.ret, tc.set, untagged, tagged, want)
		}
	}
}
