package imapserver

import (
	"slices"
	"strings"
	"testing"
)

// LSUB returns the parent of a deeper subscribed mailbox, as \Noselect,
// only where a "%" keeps the pattern from reaching the mailbox itself
// (RFC 3501 §6.3.9). Replays imaptest's subscribe script, plus the case
// that brought an unsubscribed parent back for "*test".
func TestLsubPercentParents(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	for _, m := range []string{"box/", "box/test", "box/test2/", "box/test3/", "box/test2/test", "box/test3/test3"} {
		if _, tagged := r.cmd("c", "CREATE "+m); !strings.HasPrefix(tagged, "c OK") {
			t.Fatalf("CREATE %s: %s", m, tagged)
		}
	}
	for _, m := range []string{"box/test", "box/test2/test", "box/test3/test3"} {
		r.cmd("s", "SUBSCRIBE "+m)
	}
	lsub := func(pattern string) []string {
		untagged, tagged := r.cmd("ls", `LSUB "" `+pattern)
		if !strings.HasPrefix(tagged, "ls OK") {
			t.Fatalf("LSUB %s: %s", pattern, tagged)
		}
		slices.Sort(untagged)
		return untagged
	}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"box/%", []string{`* LSUB () "/" "box/test"`, `* LSUB (\Noselect) "/" "box/test2"`, `* LSUB (\Noselect) "/" "box/test3"`}},
		{"*test", []string{`* LSUB () "/" "box/test"`, `* LSUB () "/" "box/test2/test"`}},
		{"box/*", []string{`* LSUB () "/" "box/test"`, `* LSUB () "/" "box/test2/test"`, `* LSUB () "/" "box/test3/test3"`}},
		{"b%", []string{`* LSUB (\Noselect) "/" "box"`}},
	} {
		if got := lsub(tc.pattern); !slices.Equal(got, tc.want) {
			t.Errorf("LSUB %q:\n got %q\nwant %q", tc.pattern, got, tc.want)
		}
	}
}
