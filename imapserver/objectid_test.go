package imapserver

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// objectIDIn returns the id of "NAME (id)" in lines.
func objectIDIn(t *testing.T, lines []string, name string) string {
	t.Helper()
	re := regexp.MustCompile(name + ` \(([A-Za-z0-9_-]+)\)`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s in %q", name, lines)
	return ""
}

// OBJECTID (RFC 8474): MAILBOXID in CREATE, SELECT and STATUS, kept across
// RENAME and new after DELETE; EMAILID in FETCH and SEARCH, the same for
// every copy of a message (COPY, MOVE) and different between messages;
// THREADID given (see TestThreadIDScript).
func TestObjectIDScript(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	env.deliver(t, testMessage("two", "bob@example.org", "y"))
	r := dialRaw(t, env.addr)
	if u, _ := r.cmd("c", "CAPABILITY"); !strings.Contains(u[0], " OBJECTID") {
		t.Fatalf("OBJECTID not advertised: %q", u)
	}
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")

	_, tagged := r.cmd("c1", "CREATE Work")
	created := objectIDIn(t, []string{tagged}, `c1 OK \[MAILBOXID`)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`).MatchString(created) {
		t.Fatalf("MAILBOXID %q is not an objectid", created)
	}
	u, _ := r.cmd("c2", "STATUS Work (MESSAGES MAILBOXID)")
	if got := objectIDIn(t, u, "MAILBOXID"); got != created {
		t.Fatalf("STATUS MAILBOXID %q, CREATE said %q", got, created)
	}
	inbox := objectIDIn(t, mustCmd(t, r, "c3", "STATUS INBOX (MAILBOXID)"), "MAILBOXID")
	if inbox == created {
		t.Fatal("two mailboxes share a MAILBOXID")
	}
	r.cmd("c4", "RENAME Work Projects")
	if got := objectIDIn(t, mustCmd(t, r, "c5", "STATUS Projects (MAILBOXID)"), "MAILBOXID"); got != created {
		t.Fatalf("MAILBOXID changed by RENAME: %q, was %q", got, created)
	}

	// LIST-STATUS carries it too.
	if got := objectIDIn(t, mustCmd(t, r, "c7", `LIST "" Projects RETURN (STATUS (MAILBOXID))`), `\* STATUS .*MAILBOXID`); got != created {
		t.Fatalf("LIST-STATUS MAILBOXID %q, CREATE said %q", got, created)
	}

	sel := mustCmd(t, r, "s", "SELECT INBOX")
	if got := objectIDIn(t, sel, `\* OK \[MAILBOXID`); got != inbox {
		t.Fatalf("SELECT MAILBOXID %q, STATUS said %q", got, inbox)
	}
	f := mustCmd(t, r, "f1", "FETCH 1:2 (EMAILID THREADID)")
	if len(f) != 2 {
		t.Fatalf("FETCH: %q", f)
	}
	e1, e2 := objectIDIn(t, f[:1], "EMAILID"), objectIDIn(t, f[1:], "EMAILID")
	if e1 == e2 {
		t.Fatalf("two messages share EMAILID %q", e1)
	}
	runScript(t, r, []exchange{
		{"f2 FETCH 1 (EMAILID THREADID)", []string{`\* 1 FETCH \(EMAILID \(` + e1 + `\) THREADID \(T[0-9a-f]+\)\)`, `f2 OK .*`}},
		{"f3 SEARCH EMAILID " + e2, []string{`\* SEARCH 2`, `f3 OK .*`}},
		{"f4 UID SEARCH OR EMAILID " + e1 + " EMAILID " + e2, []string{`\* SEARCH 1 2`, `f4 OK .*`}},
		{"f5 SEARCH THREADID T123", []string{`\* SEARCH`, `f5 OK .*`}},
		{"f6 SEARCH EMAILID", []string{`f6 BAD .*`}},
		{"f7 COPY 1 Projects", []string{`f7 OK .*`}},
		{"f8 MOVE 2 Projects", []string{`\* OK \[COPYUID .*`, `\* 2 EXPUNGE`, `f8 OK .*`}},
		{"f9 SELECT Projects", []string{`\* OK \[CLOSED\] .*`, `\* FLAGS .*`, `\* OK \[PERMANENTFLAGS .*`, `\* 2 EXISTS`, `\* 2 RECENT`, `\* OK \[UNSEEN 1\] .*`, `\* OK \[UIDVALIDITY .*`, `\* OK \[UIDNEXT 3\] .*`, `\* OK \[MAILBOXID \(` + created + `\)\] .*`, `f9 OK .*`}},
		{"f10 FETCH 1:2 EMAILID", []string{`\* 1 FETCH \(EMAILID \(` + e1 + `\)\)`, `\* 2 FETCH \(EMAILID \(` + e2 + `\)\)`, `f10 OK .*`}},
		{"f11a UNSELECT", []string{`f11a OK .*`}},
		{"f11 DELETE Projects", []string{`f11 OK .*`}},
	})
	_, tagged = r.cmd("c6", "CREATE Projects")
	if again := objectIDIn(t, []string{tagged}, `c6 OK \[MAILBOXID`); again == created {
		t.Fatal("a deleted mailbox's MAILBOXID was reused")
	}
}

// mustCmd runs a command that must succeed and returns its untagged lines.
func mustCmd(t *testing.T, r *rawConn, tag, line string) []string {
	t.Helper()
	u, tagged := r.cmd(tag, line)
	if !strings.HasPrefix(tagged, tag+" OK") {
		t.Fatalf("%s: %s", line, tagged)
	}
	return u
}

// SAVEDATE (RFC 8514): the date a message was added to its mailbox, not
// its internal date, in FETCH and the SAVED* search keys.
func TestSaveDateScript(t *testing.T) {
	env := newTestEnv(t, nil)
	msg := testMessage("saved", "bob@example.org", "x")
	lit := fmt.Sprintf("{%d+}\r\n%s", len(msg), msg)
	r := dialRaw(t, env.addr)
	if u, _ := r.cmd("c", "CAPABILITY"); !strings.Contains(u[0], " SAVEDATE") {
		t.Fatalf("SAVEDATE not advertised: %q", u)
	}
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	mustCmd(t, r, "a", `APPEND INBOX " 1-Jan-2020 00:00:00 +0000" `+lit)
	now := time.Now().UTC()
	day := func(d int) string { return now.AddDate(0, 0, d).Format("2-Jan-2006") }
	r.cmd("s", "SELECT INBOX")
	f := mustCmd(t, r, "f", "FETCH 1 (INTERNALDATE SAVEDATE)")
	m := regexp.MustCompile(`^\* 1 FETCH \(INTERNALDATE "01-Jan-2020 00:00:00 \+0000" SAVEDATE "([^"]+)"\)$`).FindStringSubmatch(f[0])
	if m == nil {
		t.Fatalf("FETCH: %q", f)
	}
	saved, err := time.Parse(internalDate, m[1])
	if err != nil || saved.Before(now.Add(-time.Hour)) || saved.After(now.Add(time.Hour)) {
		t.Fatalf("SAVEDATE %q is not the time of the APPEND (%v)", m[1], err)
	}
	runScript(t, r, []exchange{
		{"k1 SEARCH SAVEDATESUPPORTED", []string{`\* SEARCH 1`, `k1 OK .*`}},
		{"k2 SEARCH SAVEDSINCE " + day(-1), []string{`\* SEARCH 1`, `k2 OK .*`}},
		{"k3 SEARCH SAVEDBEFORE " + day(-1), []string{`\* SEARCH`, `k3 OK .*`}},
		{"k4 SEARCH SAVEDBEFORE " + day(2), []string{`\* SEARCH 1`, `k4 OK .*`}},
		{"k5 SEARCH OR SAVEDON " + day(0) + " SAVEDON " + day(1), []string{`\* SEARCH 1`, `k5 OK .*`}},
		{"k6 SEARCH SAVEDON 1-Jan-2020", []string{`\* SEARCH`, `k6 OK .*`}},
		{"k7 SEARCH ON 1-Jan-2020", []string{`\* SEARCH 1`, `k7 OK .*`}},
		{"k8 SEARCH NOT SAVEDSINCE " + day(-1), []string{`\* SEARCH`, `k8 OK .*`}},
		{"k9 SEARCH SAVEDSINCE 32-Jan-2020", []string{`k9 BAD .*`}},
		{"k10 UID FETCH 1 SAVEDATE", []string{`\* 1 FETCH \(UID 1 SAVEDATE "` + regexp.QuoteMeta(m[1]) + `"\)`, `k10 OK .*`}},
	})
}

// threadMessage is a message with the threading header fields given
// ("" leaves one out).
func threadMessage(subject, id, inReplyTo, references string) string {
	h := "From: bob@example.org\r\nTo: " + testAddr + "\r\nSubject: " + subject + "\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n"
	if id != "" {
		h += "Message-ID: <" + id + ">\r\n"
	}
	if inReplyTo != "" {
		h += "In-Reply-To: <" + inReplyTo + ">\r\n"
	}
	if references != "" {
		h += "References: " + references + "\r\n"
	}
	return h + "\r\nbody\r\n"
}

// THREADID (OBJECTID, RFC 8474 §5.2): messages linked by Message-ID,
// In-Reply-To and References share one, whatever order they came in and
// whatever their subjects; others (a like subject alone) get their own;
// ids do not change as more mail comes, and COPY and MOVE keep them;
// SEARCH THREADID finds a thread's messages.
func TestThreadIDScript(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, m := range []string{
		threadMessage("plan", "a@x", "", ""),              // 1
		threadMessage("Re: plan", "b@x", "a@x", ""),       // 2: reply to 1
		threadMessage("plan", "c@x", "", ""),              // 3: same subject, no link
		threadMessage("budget", "d@x", "", "<a@x> <b@x>"), // 4: References only
		threadMessage("Re: lunch", "e@x", "f@x", ""),      // 5: reply to 6, before it
		threadMessage("lunch", "f@x", "", ""),             // 6
		threadMessage("no id", "", "", ""),                // 7: no Message-ID at all
	} {
		env.deliver(t, m)
	}
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	f := mustCmd(t, r, "f1", "FETCH 1:7 (THREADID)")
	if len(f) != 7 {
		t.Fatalf("FETCH: %q", f)
	}
	ids := make([]string, 7)
	for i := range f {
		ids[i] = objectIDIn(t, f[i:i+1], "THREADID")
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`).MatchString(ids[i]) {
			t.Fatalf("THREADID %q is not an objectid", ids[i])
		}
	}
	same := [][]int{{0, 1, 3}, {4, 5}}
	for _, g := range same {
		for _, i := range g[1:] {
			if ids[i] != ids[g[0]] {
				t.Errorf("messages %d and %d: THREADID %s and %s, want one", g[0]+1, i+1, ids[g[0]], ids[i])
			}
		}
	}
	for _, pair := range [][2]int{{0, 2}, {0, 4}, {0, 6}, {4, 6}, {2, 6}} {
		if ids[pair[0]] == ids[pair[1]] {
			t.Errorf("messages %d and %d share THREADID %s", pair[0]+1, pair[1]+1, ids[pair[0]])
		}
	}
	// A later reply joins; nothing changes for the others.
	env.deliver(t, threadMessage("Re: Re: plan", "g@x", "b@x", "<a@x> <b@x>"))
	mustCmd(t, r, "n", "NOOP")
	runScript(t, r, []exchange{
		{"f2 FETCH 8 THREADID", []string{`\* 8 FETCH \(THREADID \(` + ids[0] + `\)\)`, `f2 OK .*`}},
		{"f3 UID FETCH 1 THREADID", []string{`\* 1 FETCH \(UID 1 THREADID \(` + ids[0] + `\)\)`, `f3 OK .*`}},
		{"f4 SEARCH THREADID " + ids[0], []string{`\* SEARCH 1 2 4 8`, `f4 OK .*`}},
		{"f5 SEARCH NOT THREADID " + ids[0] + " THREADID " + ids[4], []string{`\* SEARCH 5 6`, `f5 OK .*`}},
		{"f6 SEARCH THREADID T0", []string{`\* SEARCH`, `f6 OK .*`}},
		{"f7 CREATE Kept", []string{`f7 OK .*`}},
		{"f8 COPY 2 Kept", []string{`f8 OK .*`}},
		{"f9 MOVE 5 Kept", []string{`\* OK \[COPYUID .*`, `\* 5 EXPUNGE`, `f9 OK .*`}},
		{"f10 SELECT Kept", []string{`\* OK \[CLOSED\] .*`, `.*`, `.*`, `\* 2 EXISTS`, `.*`, `.*`, `.*`, `.*`, `.*`, `f10 OK .*`}},
		{"f11 FETCH 1:2 THREADID", []string{`\* 1 FETCH \(THREADID \(` + ids[0] + `\)\)`, `\* 2 FETCH \(THREADID \(` + ids[4] + `\)\)`, `f11 OK .*`}},
	})
}
