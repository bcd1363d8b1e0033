package imapserver

import (
	"regexp"
	"strings"
	"testing"
)

// expectLines reads response lines that arrive without a command until
// each pattern (a regular expression for the whole line) matched one, in
// order; any other line fails the test.
func expectLines(t *testing.T, r *rawConn, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		l := r.line()
		if !regexp.MustCompile("^(?:" + p + ")$").MatchString(l) {
			t.Fatalf("got %q, want %s", l, p)
		}
	}
}

// quiet checks that nothing arrived unasked: a NOOP gets only its OK.
func quiet(t *testing.T, r *rawConn, tag string) {
	t.Helper()
	untagged, tagged := r.cmd(tag, "NOOP")
	if len(untagged) > 0 || !strings.HasPrefix(tagged, tag+" OK") {
		t.Fatalf("NOOP after quiet: %q then %q", untagged, tagged)
	}
}

// A NOTIFY client hears of changes in other mailboxes (STATUS), of new
// messages, flag changes and expunges in the selected one (EXISTS, FETCH
// with the attributes asked for, EXPUNGE), of mailbox renames (LIST with
// OLDNAME), creations, deletions, subscriptions and METADATA: all made by
// another session or by delivery, all between commands, without IDLE.
func TestNotifyAcrossMailboxes(t *testing.T) {
	env := newTestEnv(t, nil)
	a, b := twoInInbox(t, env, "one")
	runScript(t, a, []exchange{{
		`n1 NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge FlagChange)) ` +
			`(subtree (Archive Lists) (MessageNew MessageExpunge MailboxName SubscriptionChange MailboxMetadataChange)) ` +
			`(mailboxes Trash (ServerMetadataChange))`,
		[]string{`\* STATUS "Archive" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)`, `n1 OK .*`},
	}})

	// Delivery into another watched mailbox: STATUS, unasked.
	env.deliverTo(t, "Archive", testMessage("two", "bob@example.org", "x"))
	expectLines(t, a, `\* STATUS "Archive" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)

	// Delivery into the selected mailbox: EXISTS, then the FETCH asked for.
	env.deliver(t, testMessage("three", "bob@example.org", "x"))
	expectLines(t, a, `\* 2 EXISTS`, `\* 2 FETCH \(UID 2 BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{18\}`, `Subject: three`, ``, `\)`)

	// Another session's flag change and expunge arrive between commands.
	runScript(t, b, []exchange{{"b1 STORE 1 +FLAGS (\\Deleted)", []string{`\* 1 FETCH \(FLAGS \(\\Deleted\)\)`, `\* 2 EXISTS`, `b1 OK .*`}}})
	expectLines(t, a, `\* 1 FETCH \(UID 1 FLAGS \(\\Deleted\)\)`)
	runScript(t, b, []exchange{{"b2 EXPUNGE", []string{`\* 1 EXPUNGE`, `b2 OK .*`}}})
	expectLines(t, a, `\* 1 EXPUNGE`)

	// Mailbox names: rename, create (with the parent), subscriptions,
	// deletion.
	// RENAME creates the missing superior Lists (RFC 3501 §6.3.5): both
	// are told.
	b.cmd("b3", "RENAME Archive Lists/Old")
	expectLines(t, a, `\* LIST \(\\HasChildren\) "/" "Lists"`,
		`\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Lists/Old" \("OLDNAME" \("Archive"\)\)`)
	b.cmd("b4", "SUBSCRIBE Lists/Ghost")
	expectLines(t, a, `\* LIST \(\\NonExistent \\Subscribed\) "/" "Lists/Ghost"`)
	b.cmd("b5", "UNSUBSCRIBE Lists/Ghost")
	expectLines(t, a, `\* LIST \(\\NonExistent\) "/" "Lists/Ghost"`)
	b.cmd("b6", "CREATE Lists/New/Deep")
	// (CREATE makes the parent in its own step: the first report may
	// come before the child exists.)
	expectLines(t, a, `\* LIST \(\\Has(No)?Children\) "/" "Lists/New"`, `\* LIST \(\\HasNoChildren\) "/" "Lists/New/Deep"`)
	b.cmd("b7", "DELETE Lists/New/Deep")
	expectLines(t, a, `\* LIST \(\\NonExistent\) "/" "Lists/New/Deep"`)

	// METADATA of a watched mailbox and of the server.
	b.cmd("b8", `SETMETADATA Lists/Old (/private/comment "hi")`)
	expectLines(t, a, `\* METADATA "Lists/Old" "/private/comment"`)
	if _, tagged := b.cmd("b9", `SETMETADATA "" (/private/vendor/x "x")`); !strings.HasPrefix(tagged, "b9 OK") {
		t.Fatal(tagged)
	}
	expectLines(t, a, `\* METADATA "" "/private/vendor/x"`)

	// A mailbox outside the filters stays quiet; so do the session's own
	// changes.
	env.deliverTo(t, "Junk", testMessage("four", "bob@example.org", "x"))
	b.cmd("b10", "CREATE Elsewhere")
	runScript(t, a, []exchange{{"a1 CREATE Lists/Mine", []string{`a1 OK .*`}}})
	quiet(t, a, "a2")

	// NOTIFY NONE ends it all.
	runScript(t, a, []exchange{{"a3 NOTIFY NONE", []string{`a3 OK .*`}}})
	env.deliverTo(t, "Lists/Old", testMessage("five", "bob@example.org", "x"))
	b.cmd("b11", "RENAME Lists/Old Lists/Older")
	quiet(t, a, "a4")
}

// With selected-delayed, expunges wait for a command that may report them
// while new messages are told at once; a mailbox watched by name before
// it exists is reported once created.
func TestNotifySelectedDelayedAndFutureMailbox(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliver(t, testMessage("two", "bob@example.org", "x"))
	a, b := twoSessions(t, env)
	a.cmd("s", "SELECT INBOX")
	b.cmd("s", "SELECT INBOX")
	runScript(t, a, []exchange{{"n1 NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (mailboxes Later (MessageNew MessageExpunge MailboxName))",
		[]string{`n1 OK .*`}}})
	b.cmd("b1", "STORE 1 +FLAGS.SILENT (\\Deleted)")
	b.cmd("b2", "EXPUNGE")
	env.deliver(t, testMessage("three", "bob@example.org", "x"))
	// The expunge is held: the new message is number 3 for the client.
	expectLines(t, a, `\* 3 EXISTS`, `\* \d+ RECENT`)
	// Flag changes were not asked for: they wait for a command too.
	runScript(t, a, []exchange{{"a1 NOOP", []string{`\* 1 FETCH \(UID 1 FLAGS \(\\Deleted \\Recent\)\)`, `\* 1 EXPUNGE`, `a1 OK .*`}}})

	b.cmd("b3", "CREATE Later")
	expectLines(t, a, `\* LIST \(\\HasNoChildren\) "/" "Later"`)
	env.deliverTo(t, "Later", testMessage("four", "bob@example.org", "x"))
	expectLines(t, a, `\* STATUS "Later" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
}

// IDLE reports the same NOTIFY events.
func TestNotifyDuringIdle(t *testing.T) {
	env := newTestEnv(t, nil)
	a := dialRaw(t, env.addr)
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	a.cmd("n", "NOTIFY SET (personal (MessageNew MessageExpunge))")
	runScript(t, a, []exchange{{"i1 IDLE", []string{`\+ .*`}}})
	env.deliverTo(t, "Sent", testMessage("one", "bob@example.org", "x"))
	expectLines(t, a, `\* STATUS "Sent" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	a.send("DONE")
	expectLines(t, a, `i1 OK .*`)
}

// A client that does not read its notifications while the changes pile
// up gets NOTIFICATIONOVERFLOW, and NOTIFY is off: as if NOTIFY NONE.
func TestNotifyOverflow(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.notifyQueue = 3 })
	a := dialRaw(t, env.addr)
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	a.cmd("n", "NOTIFY SET (personal (MessageNew MessageExpunge))")
	// A command in progress (APPEND waiting for its literal) holds the
	// notifications back while the changes pile up.
	runScript(t, a, []exchange{{"a1 APPEND Drafts {5}", []string{`\+ .*`}}})
	for range 5 {
		env.deliverTo(t, "Archive", testMessage("more", "bob@example.org", "x"))
	}
	a.send("hello")
	expectLines(t, a, `\* OK \[NOTIFICATIONOVERFLOW\] .*`, `a1 OK .*`)
	env.deliverTo(t, "Archive", testMessage("after", "bob@example.org", "x"))
	quiet(t, a, "a2")
}

// NOTIFY's errors: BAD for what the grammar or RFC 5465 §5 and §6.1
// forbid, NO [BADEVENT] listing the supported events for an unsupported
// one; the session goes on.
func TestNotifyErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	a := dialRaw(t, env.addr)
	runScript(t, a, []exchange{{"x0 NOTIFY NONE", []string{`x0 BAD .*`}}})
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	const supported = `\[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange\)\]`
	for i, c := range []struct{ cmd, want string }{
		{"NOTIFY", `BAD .*`},
		{"NOTIFY SET", `BAD .*`},
		{"NOTIFY BOGUS", `BAD .*`},
		{"NOTIFY NONE extra", `BAD .*`},
		{"NOTIFY SET (personal (MessageNew))", `BAD .*together.*`},
		{"NOTIFY SET (personal (MessageExpunge))", `BAD .*together.*`},
		{"NOTIFY SET (personal (FlagChange))", `BAD .*FlagChange.*`},
		{"NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))", `BAD .*selected.*`},
		{"NOTIFY SET (selected (MailboxName))", `BAD .*only message events.*`},
		{"NOTIFY SET (selected NONE) (selected-delayed NONE)", `BAD .*twice.*`},
		{"NOTIFY SET (bogus (MessageNew MessageExpunge))", `BAD .*filter.*`},
		{"NOTIFY SET (personal ())", `BAD .*`},
		{"NOTIFY SET (subtree (MessageNew MessageExpunge))", `BAD .*`},
		{"NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))", `NO ` + supported + ` .*`},
		{"NOTIFY SET (personal (VendorEvent))", `NO ` + supported + ` .*`},
		{"NOTIFY SET (personal (MessageNew (BODY[ MessageExpunge))", `BAD .*`},
		{"NOTIFY SET STATUS (personal NONE)", `OK .*`},
		{"notify set (SELECTED (messagenew (uid flags) messageexpunge flagchange)) (Subtree INBOX (MailboxName))", `OK .*`},
	} {
		tag := "t" + itoa32(uint32(i))
		runScript(t, a, []exchange{{tag + " " + c.cmd, []string{tag + " " + c.want}}})
	}
	runScript(t, a, []exchange{{"z NOOP", []string{`z OK .*`}}})
}

// Changes made while a command runs are reported at its end, together: a
// mailbox created, subscribed and renamed meanwhile is one new mailbox,
// subscribed.
func TestNotifyHeldDuringCommand(t *testing.T) {
	env := newTestEnv(t, nil)
	a, b := twoSessions(t, env)
	a.cmd("n", "NOTIFY SET (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))")
	runScript(t, a, []exchange{{"a1 APPEND Drafts {5}", []string{`\+ .*`}}})
	b.cmd("b1", "CREATE X")
	b.cmd("b2", "SUBSCRIBE X")
	b.cmd("b3", "RENAME X Y")
	a.send("hello")
	expectLines(t, a, `\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Y"`, `\* LIST \(\\Subscribed\) "/" "Y"`, `a1 OK .*`)
	quiet(t, a, "a2")
}

// The FETCH asked for with MessageNew comes with the EXISTS also when the
// end of a command reports the new message.
func TestNotifyFetchAtCommandEnd(t *testing.T) {
	env := newTestEnv(t, nil)
	a := oneInInbox(t, env)
	a.cmd("e", "ENABLE IMAP4rev2")
	a.cmd("n", "NOTIFY SET (selected (MessageNew (UID) MessageExpunge))")
	runScript(t, a, []exchange{{"a1 APPEND Drafts {5}", []string{`\+ .*`}}})
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	a.send("hello")
	expectLines(t, a, `\* 1 EXISTS`, `\* 1 FETCH \(UID 1\)`, `a1 OK .*`)
}

// With QRESYNC the selected mailbox's expunges come as VANISHED; with
// CONDSTORE a flag change in another mailbox gives its STATUS with
// HIGHESTMODSEQ (RFC 5465 §5.1, §5.3).
func TestNotifyQresync(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliverTo(t, "Archive", testMessage("two", "bob@example.org", "x"))
	a, b := twoSessions(t, env)
	a.cmd("e", "ENABLE QRESYNC")
	a.cmd("s", "SELECT INBOX")
	runScript(t, a, []exchange{{"n NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes Archive (MessageNew MessageExpunge FlagChange))", []string{`n OK .*`}}})
	b.cmd("s", "SELECT INBOX")
	b.cmd("b1", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	expectLines(t, a, `\* 1 FETCH \(UID 1 FLAGS \(\\Deleted \\Recent\) MODSEQ \(\d+\)\)`)
	b.cmd("b2", "EXPUNGE")
	expectLines(t, a, `\* VANISHED 1`)
	b.cmd("s2", "SELECT Archive")
	b.cmd("b3", `STORE 1 +FLAGS.SILENT (\Seen)`)
	expectLines(t, a, `\* STATUS "Archive" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)`)
}

// Of the mailbox changes reported together, those the session made itself
// are left out, even when another session's come in the same batch.
func TestNotifyOwnChangesInMixedBatch(t *testing.T) {
	env := newTestEnv(t, nil)
	a, b := twoSessions(t, env)
	a.cmd("n", "NOTIFY SET (subtree Lists (MailboxName SubscriptionChange))")
	// CREATE waits for its literal while the other session creates.
	runScript(t, a, []exchange{{"a1 CREATE {10}", []string{`\+ .*`}}})
	b.cmd("b1", "CREATE Lists/B")
	b.cmd("b2", "SUBSCRIBE Lists/B")
	a.send("Lists/Mine")
	expectLines(t, a, `\* LIST \(\\HasChildren\) "/" "Lists"`, `\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Lists/B"`,
		`\* LIST \(\\Subscribed\) "/" "Lists/B"`, `a1 OK .*`)
	runScript(t, a, []exchange{{"a2 SUBSCRIBE Lists/Mine", []string{`a2 OK .*`}}})
	quiet(t, a, "a3")
}
