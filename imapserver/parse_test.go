package imapserver

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// testReader reads s; continuation requests are counted.
func testReader(s string) (*reader, *int) {
	conts := 0
	r := newReader(bufio.NewReader(strings.NewReader(s)), func() error { conts++; return nil })
	return r, &conts
}

func isBad(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.bad
}

func TestNumSet(t *testing.T) {
	tests := []struct {
		in      string
		bad     bool
		ranges  int
		saved   bool
		contain []uint32 // with max 10
	}{
		{in: "1", ranges: 1, contain: []uint32{1}},
		{in: "1:*", ranges: 1, contain: []uint32{1, 5, 10}},
		{in: "*:3", ranges: 1, contain: []uint32{3, 10}},
		{in: "2,4:5,*", ranges: 3, contain: []uint32{2, 4, 5, 10}},
		{in: "$", saved: true},
		{in: "0", bad: true},
		{in: "1:0", bad: true},
		{in: "4294967295", ranges: 1},
		{in: "4294967296", bad: true},
		{in: "99999999999999999999999", bad: true},
		{in: "1:1:1", bad: true},
		{in: "", bad: true},
		{in: ",1", bad: true},
	}
	for _, tt := range tests {
		r, _ := testReader(tt.in + "\r\n")
		if err := r.readLine(); err != nil {
			t.Fatal(err)
		}
		set, err := r.numSet()
		if err == nil && !r.atEnd() && tt.bad {
			err = r.end()
		}
		if tt.bad {
			if !isBad(err) {
				t.Errorf("%q: err %v, want BAD", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if len(set.ranges) != tt.ranges || set.saved != tt.saved {
			t.Errorf("%q: got %+v", tt.in, set)
		}
		for _, n := range tt.contain {
			if !set.contains(n, 10) {
				t.Errorf("%q does not contain %d", tt.in, n)
			}
		}
	}
}

func TestSearchBounds(t *testing.T) {
	tests := []struct {
		name, in string
		bad      bool
	}{
		{"simple", "UNSEEN FROM alice", false},
		{"nested ok", strings.Repeat("(", 50) + "ALL" + strings.Repeat(")", 50), false},
		{"1000 parentheses", strings.Repeat("(", 1000) + "ALL" + strings.Repeat(")", 1000), true},
		{"12000-term OR", strings.Repeat("OR 1 ", 12000) + "ALL", true},
		{"flat keys over the limit", strings.TrimSpace(strings.Repeat("SEEN ", maxSearchKeys+1)), true},
		{"unknown key", "FOO", true},
		{"bad date", "SINCE 32-Jan-2020", true},
		{"date", `SENTON "1-Feb-2020"`, false},
		{"return", "RETURN (MIN MAX) UID 1:*", false},
		{"charset", "CHARSET UTF-8 TEXT x", false},
		{"modseq", `MODSEQ "/flags/\\draft" all 620162338`, false},
		{"unbalanced", "(SEEN", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testReader(tt.in + "\r\n")
			if err := r.readLine(); err != nil {
				t.Fatal(err)
			}
			_, err := r.parseSearch()
			if err == nil {
				err = r.end()
			}
			if tt.bad != isBad(err) || (!tt.bad && err != nil) {
				t.Errorf("err %v, want bad=%v", err, tt.bad)
			}
		})
	}
}

func TestUTF7(t *testing.T) {
	good := map[string]string{
		"INBOX":                           "INBOX",
		"&-":                              "&",
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-": "~peter/mail/台北/日本語",
		"Entw&APw-rfe":                    "Entwürfe",
		"&2D3eAA-":                        "\U0001f600",
	}
	for in, want := range good {
		got, err := decodeUTF7(in)
		if err != nil || got != want {
			t.Errorf("decode %q = %q, %v; want %q", in, got, err, want)
		}
		if enc := encodeUTF7(want); enc != in {
			t.Errorf("encode %q = %q, want %q", want, enc, in)
		}
	}
	for _, in := range []string{"&AGQ-", "&", "&U,BTFw", "&U,BTFw-&ZeVnLIqe-", "caf\xc3\xa9", "&2D0-", "&AAA"} {
		if got, err := decodeUTF7(in); err == nil {
			t.Errorf("decode %q = %q, want an error", in, got)
		}
	}
}

func TestLiterals(t *testing.T) {
	// A synchronizing literal is asked for; the command goes on after it.
	r, conts := testReader("{5}\r\nhello rest\r\n")
	if err := r.readLine(); err != nil {
		t.Fatal(err)
	}
	s, err := r.astring("x")
	if err != nil || s != "hello" || *conts != 1 {
		t.Fatalf("got %q, %v, %d continuations", s, err, *conts)
	}
	if string(r.line) != " rest" {
		t.Fatalf("line after literal %q", r.line)
	}

	// A refused non-synchronizing literal is read and dropped with the
	// lines after it; the next command is read intact.
	big := strings.Repeat("A1 LOGOUT\r\n", 10000)
	r, conts = testReader("{" + itoa(len(big)) + "+}\r\n" + big + " more\r\nB2 NOOP\r\n")
	if err := r.readLine(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.astring("x"); !isBad(err) {
		t.Fatalf("oversized literal: %v", err)
	}
	if err := r.skip(); err != nil {
		t.Fatal(err)
	}
	if err := r.readLine(); err != nil || string(r.line) != "B2 NOOP" || *conts != 0 {
		t.Fatalf("next command %q, %v, %d continuations", r.line, err, *conts)
	}

	// A command that fails before its literals drops them too.
	r, _ = testReader("A1 FOO {3+}\r\nabc {2+}\r\nxy\r\nA2 NOOP\r\n")
	if err := r.readLine(); err != nil {
		t.Fatal(err)
	}
	if err := r.skip(); err != nil {
		t.Fatal(err)
	}
	if err := r.readLine(); err != nil || string(r.line) != "A2 NOOP" {
		t.Fatalf("next command %q, %v", r.line, err)
	}

	// An over-long line is refused whole.
	r, _ = testReader(strings.Repeat("x", maxLine+10) + "\r\nA2 NOOP\r\n")
	if err := r.readLine(); !errors.Is(err, errLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	if err := r.skip(); err != nil {
		t.Fatal(err)
	}
	if err := r.readLine(); err != nil || string(r.line) != "A2 NOOP" {
		t.Fatalf("next command %q, %v", r.line, err)
	}
}

func itoa(n int) string { return string(appendUint(nil, uint32(n))) }

func TestFetchParse(t *testing.T) {
	good := []string{
		"ALL", "FAST", "FULL", "(FLAGS UID)", "BODY[]", "(BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)",
		"(BODY[1.2.MIME] BINARY.PEEK[1]<5.10> BINARY.SIZE[2])", "(UID FLAGS) (CHANGEDSINCE 12345 VANISHED)",
		"BODY[1.TEXT]", "RFC822.HEADER",
	}
	for _, in := range good {
		r, _ := testReader(in + "\r\n")
		if err := r.readLine(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.parseFetch(); err != nil || r.end() != nil {
			t.Errorf("%q: %v, rest %q", in, err, r.line[r.pos:])
		}
	}
	for _, in := range []string{"(ALL)", "BODY[FOO]", "BODY[]<1.0>", "BODY[0]", "(FLAGS", "BODY.PEEK", "BINARY[1.TEXT]", "(UID) (VANISHED)"} {
		r, _ := testReader(in + "\r\n")
		if err := r.readLine(); err != nil {
			t.Fatal(err)
		}
		_, err := r.parseFetch()
		if err == nil {
			err = r.end()
		}
		if !isBad(err) {
			t.Errorf("%q: %v, want BAD", in, err)
		}
	}
}

// FuzzParse runs the parser's entry points on arbitrary input: they must
// never panic, and skip must always find the next line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1:*", "$", "UNSEEN (OR FROM a TO b) NOT SEEN", "RETURN (SAVE) CHARSET UTF-8 TEXT {3}\r\nabc",
		"(BODY.PEEK[1.HEADER.FIELDS (A)]<0.5> UID)", "{5+}\r\nhello", "~{3}\r\na\x00b", "\"a\\\"b\"",
		"&U,BTFw-", "((((((ALL))))))", "1:1:1", "SINCE \"1-Jan-2000\"",
		"RETURN (PARTIAL 1:5 UPDATE (UID BODY.PEEK[HEADER]) COUNT) ALL", "RETURN (UPDATE) UNSEEN",
		" STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge FlagChange)) (subtree (a \"b c\") (MailboxName SubscriptionChange))",
		" (mailboxes {3}\r\nabc (MessageNew MessageExpunge)) (personal NONE) (inboxes (ServerMetadataChange))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for entry := 0; entry < 7; entry++ {
			r, _ := testReader(s + "\r\n")
			if err := r.readLine(); err != nil {
				continue
			}
			switch entry {
			case 0:
				_, _ = r.numSet()
			case 1:
				_, _ = r.parseSearch()
			case 2:
				_, _ = r.parseFetch()
			case 3:
				_, _ = r.astring("x")
			case 4:
				_, _ = r.flagList(true)
			case 5:
				_, _ = decodeUTF7(s)
			case 6:
				// NOTIFY SET's arguments (RFC 5465 §8).
				_, _ = (&session{r: r}).parseNotifySet()
			}
			_ = r.skip()
		}
	})
}
