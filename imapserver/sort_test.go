package imapserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// sortFixture is five messages whose every SORT key orders them
// differently, appended with decreasing internal dates after one message
// that is expunged again, so that sequence numbers 1..5 are UIDs 2..6.
// Bodies start with "Body N." and are padded with quoted lines (which
// PREVIEW leaves out) to sizes that order as 3 5 4 2 1.
func sortFixture(t *testing.T, env *testEnv) *rawConn {
	t.Helper()
	type m struct {
		from, to, cc, subject, date, id, refs string
		pad                                   int
	}
	msgs := []m{
		{"=?UTF-8?Q?Zed?= <alpha@x.test>", "carol@y.test", "bob@y.test", "Apples", "Fri, 03 Jan 2020 10:00:00 +0000", "a@x", "", 50},
		{"Bob <charlie@x.test>", "Anna <zoe@y.test>", "", "Re: Apples", "Sat, 04 Jan 2020 10:00:00 +0000", "b@x", "<a@x>", 40},
		{"bravo@x.test", "adam@y.test", "aaron@y.test", "Bananas", "Wed, 01 Jan 2020 10:00:00 +0000", "c@x", "", 10},
		{"Anna <delta@x.test>", "Bob <bob@y.test>", "", "Re: [list] apples", "Sun, 05 Jan 2020 10:00:00 +0000", "d@x", "<a@x> <b@x>", 30},
		{"Mallory <echo@x.test>", "", "", "Cherries", "Thu, 02 Jan 2020 10:00:00 +0000", "e@x", "", 20},
	}
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	appendMsg := func(tag, date, msg string) {
		t.Helper()
		if _, tagged := r.cmd(tag, fmt.Sprintf(`APPEND INBOX "%s" {%d+}`+"\r\n%s", date, len(msg), msg)); !strings.HasPrefix(tagged, tag+" OK") {
			t.Fatalf("APPEND: %s", tagged)
		}
	}
	appendMsg("a0", "01-Jan-2021 00:00:00 +0000", testMessage("gone", "x@x.test", "x"))
	for i, x := range msgs {
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\r\n", x.from)
		if x.to != "" {
			fmt.Fprintf(&b, "To: %s\r\n", x.to)
		}
		if x.cc != "" {
			fmt.Fprintf(&b, "Cc: %s\r\n", x.cc)
		}
		fmt.Fprintf(&b, "Subject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n", x.subject, x.date, x.id)
		if x.refs != "" {
			fmt.Fprintf(&b, "References: %s\r\n", x.refs)
		}
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=us-ascii\r\n\r\nBody %d.\r\n%s", i+1,
			strings.Repeat("> some quoted text to pad the message out\r\n", x.pad*3))
		appendMsg(fmt.Sprint("a", i+1), fmt.Sprintf("%02d-Feb-2021 00:00:00 +0000", 10-i), b.String())
	}
	r.cmd("s", "SELECT INBOX")
	r.cmd("d", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	if _, tagged := r.cmd("e", "EXPUNGE"); !strings.HasPrefix(tagged, "e OK") {
		t.Fatalf("EXPUNGE: %s", tagged)
	}
	return r
}

// SORT (RFC 5256) with every key, REVERSE, several criteria, search keys
// and charsets, and SORT=DISPLAY (RFC 5957), over a real socket.
func TestSortScript(t *testing.T) {
	env := newTestEnv(t, nil)
	r := sortFixture(t, env)
	runScript(t, r, []exchange{
		{"c CAPABILITY", []string{`\* CAPABILITY .* SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW .*`, `c OK .*`}},
		{"s1 SORT (SUBJECT) UTF-8 ALL", []string{`\* SORT 1 2 4 3 5`, `s1 OK .*`}},
		{"s2 SORT (DATE) UTF-8 ALL", []string{`\* SORT 3 5 1 2 4`, `s2 OK .*`}},
		{"s3 SORT (REVERSE DATE) US-ASCII ALL", []string{`\* SORT 4 2 1 5 3`, `s3 OK .*`}},
		{"s4 SORT (ARRIVAL) UTF-8 ALL", []string{`\* SORT 5 4 3 2 1`, `s4 OK .*`}},
		{"s5 SORT (SIZE) UTF-8 ALL", []string{`\* SORT 3 5 4 2 1`, `s5 OK .*`}},
		{"s6 SORT (FROM) UTF-8 ALL", []string{`\* SORT 1 3 2 4 5`, `s6 OK .*`}},
		{"s7 SORT (TO) UTF-8 ALL", []string{`\* SORT 5 3 4 1 2`, `s7 OK .*`}},
		{"s8 SORT (CC) UTF-8 ALL", []string{`\* SORT 2 4 5 3 1`, `s8 OK .*`}},
		{"s9 SORT (DISPLAYFROM) UTF-8 ALL", []string{`\* SORT 4 2 3 5 1`, `s9 OK .*`}},
		{"s10 SORT (DISPLAYTO) UTF-8 ALL", []string{`\* SORT 5 3 2 4 1`, `s10 OK .*`}},
		{"s11 SORT (SUBJECT REVERSE DATE) UTF-8 ALL", []string{`\* SORT 4 2 1 3 5`, `s11 OK .*`}},
		{"s12 uid sort (reverse subject size) utf-8 all", []string{`\* SORT 6 4 5 3 2`, `s12 OK .*`}},
		{"s13 SORT (DATE) UTF-8 FROM x.test NOT SUBJECT bananas", []string{`\* SORT 5 1 2 4`, `s13 OK .*`}},
		{"s14 SORT (DATE) UTF-8 OR (SUBJECT cherries) UID 2:3", []string{`\* SORT 5 1 2`, `s14 OK .*`}},
		{"s15 SORT (DATE) UTF-8 SUBJECT nothing-like-this", []string{`\* SORT`, `s15 OK .*`}},
		{"s16 SORT (DATE) UTF-8 MODSEQ 1", []string{`\* OK \[HIGHESTMODSEQ \d+\] .*`, `\* SORT 3 5 1 2 4 \(MODSEQ \d+\)`, `s16 OK .*`}},
		{"s17 SORT (SUBJECT) ISO-8859-1 ALL", []string{`s17 NO \[BADCHARSET \(US-ASCII UTF-8\)\] .*`}},
		{"s18 SORT (FOO) UTF-8 ALL", []string{`s18 BAD .*unknown sort key.*`}},
		{"s19 SORT (DATE REVERSE) UTF-8 ALL", []string{`s19 BAD .*REVERSE.*`}},
		{"s20 SORT () UTF-8 ALL", []string{`s20 BAD .*`}},
		{"s21 SORT DATE UTF-8 ALL", []string{`s21 BAD .*`}},
		{"s22 SORT (DATE) ALL", []string{`s22 NO \[BADCHARSET .*`}},
		{"s23 SORT (DATE) UTF-8", []string{`s23 BAD .*`}},
		{"s24 SORT (DATE) UTF-8 CHARSET UTF-8 ALL", []string{`s24 BAD .*charset.*`}},
		{"s25 NOOP", []string{`s25 OK .*`}},
	})
	// A second session sees the same order (the header keys come from the
	// store, not from any state of the first session).
	r2 := dialRaw(t, env.addr)
	r2.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r2, []exchange{{"b1 SORT (DATE) UTF-8 ALL", []string{`b1 BAD .*select a mailbox first`}}})
	r2.cmd("b2", "EXAMINE INBOX")
	runScript(t, r2, []exchange{
		{"b3 UID SORT (DATE) UTF-8 ALL", []string{`\* SORT 4 6 2 3 5`, `b3 OK .*`}},
	})
}

// ESORT (RFC 5267 §3): SORT RETURN answered as ESEARCH in sort order,
// and SAVE (RFC 5182) with SORT.
func TestESortScript(t *testing.T) {
	env := newTestEnv(t, nil)
	r := sortFixture(t, env)
	runScript(t, r, []exchange{
		{"e1 SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", []string{`\* ESEARCH \(TAG "e1"\) MIN 3 MAX 4 ALL 3,5,1:2,4 COUNT 5`, `e1 OK .*`}},
		{"e2 UID SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", []string{`\* ESEARCH \(TAG "e2"\) UID ALL 2:3,5,4,6`, `e2 OK .*`}},
		{"e3 SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL", []string{`\* ESEARCH \(TAG "e3"\) ALL 1:5`, `e3 OK .*`}},
		{"e4 SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing-like-this", []string{`\* ESEARCH \(TAG "e4"\) COUNT 0`, `e4 OK .*`}},
		{"e5 SORT RETURN (MIN) (DATE) UTF-8 SUBJECT nothing-like-this", []string{`\* ESEARCH \(TAG "e5"\)`, `e5 OK .*`}},
		{"e6 SORT RETURN (SAVE MAX) (DATE) UTF-8 ALL", []string{`\* ESEARCH \(TAG "e6"\) MAX 4`, `e6 OK .*`}},
		{"e7 UID SEARCH UID $", []string{`\* SEARCH 5`, `e7 OK .*`}},
		{"e8 SORT RETURN (SAVE) (SIZE) UTF-8 SUBJECT apples", []string{`e8 OK .*`}},
		{"e9 FETCH $ (UID)", []string{`\* 1 FETCH \(UID 2\)`, `\* 2 FETCH \(UID 3\)`, `\* 4 FETCH \(UID 5\)`, `e9 OK .*`}},
		{"e10 SORT RETURN (FOO) (DATE) UTF-8 ALL", []string{`e10 BAD .*`}},
		{"e11 SORT RETURN (MIN) (DATE) UTF-8 MODSEQ 1", []string{`\* OK \[HIGHESTMODSEQ \d+\] .*`, `\* ESEARCH \(TAG "e11"\) MIN 3 MODSEQ \d+`, `e11 OK .*`}},
	})
}

// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256), over a raw
// socket (imapclient cannot parse THREAD responses).
func TestThreadScript(t *testing.T) {
	env := newTestEnv(t, nil)
	r := sortFixture(t, env)
	runScript(t, r, []exchange{
		{"t1 THREAD ORDEREDSUBJECT UTF-8 ALL", []string{`\* THREAD \(3\)\(5\)\(1 \(2\)\(4\)\)`, `t1 OK .*`}},
		{"t2 THREAD REFERENCES UTF-8 ALL", []string{`\* THREAD \(3\)\(5\)\(1 2 4\)`, `t2 OK .*`}},
		{"t3 UID THREAD REFERENCES US-ASCII ALL", []string{`\* THREAD \(4\)\(6\)\(2 3 5\)`, `t3 OK .*`}},
		{"t4 THREAD REFERENCES UTF-8 NOT UID 3", []string{`\* THREAD \(3\)\(5\)\(1 4\)`, `t4 OK .*`}},
		{"t5 THREAD REFERENCES UTF-8 SUBJECT nothing-like-this", []string{`\* THREAD`, `t5 OK .*`}},
		{"t6 THREAD FOO UTF-8 ALL", []string{`t6 BAD .*threading algorithm.*`}},
		{"t7 THREAD REFERENCES KOI8-R ALL", []string{`t7 NO \[BADCHARSET \(US-ASCII UTF-8\)\] .*`}},
		{"t8 THREAD REFERENCES", []string{`t8 BAD .*`}},
		{"t9 UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT apples", []string{`\* THREAD \(2 \(3\)\(5\)\)`, `t9 OK .*`}},
	})
	// Two replies to a message that is not in the mailbox: REFERENCES
	// keeps a dummy parent, written as its children's lists.
	for i, id := range []string{"r1", "r2"} {
		msg := fmt.Sprintf("From: z@x.test\r\nSubject: Re: lost\r\nDate: Mon, 0%d Jun 2020 10:00:00 +0000\r\nMessage-ID: <%s@x>\r\nReferences: <lost@x>\r\n\r\nx\r\n", i+1, id)
		if _, tagged := r.cmd("ap", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(tagged, "ap OK") {
			t.Fatal(tagged)
		}
	}
	runScript(t, r, []exchange{
		{"t10 THREAD REFERENCES UTF-8 SUBJECT lost", []string{`\* THREAD \(\(6\)\(7\)\)`, `t10 OK .*`}},
	})
}

// go-imap's imapclient, a client nobody here wrote, sorts with SORT and
// UID SORT.
func TestSortWithImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	r := sortFixture(t, env)
	r.cmd("o", "LOGOUT")
	c := env.selectInbox(t, nil)
	if !c.Caps().Has("SORT") {
		t.Fatalf("SORT not advertised: %v", c.Caps())
	}
	got, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil || !slices.Equal(got, []uint32{4, 2, 1, 3, 5}) {
		t.Fatalf("SORT = %v, %v", got, err)
	}
	got, err = c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "apples"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySize}},
	}).Wait()
	if err != nil || !slices.Equal(got, []uint32{5, 3, 2}) {
		t.Fatalf("UID SORT = %v, %v", got, err)
	}
}

// SORT, ESORT and THREAD of an empty mailbox give empty answers.
func TestSortThreadEmptyMailbox(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT Drafts")
	runScript(t, r, []exchange{
		{"x1 SORT (SUBJECT) UTF-8 ALL", []string{`\* SORT`, `x1 OK .*`}},
		{"x2 UID SORT RETURN (MIN COUNT) (DATE) UTF-8 ALL", []string{`\* ESEARCH \(TAG "x2"\) UID COUNT 0`, `x2 OK .*`}},
		{"x3 THREAD ORDEREDSUBJECT UTF-8 ALL", []string{`\* THREAD`, `x3 OK .*`}},
	})
}
