package imapmsg

import (
	"errors"
	"fmt"
	"github.com/yubinmail/yubin/core/collate"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// hdrMsg builds a header-only message from "Name: value" lines.
func hdrMsg(lines ...string) []byte {
	return []byte(crlf(append(lines, "", "body")...))
}

func TestParseSortCriteria(t *testing.T) {
	tests := []struct {
		in   string
		want []SortCriterion
		err  bool
	}{
		{"DATE", []SortCriterion{{Field: SortDate}}, false},
		{"reverse arrival subject", []SortCriterion{{SortArrival, true}, {SortSubject, false}}, false},
		{"DISPLAYFROM REVERSE DISPLAYTO CC TO FROM SIZE", []SortCriterion{
			{SortDisplayFrom, false}, {SortDisplayTo, true}, {SortCc, false}, {SortTo, false}, {SortFrom, false}, {SortSize, false},
		}, false},
		{"", nil, true},
		{"REVERSE", nil, true},
		{"REVERSE REVERSE DATE", nil, true},
		{"DATE BOGUS", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseSortCriteria(strings.Fields(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("ParseSortCriteria(%q) error = %v", tt.in, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadSortCriteria) {
			t.Errorf("ParseSortCriteria(%q) error %v does not wrap ErrBadSortCriteria", tt.in, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseSortCriteria(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if SortNeedsHeader([]SortCriterion{{Field: SortArrival}, {Field: SortSize, Reverse: true}}) {
		t.Errorf("ARRIVAL SIZE should not need the header")
	}
	if !SortNeedsHeader([]SortCriterion{{Field: SortSize}, {Field: SortDisplayTo}}) {
		t.Errorf("DISPLAYTO needs the header")
	}
	if SortDisplayFrom.String() != "DISPLAYFROM" {
		t.Errorf("String = %q", SortDisplayFrom.String())
	}
}

func TestSortKeyOf(t *testing.T) {
	raw := hdrMsg(
		"From: =?UTF-8?Q?=C3=89mile?= <emile@example.com>",
		"To: undisclosed:;, <@relay.example:zoe@example.org>",
		"Cc: \"Carl\" <Carl (x) @ example.net>, dora@example.net",
		"Subject: Re: [list] Straße (fwd)",
		"Date: Mon, 02 Jan 2006 23:00:00 -0700",
	)
	k := SortKeyOf(raw, nil)
	want := SortKey{
		Subject:     collate.UnicodeCasemap("Straße"),
		SentDate:    time.Date(2006, 1, 3, 6, 0, 0, 0, time.UTC),
		From:        "EMILE",
		To:          "ZOE",
		Cc:          "CARL",
		DisplayFrom: collate.UnicodeCasemap("Émile"),
		DisplayTo:   "ZOE@EXAMPLE.ORG",
	}
	if k != want {
		t.Errorf("SortKeyOf =\n%+v\nwant\n%+v", k, want)
	}
	if m := Parse(raw); m.SortKey(nil) != want {
		t.Errorf("Message.SortKey differs from SortKeyOf")
	}
	only := SortKeyOf(raw, []SortCriterion{{Field: SortCc}})
	if only != (SortKey{Cc: "CARL"}) {
		t.Errorf("SortKeyOf(CC) = %+v", only)
	}
	if k := SortKeyOf([]byte("Subject: x\r\n\r\n"), nil); k.From != "" || k.DisplayFrom != "" || !k.SentDate.IsZero() {
		t.Errorf("missing fields gave %+v", k)
	}
	if k := SortKeyOf([]byte("From: Bad Address\r\n\r\n"), nil); k.From != "" || k.DisplayFrom != "BAD ADDRESS" {
		t.Errorf("unparseable From gave %+v", k)
	}
}

func TestSort(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 5, d, 12, 0, 0, 0, time.UTC) }
	msgs := []struct {
		raw     []byte
		arrival time.Time
		size    int64
	}{
		// seq 1
		{hdrMsg("From: Zed <a@x.example>", "To: b@x.example", "Subject: Re: beta", "Date: Fri, 03 May 2024 00:00:00 +0000"), day(5), 300},
		// seq 2
		{hdrMsg("From: alice@x.example", "To: Zoe <z@x.example>", "Cc: c@x.example", "Subject: alpha", "Date: Thu, 02 May 2024 23:00:00 -0200"), day(4), 100},
		// seq 3: no Date, so DATE uses the arrival time
		{hdrMsg("From: =?UTF-8?Q?=C3=89mile?= <e@x.example>", "Subject: [list] Alpha"), day(1), 200},
		// seq 4: equal to seq 1 in everything but the sequence number
		{hdrMsg("From: Zed <a@x.example>", "To: b@x.example", "Subject: Re: beta", "Date: Fri, 03 May 2024 00:00:00 +0000"), day(5), 300},
	}
	records := func() []SortRecord {
		rs := make([]SortRecord, len(msgs))
		for i, m := range msgs {
			rs[i] = SortRecord{SeqNum: uint32(i + 1), UID: imap.UID(10 * (i + 1)), InternalDate: m.arrival, Size: m.size, Key: SortKeyOf(m.raw, nil)}
		}
		// Feed them in a scrambled order.
		rs[0], rs[3] = rs[3], rs[0]
		rs[1], rs[2] = rs[2], rs[1]
		return rs
	}
	tests := []struct {
		criteria string
		want     []uint32
	}{
		{"ARRIVAL", []uint32{3, 2, 1, 4}},
		{"REVERSE ARRIVAL", []uint32{1, 4, 2, 3}},
		{"SIZE", []uint32{2, 3, 1, 4}},
		{"REVERSE SIZE", []uint32{1, 4, 3, 2}},
		{"DATE", []uint32{3, 1, 4, 2}}, // seq 2 was sent at 01:00 UTC on the 3rd
		{"REVERSE DATE", []uint32{2, 1, 4, 3}},
		{"SUBJECT", []uint32{2, 3, 1, 4}},
		{"SUBJECT REVERSE ARRIVAL", []uint32{2, 3, 1, 4}},
		{"REVERSE SUBJECT ARRIVAL", []uint32{1, 4, 3, 2}},
		{"SUBJECT ARRIVAL", []uint32{3, 2, 1, 4}},
		{"FROM", []uint32{1, 4, 2, 3}},
		{"DISPLAYFROM", []uint32{2, 3, 1, 4}},
		{"TO", []uint32{3, 1, 4, 2}},
		{"DISPLAYTO", []uint32{3, 1, 4, 2}},
		{"CC", []uint32{1, 3, 4, 2}},
		{"REVERSE CC", []uint32{2, 1, 3, 4}},
	}
	for _, tt := range tests {
		criteria, err := ParseSortCriteria(strings.Fields(tt.criteria))
		if err != nil {
			t.Fatal(err)
		}
		rs := records()
		Sort(rs, criteria)
		got := make([]uint32, len(rs))
		for i, r := range rs {
			got[i] = r.SeqNum
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("SORT (%s) = %v, want %v", tt.criteria, got, tt.want)
		}
	}
}

// threadMsg describes one message of a threading test.
type threadMsg struct {
	seq     uint32
	id      string
	refs    string // References header value
	irt     string // In-Reply-To header value
	subject string
	day     int // sent date: day of May 2024; 0 = no Date header
}

// threadRecords builds ThreadRecords from messages through their headers.
func threadRecords(msgs []threadMsg) []ThreadRecord {
	rs := make([]ThreadRecord, len(msgs))
	for i, m := range msgs {
		var lines []string
		if m.id != "" {
			lines = append(lines, "Message-ID: "+m.id)
		}
		if m.refs != "" {
			lines = append(lines, "References: "+m.refs)
		}
		if m.irt != "" {
			lines = append(lines, "In-Reply-To: "+m.irt)
		}
		lines = append(lines, "Subject: "+m.subject)
		if m.day > 0 {
			lines = append(lines, fmt.Sprintf("Date: %02d May 2024 10:00:00 +0000", m.day))
		}
		rs[i] = ThreadRecord{
			SeqNum:       m.seq,
			UID:          imap.UID(m.seq + 1000),
			InternalDate: time.Date(2024, 6, 1, 0, 0, int(m.seq), 0, time.UTC),
			Info:         ThreadInfoOf(hdrMsg(lines...)),
		}
	}
	return rs
}

func TestThreadReferences(t *testing.T) {
	tests := []struct {
		name string
		msgs []threadMsg
		want string
	}{
		{
			// The response of RFC 5256 §4's example.
			name: "rfc example",
			msgs: []threadMsg{
				{seq: 2, id: "<2@x>", subject: "two", day: 1},
				{seq: 3, id: "<3@x>", subject: "three", day: 2},
				{seq: 6, id: "<6@x>", refs: "<3@x>", subject: "Re: three", day: 3},
				{seq: 4, id: "<4@x>", refs: "<3@x> <6@x>", subject: "Re: three", day: 4},
				{seq: 23, id: "<23@x>", refs: "<3@x> <6@x> <4@x>", subject: "Re: three", day: 5},
				{seq: 44, id: "<44@x>", refs: "<3@x>\r\n <6@x>", subject: "Re: three", day: 6},
				{seq: 7, id: "<7@x>", refs: "<3@x> <6@x> <44@x>", subject: "Re: three", day: 7},
				{seq: 96, id: "<96@x>", irt: "<7@x> (Message of Sunday)", subject: "Re: three", day: 8},
			},
			want: "(2)(3 6 (4 23)(44 7 96))",
		},
		{
			name: "missing root with two replies stays a dummy",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", refs: "<root@x>", subject: "one", day: 2},
				{seq: 2, id: "<b@x>", refs: "<root@x>", subject: "two", day: 1},
			},
			want: "((2)(1))",
		},
		{
			name: "missing root with one reply is promoted",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", refs: "<root@x>", subject: "one", day: 1},
			},
			want: "(1)",
		},
		{
			name: "missing middle message: children promoted",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "top", day: 1},
				{seq: 2, id: "<b@x>", refs: "<a@x> <gone@x>", subject: "x", day: 2},
				{seq: 3, id: "<c@x>", refs: "<a@x> <gone@x>", subject: "y", day: 3},
			},
			want: "(1 (2)(3))",
		},
		{
			name: "reply merged under the original by subject",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "Hello", day: 1},
				{seq: 2, id: "<b@x>", subject: "Re: hello", day: 2},
			},
			want: "(1 2)",
		},
		{
			name: "reply sent first still goes under the original",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "Re: Hello", day: 1},
				{seq: 2, id: "<b@x>", subject: "Hello", day: 2},
			},
			want: "(2 1)",
		},
		{
			name: "two originals with one subject share a dummy",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "Hello", day: 2},
				{seq: 2, id: "<b@x>", subject: "[list] hello", day: 1},
				{seq: 3, id: "<c@x>", subject: "HELLO", day: 3},
			},
			want: "((2)(1)(3))",
		},
		{
			name: "dummy threads with one subject are merged",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", refs: "<r1@x>", subject: "Topic", day: 1},
				{seq: 2, id: "<b@x>", refs: "<r1@x>", subject: "Re: Topic", day: 2},
				{seq: 3, id: "<c@x>", refs: "<r2@x>", subject: "Re: topic", day: 3},
				{seq: 4, id: "<d@x>", refs: "<r2@x>", subject: "Re: topic", day: 4},
				{seq: 5, id: "<e@x>", subject: "Re: TOPIC", day: 5},
			},
			want: "((1)(2)(3)(4)(5))",
		},
		{
			name: "empty subjects are not merged",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "", day: 1},
				{seq: 2, id: "<b@x>", subject: "Re:", day: 2},
			},
			want: "(1)(2)",
		},
		{
			name: "duplicate message-id: the first keeps it",
			msgs: []threadMsg{
				{seq: 1, id: "<x@x>", subject: "one", day: 1},
				{seq: 2, id: "<x@x>", subject: "two", day: 2},
				{seq: 3, id: "<c@x>", refs: "<x@x>", subject: "three", day: 3},
			},
			want: "(1 3)(2)",
		},
		{
			name: "no message-id",
			msgs: []threadMsg{
				{seq: 1, subject: "one", day: 1},
				{seq: 2, subject: "two", day: 2},
			},
			want: "(1)(2)",
		},
		{
			name: "loop is not created",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", refs: "<b@x>", subject: "one", day: 1},
				{seq: 2, id: "<b@x>", refs: "<a@x>", subject: "two", day: 2},
			},
			want: "(2 1)",
		},
		{
			name: "self reference is ignored",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", refs: "<a@x>", subject: "one", day: 1},
			},
			want: "(1)",
		},
		{
			name: "existing parent is kept for references but not for the message",
			msgs: []threadMsg{
				{seq: 1, id: "<a@x>", subject: "a", day: 1},
				{seq: 2, id: "<b@x>", subject: "b", day: 2},
				{seq: 3, id: "<c@x>", refs: "<a@x> <c2@x>", subject: "c", day: 3},
				{seq: 4, id: "<c2@x>", refs: "<b@x>", subject: "c2", day: 4},
			},
			want: "(1)(2 4 3)",
		},
		{
			name: "sent date falls back to arrival and ties go by sequence number",
			msgs: []threadMsg{
				{seq: 3, id: "<c@x>", subject: "c", day: 1},
				{seq: 1, id: "<a@x>", subject: "a"},
				{seq: 2, id: "<b@x>", subject: "b", day: 1},
			},
			want: "(2)(3)(1)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			threads, err := Thread(imap.ThreadReferences, threadRecords(tt.msgs))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(AppendThreads(nil, threads, false)); got != tt.want {
				t.Errorf("THREAD REFERENCES = %s, want %s", got, tt.want)
			}
			checkThreads(t, threads, len(tt.msgs), false)
		})
	}
}

// TestThreadDeepChain threads a long reply chain whose messages carry the
// whole References field, as real mailers write it.
func TestThreadDeepChain(t *testing.T) {
	const n = 1000
	msgs := make([]threadMsg, n)
	var refs, want strings.Builder
	want.WriteString("(")
	for i := range msgs {
		// The newest message has the lowest sequence number, so that it
		// is linked first and its references create dummies that the
		// older messages then fill in.
		msgs[i] = threadMsg{seq: uint32(n - i), id: fmt.Sprintf("<%d@x>", i), refs: refs.String(), subject: "Re: chain", day: 1}
		fmt.Fprintf(&refs, " <%d@x>", i)
		if i > 0 {
			want.WriteByte(' ')
		}
		fmt.Fprint(&want, n-i)
	}
	want.WriteString(")")
	threads, err := Thread(imap.ThreadReferences, threadRecords(msgs))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendThreads(nil, threads, false)); got != want.String() {
		t.Errorf("chain = %s...", truncate(got))
	}
	checkThreads(t, threads, n, false)
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs := []threadMsg{
		{seq: 1, subject: "b", day: 1},
		{seq: 2, subject: "a", day: 2},
		{seq: 3, subject: "Re: b", day: 3},
		{seq: 4, subject: "re: A", day: 4},
		{seq: 5, subject: "Fwd: b", day: 5},
		{seq: 6, subject: "c", day: 6},
		{seq: 7, subject: "[x] B", day: 0}, // no Date: arrives 2024-06-01, last
	}
	threads, err := Thread("orderedsubject", threadRecords(msgs))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(AppendThreads(nil, threads, false)), "(1 (3)(5)(7))(2 4)(6)"; got != want {
		t.Errorf("THREAD ORDEREDSUBJECT = %s, want %s", got, want)
	}
	if got, want := string(AppendThreads(nil, threads, true)), "(1001 (1003)(1005)(1007))(1002 1004)(1006)"; got != want {
		t.Errorf("UID THREAD ORDEREDSUBJECT = %s, want %s", got, want)
	}
	checkThreads(t, threads, len(msgs), true)
	if _, err := Thread("BOGUS", nil); err == nil {
		t.Errorf("unknown algorithm accepted")
	}
	if threads, _ := Thread(imap.ThreadReferences, nil); len(threads) != 0 || string(AppendThreads(nil, threads, false)) != "" {
		t.Errorf("no messages gave %v", threads)
	}
}

func TestAppendThreads(t *testing.T) {
	n := func(seq uint32, kids ...*ThreadNode) *ThreadNode {
		return &ThreadNode{SeqNum: seq, UID: imap.UID(seq), Children: kids}
	}
	tests := []struct {
		threads []*ThreadNode
		want    string
	}{
		{[]*ThreadNode{n(1)}, "(1)"},
		{[]*ThreadNode{n(1, n(2, n(3)))}, "(1 2 3)"},
		{[]*ThreadNode{n(1, n(2), n(3))}, "(1 (2)(3))"},
		{[]*ThreadNode{n(0, n(2), n(3, n(4)))}, "((2)(3 4))"},
		{[]*ThreadNode{n(1, n(2, n(3), n(4, n(5), n(6)))), n(7)}, "(1 2 (3)(4 (5)(6)))(7)"},
	}
	for _, tt := range tests {
		if got := string(AppendThreads([]byte("* THREAD "), tt.threads, false)); got != "* THREAD "+tt.want {
			t.Errorf("AppendThreads = %s, want %s", got, tt.want)
		}
	}
}

// checkThreads checks the invariants of a THREAD result: every message
// appears once, dummies have at least two children and sit at the top
// (REFERENCES) or do not exist (ORDEREDSUBJECT, which also has no
// grandchildren), and the output is balanced.
func checkThreads(t *testing.T, threads []*ThreadNode, n int, ordered bool) {
	t.Helper()
	seen := make(map[uint32]bool)
	var walk func(x *ThreadNode, depth int)
	walk = func(x *ThreadNode, depth int) {
		if x.IsDummy() {
			if depth > 0 || ordered || len(x.Children) < 2 {
				t.Fatalf("misplaced dummy at depth %d with %d children", depth, len(x.Children))
			}
		} else {
			if seen[x.SeqNum] {
				t.Fatalf("message %d twice", x.SeqNum)
			}
			seen[x.SeqNum] = true
		}
		if ordered && depth > 1 {
			t.Fatalf("ORDEREDSUBJECT grandchild %d", x.SeqNum)
		}
		for _, k := range x.Children {
			walk(k, depth+1)
		}
	}
	for _, x := range threads {
		walk(x, 0)
	}
	if len(seen) != n {
		t.Fatalf("%d messages in the threads, want %d", len(seen), n)
	}
	out := AppendThreads(nil, threads, false)
	depth := 0
	for _, c := range out {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				t.Fatalf("unbalanced %s", out)
			}
		}
	}
	if depth != 0 || strings.Contains(string(out), "()") || strings.Contains(string(out), "  ") {
		t.Fatalf("malformed %s", out)
	}
}

// FuzzThread builds a mailbox from the fuzz input (each 4 bytes: a
// Message-ID, two references and a subject from small alphabets, so that
// links, loops, duplicates and subject merges are frequent) and checks the
// invariants of both algorithms.
func FuzzThread(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 2, 1, 0, 4, 3, 3, 3, 3, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 2, 1, 2, 0, 1, 1, 3, 1, 2, 1, 4, 3, 0, 2})
	f.Add([]byte("the quick brown fox jumps over the lazy dog"))
	subjects := []string{"", "a", "Re: a", "[l] a", "b", "Fwd: b", "Re:", "[fwd: a]"}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*400 {
			data = data[:4*400]
		}
		var msgs []threadMsg
		for i := 0; i+4 <= len(data); i += 4 {
			m := threadMsg{seq: uint32(i/4 + 1), subject: subjects[data[i+3]%8], day: int(data[i+3]/8)%5 + 1}
			if id := data[i] % 9; id > 0 {
				m.id = fmt.Sprintf("<%d@x>", id)
			}
			for _, r := range data[i+1 : i+3] {
				if r%9 > 0 {
					m.refs += fmt.Sprintf(" <%d@x>", r%9)
				}
			}
			msgs = append(msgs, m)
		}
		for _, alg := range []imap.ThreadAlgorithm{imap.ThreadReferences, imap.ThreadOrderedSubject} {
			threads, err := Thread(alg, threadRecords(msgs))
			if err != nil {
				t.Fatal(err)
			}
			checkThreads(t, threads, len(msgs), alg == imap.ThreadOrderedSubject)
		}
	})
}

// FuzzParseSortCriteria checks that any atom list is accepted or refused
// with ErrBadSortCriteria, and that accepted criteria print back to an
// equivalent list.
func FuzzParseSortCriteria(f *testing.F) {
	f.Add("REVERSE DATE SUBJECT")
	f.Add("reverse reverse")
	f.Add("DISPLAYFROM DISPLAYTO ARRIVAL CC")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseSortCriteria(strings.Fields(s))
		if err != nil {
			if !errors.Is(err, ErrBadSortCriteria) {
				t.Fatalf("error %v", err)
			}
			return
		}
		var atoms []string
		for _, c := range cs {
			if c.Reverse {
				atoms = append(atoms, "REVERSE")
			}
			atoms = append(atoms, c.Field.String())
		}
		again, err := ParseSortCriteria(atoms)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(cs) {
			t.Fatalf("%q -> %v -> %v, %v", s, cs, again, err)
		}
	})
}
