package imapserver

import (
	"testing"
)

// A SEARCH with RETURN (UPDATE) stays live: another session's STORE,
// APPEND and EXPUNGE change the result, and the client is told with
// ADDTO and REMOVEFROM at the next command (REMOVEFROM before the
// EXPUNGE, whose numbers it uses), until CANCELUPDATE (RFC 5267 §4).
func TestContextSearchUpdates(t *testing.T) {
	env := newTestEnv(t, nil)
	a, b := twoInInbox(t, env, "one", "two", "three")
	runScript(t, a, []exchange{
		{`c1 UID SEARCH RETURN (COUNT UPDATE) UNSEEN`, []string{`\* ESEARCH \(TAG "c1"\) UID COUNT 3`, `c1 OK .*`}},
		{`c2 SEARCH RETURN (UPDATE) FLAGGED`, []string{`\* ESEARCH \(TAG "c2"\)`, `c2 OK .*`}},
	})
	b.cmd("b1", `STORE 2 +FLAGS (\Seen \Flagged)`)
	runScript(t, a, []exchange{{"a1 NOOP", []string{
		`\* 2 FETCH \(UID 2 FLAGS \(\\Flagged \\Seen\)\)`,
		`\* ESEARCH \(TAG "c1"\) UID REMOVEFROM \(0 2\)`,
		`\* ESEARCH \(TAG "c2"\) ADDTO \(0 2\)`,
		`a1 OK .*`,
	}}})
	msg := testMessage("four", "bob@example.org", "x")
	b.cmd("b2", "APPEND INBOX {"+itoa32(uint32(len(msg)))+"+}\r\n"+msg)
	runScript(t, a, []exchange{{"a2 NOOP", []string{
		`\* 4 EXISTS`,
		`\* ESEARCH \(TAG "c1"\) UID ADDTO \(0 4\)`,
		`a2 OK .*`,
	}}})
	b.cmd("b3", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.cmd("b4", `EXPUNGE`)
	runScript(t, a, []exchange{
		// Under a FETCH the expunge (and so the result's change) waits;
		// the message is still readable (RFC 2180 §4.1.1).
		{"a3 FETCH 1 UID", []string{`\* 1 FETCH \(UID 1\)`, `\* 1 FETCH \(UID 1 FLAGS \(\\Deleted\)\)`, `a3 OK .*`}},
		{"a4 NOOP", []string{`\* ESEARCH \(TAG "c1"\) UID REMOVEFROM \(0 1\)`, `\* 1 EXPUNGE`, `a4 OK .*`}},
		{`a5 CANCELUPDATE "c1" "c2"`, []string{`a5 OK .*`}},
		{`a6 CANCELUPDATE "c1"`, []string{`a6 BAD .*`}},
	})
	b.cmd("b5", `STORE 1 -FLAGS (\Seen)`)
	runScript(t, a, []exchange{{"a7 NOOP", []string{`\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\)\)`, `a7 OK .*`}}})

	// With message numbers, an expunged message leaves the result under
	// its number before the EXPUNGE.
	runScript(t, a, []exchange{
		{`c3 SEARCH RETURN (CONTEXT UPDATE) FLAGGED`, []string{`\* ESEARCH \(TAG "c3"\) ALL 1`, `c3 OK .*`}},
		{`c3 SEARCH RETURN (UPDATE) ALL`, []string{`c3 BAD .*in use.*`}},
	})
	b.cmd("b6", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.cmd("b7", `EXPUNGE`)
	runScript(t, a, []exchange{{"a8 NOOP", []string{`\* 1 FETCH \(UID 2 FLAGS \(\\Deleted \\Flagged\)\)`, `\* ESEARCH \(TAG "c3"\) REMOVEFROM \(0 1\)`, `\* 1 EXPUNGE`, `a8 OK .*`}}})
}

// A SORT with RETURN (UPDATE) reports where new messages go in the sort
// order and where removed ones were (CONTEXT=SORT).
func TestContextSortUpdates(t *testing.T) {
	env := newTestEnv(t, nil)
	a, b := twoInInbox(t, env, "bravo", "delta", "alpha")
	runScript(t, a, []exchange{
		{`s1 UID SORT RETURN (ALL UPDATE) (SUBJECT) UTF-8 ALL`, []string{`\* ESEARCH \(TAG "s1"\) UID ALL 3,1:2`, `s1 OK .*`}},
		{`s2 SORT RETURN (MIN UPDATE) (REVERSE SUBJECT) UTF-8 UNDELETED`, []string{`\* ESEARCH \(TAG "s2"\) MIN 2`, `s2 OK .*`}},
	})
	env.deliver(t, testMessage("charlie", "bob@example.org", "x"))
	b.cmd("b1", `STORE 2 +FLAGS (\Deleted)`)
	runScript(t, a, []exchange{{"a1 NOOP", []string{
		`\* 4 EXISTS`,
		`\* 2 FETCH \(UID 2 FLAGS \(\\Deleted\)\)`,
		`\* ESEARCH \(TAG "s1"\) UID ADDTO \(3 4\)`,
		`\* ESEARCH \(TAG "s2"\) REMOVEFROM \(1 2\) ADDTO \(1 4\)`,
		`a1 OK .*`,
	}}})
	b.cmd("b2", `EXPUNGE`)
	runScript(t, a, []exchange{{"a2 NOOP", []string{
		`\* ESEARCH \(TAG "s1"\) UID REMOVEFROM \(4 2\)`,
		`\* 2 EXPUNGE`,
		`a2 OK .*`,
	}}})
}

// PARTIAL (RFC 5267 §4.4) pages through a result, of SEARCH and SORT; a
// range beyond the result is NIL.
func TestContextPartial(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, s := range []string{"e", "d", "c", "b", "a"} {
		env.deliver(t, testMessage(s, "bob@example.org", "x"))
	}
	a := oneInInbox(t, env)
	runScript(t, a, []exchange{
		{`p1 UID SEARCH RETURN (PARTIAL 1:2) ALL`, []string{`\* ESEARCH \(TAG "p1"\) UID PARTIAL \(1:2 1:2\)`, `p1 OK .*`}},
		{`p2 UID SEARCH RETURN (PARTIAL 3:4 COUNT) ALL`, []string{`\* ESEARCH \(TAG "p2"\) UID PARTIAL \(3:4 3:4\) COUNT 5`, `p2 OK .*`}},
		{`p3 SEARCH RETURN (PARTIAL 4:10) ALL`, []string{`\* ESEARCH \(TAG "p3"\) PARTIAL \(4:10 4:5\)`, `p3 OK .*`}},
		{`p4 SEARCH RETURN (PARTIAL 6:10) ALL`, []string{`\* ESEARCH \(TAG "p4"\) PARTIAL \(6:10 NIL\)`, `p4 OK .*`}},
		{`p5 UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL`, []string{`\* ESEARCH \(TAG "p5"\) UID PARTIAL \(1:2 5,4\)`, `p5 OK .*`}},
		{`p6 SEARCH RETURN (PARTIAL 0:2) ALL`, []string{`p6 BAD .*`}},
		{`p7 SEARCH RETURN (PARTIAL 2) ALL`, []string{`p7 BAD .*`}},
		{`p8 SEARCH RETURN (PARTIAL 1:2 ALL) ALL`, []string{`p8 BAD .*PARTIAL.*`}},
		{`p9 SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL`, []string{`p9 BAD .*PARTIAL.*`}},
		{`p10 UID SEARCH RETURN (PARTIAL 9:8) ALL`, []string{`\* ESEARCH \(TAG "p10"\) UID PARTIAL \(8:9 NIL\)`, `p10 OK .*`}},
	})
}

// Beyond maxSearchContexts live results, a search is answered without
// updates and NOUPDATE (RFC 5267 §4.2).
func TestContextLimit(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	a := oneInInbox(t, env)
	for i := range maxSearchContexts {
		tag := "u" + itoa32(uint32(i))
		runScript(t, a, []exchange{{tag + ` UID SEARCH RETURN (COUNT UPDATE) ALL`, []string{`\* ESEARCH \(TAG "` + tag + `"\) UID COUNT 1`, tag + ` OK .*`}}})
	}
	runScript(t, a, []exchange{{`x UID SEARCH RETURN (COUNT UPDATE) ALL`, []string{`\* ESEARCH \(TAG "x"\) UID COUNT 1`, `\* NO \[NOUPDATE "x"\] .*`, `x OK .*`}}})
}

// With NOTIFY, updates of a live result come as the changes happen, with
// the fetch attributes UPDATE asked for on new messages (RFC 5465 §7).
func TestContextWithNotify(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	a := oneInInbox(t, env)
	runScript(t, a, []exchange{
		{`n NOTIFY SET (selected (MessageNew MessageExpunge))`, []string{`n OK .*`}},
		{`c1 UID SEARCH RETURN (COUNT UPDATE (UID RFC822.SIZE)) ALL`, []string{`\* ESEARCH \(TAG "c1"\) UID COUNT 1`, `c1 OK .*`}},
	})
	env.deliver(t, testMessage("two", "bob@example.org", "x"))
	expectLines(t, a, `\* 2 EXISTS`, `\* \d+ RECENT`, `\* 2 FETCH \(UID 2 RFC822\.SIZE \d+\)`, `\* ESEARCH \(TAG "c1"\) UID ADDTO \(0 2\)`)
}

// twoInInbox delivers messages with the subjects given and opens two
// IMAP4rev2 sessions with INBOX selected.
func twoInInbox(t *testing.T, env *testEnv, subjects ...string) (a, b *rawConn) {
	t.Helper()
	for _, s := range subjects {
		env.deliver(t, testMessage(s, "bob@example.org", "x"))
	}
	a, b = twoSessions(t, env)
	for _, r := range []*rawConn{a, b} {
		r.cmd("e", "ENABLE IMAP4rev2")
		r.cmd("s", "SELECT INBOX")
	}
	return a, b
}

// oneInInbox opens a session with INBOX selected.
func oneInInbox(t *testing.T, env *testEnv) *rawConn {
	t.Helper()
	a := dialRaw(t, env.addr)
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	a.cmd("s", "SELECT INBOX")
	return a
}
