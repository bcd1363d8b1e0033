package imapserver

import (
	"strings"
	"testing"
)

// ENVELOPE carries the Date header as the message wrote it and the source
// route of an address (RFC 9051 §7.5.2 and §9: env-date is the header's
// string, addr-adl the at-domain-list). Found by replaying imaptest's
// fetch-envelope script, whose messages are taken here as it has them.
func TestEnvelopeDateAndRoute(t *testing.T) {
	env := newTestEnv(t, nil)
	// 1 Feb 2007 was a Thursday: the header's "Sat" must come back as is.
	env.deliver(t, "Date: Sat, 01 Feb 2007 01:02:03 +0200\r\nFrom: <@route:user@domain>\r\nIn-Reply-To: <reply@to.id>\r\n\r\nbody\r\n")
	env.deliver(t, "Date: Sat, 01 Feb 2007 01:02:03 +0200\r\nFrom: user@domain (Real Name)\r\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n\r\nbody\r\n")
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	untagged, tagged := r.cmd("f", "FETCH 1:2 ENVELOPE")
	if !strings.HasPrefix(tagged, "f OK") || len(untagged) != 2 {
		t.Fatalf("FETCH: %q %s", untagged, tagged)
	}
	want := []string{
		`* 1 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) NIL NIL NIL "<reply@to.id>" NIL))`,
		`* 2 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) NIL NIL NIL NIL))`,
	}
	for i := range want {
		if untagged[i] != want[i] {
			t.Errorf("message %d:\n got %s\nwant %s", i+1, untagged[i], want[i])
		}
	}
}
