package imapserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
)

// exchange is one step of a conformance script: a command sent and the
// complete list of response lines it must get, each a regular expression
// matched against the whole line, in order.
type exchange struct {
	send string
	want []string
}

// runScript plays a script on a raw connection.
func runScript(t *testing.T, r *rawConn, script []exchange) {
	t.Helper()
	for _, ex := range script {
		tag, _, _ := strings.Cut(ex.send, " ")
		r.send(ex.send)
		var got []string
		for {
			l := r.line()
			got = append(got, l)
			if strings.HasPrefix(l, tag+" ") || strings.HasPrefix(l, "+") && len(got) == len(ex.want) {
				break
			}
			if len(got) > len(ex.want)+20 {
				break
			}
		}
		ok := len(got) == len(ex.want)
		for i := 0; ok && i < len(got); i++ {
			ok = regexp.MustCompile("^(?:" + ex.want[i] + ")$").MatchString(got[i])
		}
		if !ok {
			t.Fatalf("C: %.200s\ngot:\n  %s\nwant:\n  %s", ex.send, strings.Join(got, "\n  "), strings.Join(ex.want, "\n  "))
		}
	}
}

// Client errors are BAD with a precise text, never NO [SERVERBUG], and the
// session goes on (issue 11 item 16).
func TestClientErrorsAreBad(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	bad := []string{
		"FETCH 0 FLAGS",
		"FETCH 4294967296 FLAGS",
		"FETCH 1:1:1 FLAGS",
		"SEARCH " + strings.Repeat("(", 1000) + "ALL" + strings.Repeat(")", 1000),
		"SEARCH " + strings.Repeat("OR 1 ", 12000) + "ALL",
		`CREATE "&AGQ-"`,
		`SELECT "&Jjo"`,
		"STORE 1 +FLAGS (\\Seen",
		"UID FETCH 1 BODY[FOO]",
		"SEARCH SINCE 31-Feb-2020",
		"FROB",
	}
	for i, cmd := range bad {
		tag := fmt.Sprintf("b%d", i)
		_, tagged := r.cmd(tag, cmd)
		if !strings.HasPrefix(tagged, tag+" BAD ") || strings.Contains(tagged, "SERVERBUG") || len(tagged) < len(tag)+10 {
			t.Errorf("%.60s: %q, want BAD with a reason", cmd, tagged)
		}
		if _, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") {
			t.Fatalf("NOOP after %.60s: %q", cmd, tagged)
		}
	}
}

// The RFC 9051 / RFC 3501 base commands and the extensions announced,
// line by line.
func TestConformanceScript(t *testing.T) {
	env := newTestEnv(t, nil)
	msg := "From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello there\r\n"
	r := dialRaw(t, env.addr)
	lit := fmt.Sprintf("{%d+}\r\n%s", len(msg), msg)
	runScript(t, r, []exchange{
		{"a0 ID NIL", []string{`\* ID \(.*\)`, `a0 OK .*`}},
		{"a1 CAPABILITY", []string{`\* CAPABILITY IMAP4rev1 IMAP4rev2 .*LITERAL\+.*AUTH=PLAIN`, `a1 OK .*`}},
		{"a2 SELECT INBOX", []string{`a2 BAD .*log in first`}},
		{"a3 LOGIN " + testAddr + " \"wrong\"", []string{`a3 NO \[AUTHENTICATIONFAILED\] .*`}},
		{"a4 LOGIN " + testAddr + " \"" + testPass + "\"", []string{`a4 OK \[CAPABILITY IMAP4rev1 .*\] .*`}},
		{"a5 NAMESPACE", []string{`\* NAMESPACE \(\(\"\" \"/\"\)\) \(\(\"Other Users/\" \"/\"\)\) NIL`, `a5 OK .*`}},
		{`a6 LIST "" ""`, []string{`\* LIST \(\\Noselect\) "/" ""`, `a6 OK .*`}},
		{"a7 CREATE Work/Projects", []string{`a7 OK .*`}},
		{`a8 LIST "" "Work*"`, []string{`\* LIST \(\\HasChildren\) "/" "Work"`, `\* LIST \(\\HasNoChildren\) "/" "Work/Projects"`, `a8 OK .*`}},
		{`a9 LIST "" "%"`, []string{`\* LIST \(\\HasNoChildren\) "/" INBOX`,
			`\* LIST \(\\HasNoChildren \\Archive\) "/" "Archive"`, `\* LIST \(\\HasNoChildren \\Drafts\) "/" "Drafts"`,
			`\* LIST \(\\HasNoChildren \\Junk\) "/" "Junk"`, `\* LIST \(\\HasNoChildren \\Sent\) "/" "Sent"`,
			`\* LIST \(\\HasNoChildren \\Trash\) "/" "Trash"`, `\* LIST \(\\HasChildren\) "/" "Work"`, `a9 OK .*`}},
		{`a10 CREATE "Entw&APw-rfe"`, []string{`a10 OK .*`}},
		{`a11 LIST "" "Entw*"`, []string{`\* LIST \(\\HasNoChildren\) "/" "Entw&APw-rfe"`, `a11 OK .*`}},
		{"a12 APPEND INBOX (\\Seen $Important) " + lit, []string{`a12 OK \[APPENDUID \d+ 1\] .*`}},
		{"a13 STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)", []string{fmt.Sprintf(`\* STATUS INBOX \(MESSAGES 1 UIDNEXT 2 UNSEEN 0 SIZE %d\)`, len(msg)), `a13 OK .*`}},
		{"a14 SELECT INBOX", []string{
			`\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Important\)`,
			`\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Important \\\*\)\] .*`,
			`\* 1 EXISTS`, `\* 1 RECENT`, `\* OK \[UIDVALIDITY \d+\] .*`, `\* OK \[UIDNEXT 2\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `a14 OK \[READ-WRITE\] .*`}},
		{"a15 FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)", []string{
			fmt.Sprintf(`\* 1 FETCH \(UID 1 FLAGS \(\$Important \\Seen \\Recent\) RFC822.SIZE %d ENVELOPE \(NIL "hello" \(\("Bob" NIL "bob" "example.org"\)\) \(\("Bob" NIL "bob" "example.org"\)\) \(\("Bob" NIL "bob" "example.org"\)\) \(\(NIL NIL "alice" "example.test"\)\) NIL NIL NIL "<m1@example.org>"\)\)`, len(msg)),
			`a15 OK .*`}},
		{"a16 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.5>)", []string{
			`\* 1 FETCH \(BODY\[HEADER.FIELDS \(Subject\)\] \{18\}`, `Subject: hello`, ``, ` BODY\[TEXT\]<0> \{5\}`, `Hello\)`, `a16 OK .*`}},
		{"a17 FETCH 1 (BINARY.PEEK[1]<6.5> BINARY.SIZE[1] BODYSTRUCTURE)", []string{
			`\* 1 FETCH \(BODYSTRUCTURE \("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 13 1 NIL NIL NIL NIL\) BINARY\[1\]<6> \{5\}`,
			`there BINARY.SIZE\[1\] 13\)`, `a17 OK .*`}},
		{"a18 STORE 1 -FLAGS (\\Seen)", []string{`\* 1 FETCH \(FLAGS \(\$Important \\Recent\)\)`, `a18 OK .*`}},
		{"a19 UID STORE 1 +FLAGS.SILENT (NewKeyword)", []string{
			`\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Important NewKeyword\)`,
			`\* OK \[PERMANENTFLAGS \(.* NewKeyword \\\*\)\] .*`, `a19 OK .*`}},
		{"a20 SEARCH UNSEEN FROM bob", []string{`\* SEARCH 1`, `a20 OK .*`}},
		{"a21 UID SEARCH RETURN (MIN COUNT SAVE) ALL", []string{`\* ESEARCH \(TAG "a21"\) UID MIN 1 COUNT 1`, `a21 OK .*`}},
		{"a22 UID COPY $ INBOX", []string{`\* 2 EXISTS`, `\* 2 RECENT`, `a22 OK \[COPYUID \d+ 1 2\] .*`}},
		{"a23 MOVE 2 Work", []string{`\* OK \[COPYUID \d+ 2 1\] .*`, `\* 2 EXPUNGE`, `a23 OK .*`}},
		{"a24 MOVE 1 INBOX", []string{`\* OK \[COPYUID \d+ 1 3\] .*`, `\* 2 EXISTS`, `\* 2 RECENT`, `\* 1 EXPUNGE`, `a24 OK .*`}},
		{"a25 STORE 1 +FLAGS (\\Deleted)", []string{`\* 1 FETCH \(FLAGS \(\$Important NewKeyword \\Deleted \\Recent\)\)`, `a25 OK .*`}},
		{"a26 EXPUNGE", []string{`\* 1 EXPUNGE`, `a26 OK .*`}},
		{"a27 RENAME Work Play", []string{`a27 OK .*`}},
		{"a28 STATUS Play/Projects (MESSAGES)", []string{`\* STATUS "Play/Projects" \(MESSAGES 0\)`, `a28 OK .*`}},
		{"a29 DELETE Play", []string{`a29 NO \[HASCHILDREN\] .*`}},
		{"a30 ENABLE UTF8=ACCEPT", []string{`\* ENABLED UTF8=ACCEPT`, `a30 OK .*`}},
		{`a31 LIST "" "Entw*"`, []string{`\* LIST \(\\HasNoChildren\) "/" "Entwürfe"`, `a31 OK .*`}},
		{"a31b APPEND INBOX UTF8 (~{" + fmt.Sprint(len("Subject: Grüße\r\n\r\nx\r\n")) + "+}\r\nSubject: Grüße\r\n\r\nx\r\n)", []string{`\* 1 EXISTS`, `\* 1 RECENT`, `a31b OK \[APPENDUID \d+ 4\] .*`}},
		{"a31c FETCH 1 ENVELOPE", []string{`\* 1 FETCH \(ENVELOPE \(NIL "Grüße" NIL NIL NIL NIL NIL NIL NIL NIL\)\)`, `a31c OK .*`}},
		{"a32 UNSELECT", []string{`a32 OK .*`}},
		{"a33 FETCH 1 FLAGS", []string{`a33 BAD .*select a mailbox first`}},
		{"a34 LOGOUT", []string{`\* BYE .*`, `a34 OK .*`}},
	})
}

// Two sessions see each other's changes at the points RFC 9051 §7 allows.
func TestTwoSessionsScript(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliver(t, testMessage("two", "bob@example.org", "x"))
	a, b := twoSessions(t, env)
	for _, r := range []*rawConn{a, b} {
		r.cmd("s", "SELECT INBOX")
	}
	runScript(t, b, []exchange{
		{"b1 STORE 1 +FLAGS (\\Flagged)", []string{`\* 1 FETCH \(FLAGS \(\\Flagged\)\)`, `b1 OK .*`}},
		{"b2 STORE 2 +FLAGS.SILENT (\\Deleted)", []string{`b2 OK .*`}},
		{"b3 EXPUNGE", []string{`\* 2 EXPUNGE`, `b3 OK .*`}},
	})
	env.deliver(t, testMessage("three", "bob@example.org", "x"))
	// A FETCH may not report the expunge (RFC 9051 §7.5.1) but tells of
	// the flag change and the new message; message 2, expunged, is still
	// answered (RFC 2180 §4.1.1).
	runScript(t, a, []exchange{
		{"a1 FETCH 2 UID", []string{`\* 2 FETCH \(UID 2\)`, `\* 1 FETCH \(UID 1 FLAGS \(\\Flagged \\Recent\)\)`, `\* 2 FETCH \(UID 2 FLAGS \(\\Deleted \\Recent\)\)`, `\* 3 EXISTS`, `\* 3 RECENT`, `a1 OK .*`}},
		{"a2 NOOP", []string{`\* 2 EXPUNGE`, `a2 OK .*`}},
		{"a3 FETCH 2 UID", []string{`\* 2 FETCH \(UID 3\)`, `a3 OK .*`}},
	})
	// IDLE reports a change as it happens.
	runScript(t, a, []exchange{{"a4 IDLE", []string{`\+ .*`}}})
	runScript(t, b, []exchange{{"b4 STORE 1 -FLAGS (\\Flagged)", []string{`\* 1 FETCH \(FLAGS \(\)\)`, `\* 2 EXISTS`, `\* 0 RECENT`, `b4 OK .*`}}})
	if l := a.line(); l != `* 1 FETCH (UID 1 FLAGS (\Recent))` {
		t.Fatalf("IDLE update %q", l)
	}
	a.send("DONE")
	if l := a.line(); !strings.HasPrefix(l, "a4 OK") {
		t.Fatalf("after DONE: %q", l)
	}
}

// twoSessions opens two raw connections logged in as the test user.
func twoSessions(t *testing.T, env *testEnv) (a, b *rawConn) {
	t.Helper()
	a, b = dialRaw(t, env.addr), dialRaw(t, env.addr)
	for _, r := range []*rawConn{a, b} {
		r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	}
	return a, b
}

// CHECK (RFC 3501 §6.4.1) works in the selected state like NOOP, reporting
// another session's expunge; mbsync sends it before expunging.
func TestCheckCommand(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliver(t, testMessage("two", "bob@example.org", "x"))
	a, b := twoSessions(t, env)
	runScript(t, a, []exchange{{"a1 CHECK", []string{`a1 BAD .+`}}})
	for _, r := range []*rawConn{a, b} {
		r.cmd("s", "SELECT INBOX")
	}
	runScript(t, b, []exchange{
		{"b1 STORE 1 +FLAGS.SILENT (\\Deleted)", []string{`b1 OK .*`}},
		{"b2 CHECK", []string{`b2 OK .*`}},
		{"b3 EXPUNGE", []string{`\* 1 EXPUNGE`, `b3 OK .*`}},
	})
	runScript(t, a, []exchange{{"a2 CHECK", []string{`\* 1 FETCH \(UID 1 FLAGS \(\\Deleted \\Recent\)\)`, `\* 1 EXPUNGE`, `a2 OK .*`}}})
}

// respCode returns the number in "[NAME n]" among lines.
func respCode(t *testing.T, lines []string, name string) string {
	t.Helper()
	re := regexp.MustCompile(`\[` + name + ` (\d+)\]`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s in %q", name, lines)
	return ""
}

// CONDSTORE and QRESYNC (RFC 7162): a client that comes back learns only
// what changed — the expunges of another session as VANISHED (EARLIER),
// the flag changes as FETCH with MODSEQ — and conditional STORE works.
func TestQresyncAfterOtherSessionsChanges(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 4; i++ {
		env.deliver(t, testMessage(fmt.Sprint("m", i), "bob@example.org", "x"))
	}
	a := dialRaw(t, env.addr)
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, a, []exchange{{"e ENABLE QRESYNC", []string{`\* ENABLED QRESYNC`, `e OK .*`}}})
	lines, tagged := a.cmd("s", "SELECT INBOX")
	if !strings.HasPrefix(tagged, "s OK") {
		t.Fatal(tagged)
	}
	uv, hm := respCode(t, lines, "UIDVALIDITY"), respCode(t, lines, "HIGHESTMODSEQ")
	hmNum, _ := strconv.Atoi(hm)
	hmNext := strconv.Itoa(hmNum + 1) // SEARCH MODSEQ n matches n and above
	a.cmd("o", "LOGOUT")

	b := dialRaw(t, env.addr)
	b.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, b, []exchange{
		{"s SELECT INBOX (CONDSTORE)", []string{`\* FLAGS .*`, `\* OK \[PERMANENTFLAGS .*`, `\* 4 EXISTS`, `\* 0 RECENT`,
			`\* OK \[UNSEEN 1\] .*`, `\* OK \[UIDVALIDITY \d+\] .*`, `\* OK \[UIDNEXT 5\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `\* OK \[HIGHESTMODSEQ \d+\] .*`, `s OK \[READ-WRITE\] .*`}},
		{"b1 STORE 2 +FLAGS (\\Flagged)", []string{`\* 2 FETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`, `b1 OK .*`}},
		{"b2 STORE 3 +FLAGS.SILENT (\\Deleted)", []string{`\* 3 FETCH \(MODSEQ \(\d+\)\)`, `b2 OK .*`}},
		{"b3 EXPUNGE", []string{`\* 3 EXPUNGE`, `b3 OK .*`}},
	})

	a = dialRaw(t, env.addr)
	a.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	a.cmd("e", "ENABLE QRESYNC")
	runScript(t, a, []exchange{
		{"s SELECT INBOX (QRESYNC (" + uv + " " + hm + " 1:4))", []string{`\* FLAGS .*`, `\* OK \[PERMANENTFLAGS .*`, `\* 3 EXISTS`, `\* 0 RECENT`,
			`\* OK \[UNSEEN 1\] .*`, `\* OK \[UIDVALIDITY ` + uv + `\] .*`, `\* OK \[UIDNEXT 5\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `\* OK \[HIGHESTMODSEQ \d+\] .*`,
			`\* VANISHED \(EARLIER\) 3`, `\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`, `s OK \[READ-WRITE\] .*`}},
		{"f UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + hm + " VANISHED)", []string{`\* VANISHED \(EARLIER\) 3`,
			`\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`, `f OK .*`}},
		{"c1 STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)", []string{`c1 OK \[MODIFIED 1\] .*`}},
		{"c2 SEARCH MODSEQ " + hmNext, []string{`\* SEARCH 2 \(MODSEQ \d+\)`, `c2 OK .*`}},
		{"c3 STATUS INBOX (HIGHESTMODSEQ MESSAGES)", []string{`\* STATUS INBOX \(HIGHESTMODSEQ \d+ MESSAGES 3\)`, `c3 OK .*`}},
	})
	// An expunge in another session reaches a QRESYNC client as VANISHED.
	runScript(t, b, []exchange{
		{"b4 UID STORE 4 +FLAGS.SILENT (\\Deleted)", []string{`\* 3 FETCH \(UID 4 MODSEQ \(\d+\)\)`, `b4 OK .*`}},
		{"b5 UID EXPUNGE 4", []string{`\* 3 EXPUNGE`, `b5 OK .*`}},
	})
	runScript(t, a, []exchange{{"n NOOP", []string{`\* 3 FETCH \(UID 4 FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)`, `\* VANISHED 4`, `n OK .*`}}})
}

// QUOTA (RFC 9208): the user's limits and usage, and APPEND over the
// quota refused with OVERQUOTA.
func TestQuotaScript(t *testing.T) {
	env := newTestEnv(t, nil)
	qb, qm := int64(10<<10), int64(2)
	if _, err := env.store.UpdateUser(context.Background(), testAddr, mailstore.UserUpdate{QuotaBytes: &qb, QuotaMessages: &qm}); err != nil {
		t.Fatal(err)
	}
	// No quota warning in the INBOX (mailstore's quota warnings): the
	// message counts below are the test's own.
	if _, err := env.store.UpdateDomain(context.Background(), testAddr[strings.IndexByte(testAddr, '@')+1:], mailstore.DomainUpdate{QuotaWarningPercents: &mailstore.Percents{}}); err != nil {
		t.Fatal(err)
	}
	msg := testMessage("one", "bob@example.org", "x")
	env.deliver(t, msg)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	lit := fmt.Sprintf("{%d+}\r\n%s", len(msg), msg)
	runScript(t, r, []exchange{
		{"q1 GETQUOTAROOT INBOX", []string{`\* QUOTAROOT INBOX ""`, `\* QUOTA "" \(STORAGE 1 10 MESSAGE 1 2\)`, `q1 OK .*`}},
		{`q2 GETQUOTA ""`, []string{`\* QUOTA "" \(STORAGE 1 10 MESSAGE 1 2\)`, `q2 OK .*`}},
		{`q3 GETQUOTA "other"`, []string{`q3 NO \[NONEXISTENT\] .*`}},
		{`q4 SETQUOTA "" (STORAGE 100)`, []string{`q4 NO \[NOPERM\] .*`}},
		{"q5 APPEND INBOX " + lit, []string{`q5 OK \[APPENDUID \d+ 2\] .*`}},
		{"q6 APPEND INBOX " + lit, []string{`q6 NO \[OVERQUOTA\] .*`}},
		{"q7 STATUS INBOX (MESSAGES DELETED-STORAGE)", []string{`\* STATUS INBOX \(MESSAGES 2 DELETED-STORAGE 0\)`, `q7 OK .*`}},
	})
}

// APPEND keeps the bytes it is given (bare LF, NUL in a binary part sent
// as literal8); BODY[] gives them back unchanged and BINARY[] with a NUL
// goes out as literal8 (RFC 3516).
func TestAppendExactBytesAndLiteral8(t *testing.T) {
	env := newTestEnv(t, nil)
	body := "ab\x00cd\nef\r\n"
	msg := "From: a@example.org\r\nSubject: bin\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: binary\r\n\r\n" + body
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r, []exchange{
		{fmt.Sprintf("a1 APPEND INBOX ~{%d+}\r\n%s", len(msg), msg), []string{`a1 OK \[APPENDUID \d+ 1\] .*`}},
		{fmt.Sprintf("a2 APPEND INBOX {%d+}\r\n%s", 3, "a\x00b"), []string{`a2 BAD .*`}},
	})
	r.cmd("s", "SELECT INBOX")
	readLiteral := func(cmd, prefix string) string {
		t.Helper()
		r.send("f " + cmd)
		l := r.line()
		m := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `\{(\d+)\}$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: %q, want %s{n}", cmd, l, prefix)
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			t.Fatal(err)
		}
		if l := r.line(); l != ")" {
			t.Fatalf("after the literal: %q", l)
		}
		if l := r.line(); !strings.HasPrefix(l, "f OK") {
			t.Fatalf("tagged: %q", l)
		}
		return string(buf)
	}
	if got := readLiteral("FETCH 1 BODY.PEEK[]", "* 1 FETCH (BODY[] "); got != msg {
		t.Errorf("BODY[] = %q, want the appended bytes %q", got, msg)
	}
	if got := readLiteral("FETCH 1 BINARY.PEEK[1]", "* 1 FETCH (BINARY[1] ~"); got != body {
		t.Errorf("BINARY[1] = %q, want %q", got, body)
	}
	if got := readLiteral("FETCH 1 BINARY.PEEK[1]<3.4>", "* 1 FETCH (BINARY[1]<3> "); got != "cd\ne" {
		t.Errorf("BINARY[1]<3.4> = %q", got)
	}
}

// LSUB's "%" rule (RFC 3501 §6.3.9) and LIST-EXTENDED's RECURSIVEMATCH
// with CHILDINFO (RFC 5258 §3.5).
func TestSubscriptionListsScript(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r, []exchange{
		{"c1 CREATE Fruit/Apple", []string{`c1 OK .*`}},
		{"c2 SUBSCRIBE Fruit/Apple", []string{`c2 OK .*`}},
		{"c3 SUBSCRIBE Gone", []string{`c3 OK .*`}},
		{`c4 LSUB "" "F%"`, []string{`\* LSUB \(\\Noselect\) "/" "Fruit"`, `c4 OK .*`}},
		{`c5 LSUB "" "Fruit/%"`, []string{`\* LSUB \(\) "/" "Fruit/Apple"`, `c5 OK .*`}},
		{`c6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "F%"`, []string{`\* LIST \(\\HasChildren\) "/" "Fruit" \("CHILDINFO" \("SUBSCRIBED"\)\)`, `c6 OK .*`}},
		{`c7 LIST (SUBSCRIBED) "" "G*"`, []string{`\* LIST \(\\NonExistent \\Subscribed\) "/" "Gone"`, `c7 OK .*`}},
		{`c8 LIST "" "Fruit*" RETURN (SUBSCRIBED CHILDREN)`, []string{`\* LIST \(\\HasChildren\) "/" "Fruit"`, `\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Fruit/Apple"`, `c8 OK .*`}},
		{`c9 LIST "" "Fruit/Apple" RETURN (STATUS (MESSAGES UIDNEXT))`, []string{`\* LIST \(\\HasNoChildren\) "/" "Fruit/Apple"`, `\* STATUS "Fruit/Apple" \(MESSAGES 0 UIDNEXT 1\)`, `c9 OK .*`}},
		{`c10 RENAME Fruit Veg`, []string{`c10 OK .*`}},
		{`c11 LSUB "" "Veg/*"`, []string{`\* LSUB \(\) "/" "Veg/Apple"`, `c11 OK .*`}},
	})
}

// \Recent per RFC 3501 §2.3.2: a new message is recent for the first
// session told about it; EXAMINE does not take it from others.
func TestRecentScript(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliver(t, testMessage("two", "bob@example.org", "x"))
	a, b, c := dialRaw(t, env.addr), dialRaw(t, env.addr), dialRaw(t, env.addr)
	for _, r := range []*rawConn{a, b, c} {
		r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	}
	runScript(t, c, []exchange{{"s1 STATUS INBOX (RECENT MESSAGES)", []string{`\* STATUS INBOX \(RECENT 2 MESSAGES 2\)`, `s1 OK .*`}}})
	runScript(t, a, []exchange{
		{"e EXAMINE INBOX", []string{`\* FLAGS .*`, `\* OK \[PERMANENTFLAGS \(\)\] .*`, `\* 2 EXISTS`, `\* 2 RECENT`, `\* OK \[UNSEEN 1\] .*`,
			`\* OK \[UIDVALIDITY \d+\] .*`, `\* OK \[UIDNEXT 3\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `e OK \[READ-ONLY\] .*`}},
		{"f SEARCH NEW", []string{`\* SEARCH 1 2`, `f OK .*`}},
	})
	runScript(t, b, []exchange{
		{"s SELECT INBOX", []string{`\* FLAGS .*`, `\* OK \[PERMANENTFLAGS .*`, `\* 2 EXISTS`, `\* 2 RECENT`, `\* OK \[UNSEEN 1\] .*`,
			`\* OK \[UIDVALIDITY \d+\] .*`, `\* OK \[UIDNEXT 3\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `s OK \[READ-WRITE\] .*`}},
		{"f FETCH 1 FLAGS", []string{`\* 1 FETCH \(FLAGS \(\\Recent\)\)`, `f OK .*`}},
	})
	runScript(t, c, []exchange{
		{"s2 STATUS INBOX (RECENT)", []string{`\* STATUS INBOX \(RECENT 0\)`, `s2 OK .*`}},
		{"s SELECT INBOX", []string{`\* FLAGS .*`, `\* OK \[PERMANENTFLAGS .*`, `\* 2 EXISTS`, `\* 0 RECENT`, `\* OK \[UNSEEN 1\] .*`,
			`\* OK \[UIDVALIDITY \d+\] .*`, `\* OK \[UIDNEXT 3\] .*`, `\* OK \[MAILBOXID \([^)]+\)\] .*`, `s OK \[READ-WRITE\] .*`}},
		{"f SEARCH RECENT", []string{`\* SEARCH`, `f OK .*`}},
		{"g SEARCH OLD", []string{`\* SEARCH 1 2`, `g OK .*`}},
	})
}

// WITHIN (RFC 5032): OLDER and YOUNGER on the internal date, also nested.
func TestWithinScript(t *testing.T) {
	env := newTestEnv(t, nil)
	msg := testMessage("old", "bob@example.org", "x")
	lit := fmt.Sprintf("{%d+}\r\n%s", len(msg), msg)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r, []exchange{
		{`w1 APPEND INBOX " 1-Jan-2020 00:00:00 +0000" ` + lit, []string{`w1 OK .*`}},
		{`w2 APPEND INBOX ` + lit, []string{`w2 OK .*`}},
	})
	r.cmd("s", "SELECT INBOX")
	runScript(t, r, []exchange{
		{"w3 SEARCH OLDER 86400", []string{`\* SEARCH 1`, `w3 OK .*`}},
		{"w4 UID SEARCH YOUNGER 86400", []string{`\* SEARCH 2`, `w4 OK .*`}},
		{"w5 SEARCH OR NOT YOUNGER 3600 SEEN", []string{`\* SEARCH 1`, `w5 OK .*`}},
		{"w6 SEARCH YOUNGER 0", []string{`w6 BAD .*`}},
	})
}

// MULTIAPPEND (RFC 3502): several messages in one APPEND, all or none.
func TestMultiappendScript(t *testing.T) {
	env := newTestEnv(t, nil)
	qm := int64(3)
	if _, err := env.store.UpdateUser(context.Background(), testAddr, mailstore.UserUpdate{QuotaMessages: &qm}); err != nil {
		t.Fatal(err)
	}
	msg := testMessage("multi", "bob@example.org", "x")
	lit := fmt.Sprintf("{%d+}\r\n%s", len(msg), msg)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r, []exchange{
		{"m1 APPEND INBOX (\\Seen) " + lit + " " + lit, []string{`m1 OK \[APPENDUID \d+ 1:2\] .*`}},
		// Over the quota: neither is added.
		{"m2 APPEND INBOX " + lit + " (\\Flagged) " + lit, []string{`m2 NO \[OVERQUOTA\] .*`}},
		// A malformed second message: the first is not added either.
		{"m3 APPEND INBOX " + lit + " (\\Seen " + lit, []string{`m3 BAD .*`}},
		{"m4 STATUS INBOX (MESSAGES UIDNEXT)", []string{`\* STATUS INBOX \(MESSAGES 2 UIDNEXT 3\)`, `m4 OK .*`}},
	})
}

// TestMalformedPlainIsBad sends AUTHENTICATE PLAIN responses that are not
// base64 of "authzid NUL user NUL password" (RFC 4616): each gets BAD with
// the reason, counts as no login attempt, and the session can still log in.
func TestMalformedPlainIsBad(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for i, resp := range []string{
		"!!!",
		enc(testAddr + "\x00" + testPass),
		enc("\x00" + testAddr + "\x00" + testPass + "\x00x"),
		enc("\x00\x00" + testPass),
		enc("\x00" + testAddr + "\x00"),
	} {
		tag := fmt.Sprintf("p%d", i)
		if _, tagged := r.cmd(tag, "AUTHENTICATE PLAIN "+resp); !strings.HasPrefix(tagged, tag+" BAD Malformed PLAIN response") {
			t.Errorf("AUTHENTICATE PLAIN %q: %q, want BAD", resp, tagged)
		}
	}
	if _, tagged := r.cmd("a", "AUTHENTICATE PLAIN "+enc("\x00"+testAddr+"\x00"+testPass)); !strings.HasPrefix(tagged, "a OK") {
		t.Fatalf("AUTHENTICATE PLAIN after malformed ones: %q", tagged)
	}
}

// A name with 8-bit UTF-8 cannot be modified UTF-7: it is taken as UTF-8
// even before ENABLE UTF8=ACCEPT, as go-imap's client sends such names to a
// server announcing IMAP4rev2; LIST gives it back in modified UTF-7.
// Invalid 7-bit names stay BAD.
func TestUTF8NameWithoutEnable(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	runScript(t, r, []exchange{
		{"l LOGIN " + testAddr + " \"" + testPass + "\"", []string{`l OK .*`}},
		{"c1 CREATE \"Ünicode &- Co\"", []string{`c1 OK .*`}},
		{`c2 LIST "" "*nicode*"`, []string{`\* LIST \(\\HasNoChildren\) "/" "&ANw-nicode &-- Co"`, `c2 OK .*`}},
		{"c3 STATUS \"Ünicode &- Co\" (MESSAGES)", []string{`\* STATUS "&ANw-nicode &-- Co" \(MESSAGES 0\)`, `c3 OK .*`}},
		{`c4 CREATE "&Jjo"`, []string{`c4 BAD .*not modified UTF-7.*`}},
		{"c5 CREATE \"\xff\xfe\"", []string{`c5 BAD .*not valid UTF-8.*`}},
	})
}
