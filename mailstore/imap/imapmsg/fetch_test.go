package imapmsg

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// sec builds a body section item from a compact spec: part numbers joined
// by dots, optionally followed by a specifier ("HEADER", "TEXT", "MIME",
// "HEADER.FIELDS a b", "HEADER.FIELDS.NOT a b").
func sec(spec string) *imap.FetchItemBodySection {
	s := &imap.FetchItemBodySection{Peek: true}
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return s
	}
	head, names := fields[0], fields[1:]
	for head != "" {
		var tok string
		tok, head, _ = strings.Cut(head, ".")
		n := 0
		isNum := tok != ""
		for _, c := range tok {
			if c < '0' || c > '9' {
				isNum = false
				break
			}
			n = n*10 + int(c-'0')
		}
		if !isNum {
			if head != "" {
				tok += "." + head
			}
			head = ""
			switch tok {
			case "HEADER.FIELDS":
				s.Specifier, s.HeaderFields = imap.PartSpecifierHeader, names
			case "HEADER.FIELDS.NOT":
				s.Specifier, s.HeaderFieldsNot = imap.PartSpecifierHeader, names
			default:
				s.Specifier = imap.PartSpecifier(tok)
			}
			break
		}
		s.Part = append(s.Part, n)
	}
	return s
}

// sectionTests are BODY[section] cases shared by the direct and the
// loopback tests. want is byte-exact.
var sectionTests = []struct {
	msg, spec string
	partial   *imap.SectionPartial
	want      string
}{
	{"simple", "", nil, msgSimple},
	{"simple", "HEADER", nil, simpleHeader},
	{"simple", "TEXT", nil, simpleBody},
	{"simple", "1", nil, simpleBody},
	{"simple", "1.MIME", nil, simpleHeader},
	{"simple", "2", nil, ""},
	{"simple", "1.1", nil, ""},
	{"simple", "1.HEADER", nil, ""},
	{"simple", "1.TEXT", nil, ""},
	{"simple", "MIME", nil, ""},
	{"simple", "HEADER.FIELDS subject FROM", nil, "From: Alice Example <alice@example.com>\r\nSubject: Hello world\r\n\r\n"},
	{"simple", "HEADER.FIELDS X-Nothing", nil, "\r\n"},
	{"simple", "HEADER.FIELDS.NOT Return-Path To Cc Date Message-ID In-Reply-To Content-Type", nil,
		"From: Alice Example <alice@example.com>\r\nSubject: Hello world\r\n\r\n"},
	{"simple", "", &imap.SectionPartial{Offset: 0, Size: 10}, msgSimple[:10]},
	{"simple", "", &imap.SectionPartial{Offset: 10, Size: 20}, msgSimple[10:30]},
	{"simple", "", &imap.SectionPartial{Offset: int64(len(msgSimple)) - 3, Size: 100}, msgSimple[len(msgSimple)-3:]},
	{"simple", "", &imap.SectionPartial{Offset: int64(len(msgSimple)), Size: 10}, ""},
	{"simple", "", &imap.SectionPartial{Offset: 100000, Size: 10}, ""},
	{"simple", "TEXT", &imap.SectionPartial{Offset: 5, Size: 1000}, simpleBody[5:]},
	{"simple", "1", &imap.SectionPartial{Offset: 0, Size: 0}, ""},

	{"alternative", "1", nil, altPart1},
	{"alternative", "1.MIME", nil, altPart1MIME},
	{"alternative", "2", nil, altPart2},
	{"alternative", "2.MIME", nil, "Content-Type: text/html; charset=utf-8\r\n\r\n"},
	{"alternative", "3", nil, ""},
	{"alternative", "0", nil, ""},
	{"alternative", "1.1", nil, ""},
	{"alternative", "TEXT", nil, msgAlt[strings.Index(msgAlt, "This is the preamble"):]},
	{"alternative", "1", &imap.SectionPartial{Offset: 3, Size: 6}, altPart1[3:9]},

	{"mixed", "1", nil, "See attached."},
	{"mixed", "2", nil, pdfBase64[:20] + "\r\n" + pdfBase64[20:]},
	{"mixed", "2.MIME", nil, msgMixed[strings.Index(msgMixed, "Content-Type: application/pdf"):strings.Index(msgMixed, pdfBase64[:20])]},

	{"nested", "1", nil, crlf("--inner", "Content-Type: text/plain", "", "plain body", "--inner", "Content-Type: text/html", "", "<p>html body</p>", "--inner--")},
	{"nested", "1.1", nil, "plain body"},
	{"nested", "1.2", nil, "<p>html body</p>"},
	{"nested", "1.2.MIME", nil, "Content-Type: text/html\r\n\r\n"},
	{"nested", "1.3", nil, ""},
	{"nested", "2", nil, "iVBORw0KGgo="},

	{"rfc822", "2", nil, embeddedPart},
	{"rfc822", "2.HEADER", nil, embeddedHeader},
	{"rfc822", "2.TEXT", nil, embeddedBody},
	{"rfc822", "2.MIME", nil, "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"},
	{"rfc822", "2.HEADER.FIELDS Subject", nil, "Subject: inner subject\r\n\r\n"},
	{"rfc822", "2.HEADER.FIELDS.NOT From To Date Message-ID Content-Type", nil, "Subject: inner subject\r\n\r\n"},
	{"rfc822", "2.1", nil, "inner plain"},
	{"rfc822", "2.2", nil, "<i>inner html</i>"},
	{"rfc822", "2.2.MIME", nil, "Content-Type: text/html\r\n\r\n"},
	{"rfc822", "2.3", nil, ""},
	{"rfc822", "1.HEADER", nil, ""},
	{"rfc822", "2.HEADER", &imap.SectionPartial{Offset: 6, Size: 6}, embeddedHeader[6:12]},

	{"digest", "1.HEADER", nil, "Subject: first digest entry\r\nFrom: d1@example.com\r\n\r\n"},
	{"digest", "1.TEXT", nil, "first"},
	{"digest", "1.MIME", nil, "\r\n"},
	{"digest", "2.1", nil, "second"},

	// Without an empty line there is no body (RFC 5322 §2.1): the lines
	// that are no fields stay in the header, as the MTA reads it.
	{"noseparator", "HEADER", nil, "From: x@example.com\r\nSubject: no separator\r\nthis line starts the body\r\nsecond body line\r\n"},
	{"noseparator", "TEXT", nil, ""},
	{"noseparator", "1", nil, ""},

	{"headeronly", "HEADER", nil, msgHeaderOnly},
	{"headeronly", "TEXT", nil, ""},
	{"headeronly", "HEADER.FIELDS Subject", nil, "Subject: header only\r\n\r\n"},

	{"barelf", "1", nil, strings.ReplaceAll(altPart1, "\r\n", "\n")},
	{"barelf", "1.MIME", nil, strings.ReplaceAll(altPart1MIME, "\r\n", "\n")},
	{"barelf", "2", nil, strings.ReplaceAll(altPart2, "\r\n", "\n")},
	{"barelf", "HEADER.FIELDS Subject", nil, "Subject: alternative\n\n"},

	{"missingboundary", "1", nil, crlf("--X", "Content-Type: text/plain", "", "hidden", "--X--")},
	{"missingboundary", "1.1", nil, ""},
	{"wrongboundary", "2", nil, ""},
	{"closeonly", "1", nil, "text\r\n--B--\r\n"},

	{"unterminated", "1", nil, "one"},
	{"unterminated", "2", nil, "two, never closed\r\n"},
	{"unterminated", "2.MIME", nil, "Content-Type: text/plain\r\n\r\n"},

	{"badencodings", "5.HEADER", nil, ""},
	{"badencodings", "5", nil, "U3ViamVjdDogaGlkZGVuDQoNCmJvZHkNCg=="},

	{"nul", "", nil, msgNUL},
	{"nul", "HEADER.FIELDS Subject", nil, "Subject: nul\x00byte\r\n\r\n"},
	{"nul", "TEXT", nil, "body\x00with\x00nuls\r\n"},

	{"empty", "", nil, ""},
	{"empty", "HEADER", nil, ""},
	{"empty", "TEXT", nil, ""},
	{"empty", "1", nil, ""},
	{"empty", "HEADER.FIELDS Subject", nil, "\r\n"},

	{"deeprfc822", "1.1.HEADER", nil, "Subject: level\r\nContent-Type: message/rfc822\r\n\r\n"},

	{"hugeheader", "HEADER.FIELDS From", nil, "From: huge@example.com\r\n\r\n"},
	{"hugeheader", "TEXT", nil, "body after huge header\r\n"},
}

func TestSectionDirect(t *testing.T) {
	for _, tt := range sectionTests {
		t.Run(tt.msg+"/"+tt.spec, func(t *testing.T) {
			s := sec(tt.spec)
			s.Partial = tt.partial
			got := string(Parse([]byte(corpusRaw(tt.msg))).Section(s))
			if got != tt.want {
				t.Errorf("BODY[%s]\n got %q\nwant %q", tt.spec, truncate(got), truncate(tt.want))
			}
		})
	}
}

func TestFetchBodySections(t *testing.T) {
	srv := startServer(t, corpusMsgs())
	c := srv.dial(t)
	for _, tt := range sectionTests {
		t.Run(tt.msg+"/"+tt.spec, func(t *testing.T) {
			s := sec(tt.spec)
			s.Partial = tt.partial
			buf, err := fetchOne(t, c, corpusSeq(tt.msg), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{s}})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			got := buf.FindBodySection(s)
			if got == nil && tt.want != "" {
				t.Fatalf("BODY[%s] missing from response", tt.spec)
			}
			if string(got) != tt.want {
				t.Errorf("BODY[%s]\n got %q\nwant %q", tt.spec, truncate(string(got)), truncate(tt.want))
			}
		})
	}
}

func TestSectionDeepMultipart(t *testing.T) {
	got := string(Parse([]byte(deepMultipart(10000))).Section(sec("1.1.1")))
	if !strings.HasPrefix(got, "--b3\r\nContent-Type: multipart/mixed; boundary=b4\r\n") || !strings.HasSuffix(got, "--b4--\r\n--b3--") {
		t.Errorf("BODY[1.1.1] = %q...%q", truncate(got), got[max(0, len(got)-20):])
	}
}

// truncate shortens long strings in failure messages.
func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestFetchBinary(t *testing.T) {
	tests := []struct {
		msg     string
		part    []int
		partial *imap.SectionPartial
		want    string
		cteErr  bool
	}{
		{"simple", nil, nil, msgSimple, false},
		{"simple", []int{1}, nil, simpleBody, false},
		{"simple", []int{2}, nil, "", false},
		{"mixed", []int{1}, nil, "See attached.", false},
		{"mixed", []int{2}, nil, pdfBytes, false},
		{"mixed", []int{2}, &imap.SectionPartial{Offset: 4, Size: 4}, pdfBytes[4:8], false},
		{"mixed", []int{2}, &imap.SectionPartial{Offset: 400, Size: 4}, "", false},
		{"alternative", []int{1}, nil, "Café au lait soft break.", false},
		{"barelf", []int{1}, nil, "Café au lait soft break.", false},
		{"encoded", []int{1}, nil, "Sch\xf6ne Gr\xfc\xdfe", false},
		{"nested", []int{2}, nil, "\x89PNG\r\n\x1a\n", false},
		{"rfc822", []int{2}, nil, embeddedPart, false},
		{"badencodings", []int{1}, nil, "hello world", false},
		{"badencodings", []int{2}, nil, "a=ZZb=4", false},
		{"badencodings", []int{3}, nil, "", true},
		{"badencodings", []int{5}, nil, "Subject: hidden\r\n\r\nbody\r\n", false},
		{"nul", []int{1}, nil, "body\x00with\x00nuls\r\n", false},
	}
	srv := startServer(t, corpusMsgs())
	c := srv.dial(t)
	for _, tt := range tests {
		t.Run(tt.msg+"/"+partString(tt.part), func(t *testing.T) {
			m := Parse([]byte(corpusRaw(tt.msg)))
			direct, err := m.Binary(tt.part)
			var imapErr *imap.Error
			if tt.cteErr {
				if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeUnknownCTE {
					t.Fatalf("Binary error = %v, want UNKNOWN-CTE", err)
				}
			} else if err != nil {
				t.Fatalf("Binary: %v", err)
			} else if got := string(applyPartial(direct, tt.partial)); got != tt.want {
				t.Errorf("Binary = %q, want %q", got, tt.want)
			}

			item := &imap.FetchItemBinarySection{Part: tt.part, Partial: tt.partial, Peek: true}
			size := &imap.FetchItemBinarySectionSize{Part: tt.part}
			buf, err := fetchOne(t, c, corpusSeq(tt.msg), &imap.FetchOptions{
				UID:               true,
				BinarySection:     []*imap.FetchItemBinarySection{item},
				BinarySectionSize: []*imap.FetchItemBinarySectionSize{size},
			})
			if tt.cteErr {
				if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeUnknownCTE {
					t.Fatalf("fetch error = %v, want NO [UNKNOWN-CTE]", err)
				}
				if buf == nil || buf.UID != imap.UID(corpusSeq(tt.msg)*10) {
					t.Errorf("other items were not written: %+v", buf)
				}
				return
			}
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if got := string(buf.FindBinarySection(item)); got != tt.want {
				t.Errorf("BINARY = %q, want %q", got, tt.want)
			}
			wantSize := uint32(len(direct))
			if n, ok := buf.FindBinarySectionSize(tt.part); !ok || n != wantSize {
				t.Errorf("BINARY.SIZE = %d, %v; want %d", n, ok, wantSize)
			}
		})
	}
}

func TestFetchMetadata(t *testing.T) {
	msg := newTestMsg([]byte(msgSimple))
	srv := startServer(t, []*testMsg{msg})
	c := srv.dial(t)
	buf, err := fetchOne(t, c, 1, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
	})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if buf.UID != 10 {
		t.Errorf("UID = %d", buf.UID)
	}
	if len(buf.Flags) != 2 || buf.Flags[0] != imap.FlagSeen || buf.Flags[1] != "$Label" {
		t.Errorf("FLAGS = %v", buf.Flags)
	}
	if !buf.InternalDate.Equal(msg.date) {
		t.Errorf("INTERNALDATE = %v, want %v", buf.InternalDate, msg.date)
	}
	if buf.RFC822Size != int64(len(msgSimple)) {
		t.Errorf("RFC822.SIZE = %d", buf.RFC822Size)
	}
}

func TestFetchRaw(t *testing.T) {
	msgs := corpusMsgs()
	srv := startServer(t, msgs)
	rc := srv.dialRaw(t)
	simple := corpusSeq("simple")
	n := itoa(int(simple))
	tests := []struct {
		cmd  string
		want string
	}{
		{"FETCH " + n + " RFC822.HEADER", "* " + n + " FETCH (RFC822.HEADER {" + itoa(len(simpleHeader)) + "}\r\n" + simpleHeader + ")\r\n"},
		{"FETCH " + n + " RFC822.TEXT", "* " + n + " FETCH (RFC822.TEXT {" + itoa(len(simpleBody)) + "}\r\n" + simpleBody + ")\r\n"},
		{"FETCH " + n + " RFC822", "* " + n + " FETCH (RFC822 {" + itoa(len(msgSimple)) + "}\r\n" + msgSimple + ")\r\n"},
		{"FETCH " + n + " (FLAGS RFC822.SIZE)", "* " + n + " FETCH (FLAGS (\\Seen $Label) RFC822.SIZE " + itoa(len(msgSimple)) + ")\r\n"},
		{"UID FETCH 10 FLAGS", "* 1 FETCH (UID 10 FLAGS (\\Seen $Label))\r\n"},
		{"FETCH " + n + " BODY", `* 1 FETCH (BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ` + itoa(len(simpleBody)) + " 2))\r\n"},
		{"FETCH " + n + " BODYSTRUCTURE", `* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ` + itoa(len(simpleBody)) + " 2 NIL NIL NIL NIL))\r\n"},
		{"FETCH " + n + " BODY[]<2.3>", "* 1 FETCH (BODY[]<2> {3}\r\n" + msgSimple[2:5] + ")\r\n"},
		{"FETCH " + n + " BODY[]<5000.3>", "* 1 FETCH (BODY[]<5000> {0}\r\n)\r\n"},
		{"FETCH " + n + " ENVELOPE", `* 1 FETCH (ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello world" (("Alice Example" NIL "alice" "example.com")) (("Alice Example" NIL "alice" "example.com")) (("Alice Example" NIL "alice" "example.com")) (("Bob" NIL "bob" "example.org") (NIL NIL "carol" "example.net")) (("Doe, John" NIL "john" "example.com")) NIL "<parent@example.com>" "<simple@example.com>"))` + "\r\n"},
		{"FETCH " + itoa(int(corpusSeq("groups"))) + " ENVELOPE", "* " + itoa(int(corpusSeq("groups"))) + ` FETCH (ENVELOPE (NIL "groups" (("Bad Address" NIL "INVALID_ADDRESS" ".SYNTAX-ERROR.")) ((NIL NIL "MISSING_MAILBOX" ".MISSING-HOST-NAME.")) ((NIL NIL "nobody" ".MISSING-HOST-NAME.")) ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) ((NIL NIL "Team" NIL) (NIL NIL "a" "example.com") ("B" NIL "b" "example.com") (NIL NIL NIL NIL) (NIL NIL "c" "example.com")) ((NIL NIL "@@" ".MISSING-HOST-NAME.") (NIL NIL "foo" ".MISSING-HOST-NAME.") (NIL NIL "real" "example.com")) NIL NIL))` + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			data, status, err := rc.cmd(tt.cmd)
			if err != nil || !strings.HasPrefix(status, "OK") {
				t.Fatalf("%s: status %q, err %v", tt.cmd, status, err)
			}
			if data != tt.want {
				t.Errorf("%s\n got %q\nwant %q", tt.cmd, data, tt.want)
			}
		})
	}
}

func TestFetchForceFlagsAndMarksSeen(t *testing.T) {
	tests := []struct {
		name    string
		options *imap.FetchOptions
		seen    bool
		body    bool
	}{
		{"flags only", &imap.FetchOptions{Flags: true, UID: true}, false, false},
		{"peek", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}, false, true},
		{"body", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}, true, true},
		{"binary peek", &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Peek: true}}}, false, true},
		{"binary", &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Part: []int{1}}}}, true, true},
		{"binary size", &imap.FetchOptions{BinarySectionSize: []*imap.FetchItemBinarySectionSize{{}}}, false, true},
		{"envelope", &imap.FetchOptions{Envelope: true}, false, true},
		{"bodystructure", &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}}, false, true},
		{"metadata", &imap.FetchOptions{InternalDate: true, RFC822Size: true, ModSeq: true}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MarksSeen(tt.options); got != tt.seen {
				t.Errorf("MarksSeen = %v, want %v", got, tt.seen)
			}
			if got := NeedsBody(tt.options); got != tt.body {
				t.Errorf("NeedsBody = %v, want %v", got, tt.body)
			}
		})
	}
}

func TestFetchDoesNotOpenForMetadata(t *testing.T) {
	msg := newTestMsg([]byte(msgSimple))
	msg.openErr = errors.New("must not be opened")
	srv := startServer(t, []*testMsg{msg})
	c := srv.dial(t)
	if _, err := fetchOne(t, c, 1, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true}); err != nil {
		t.Fatalf("metadata fetch opened the message: %v", err)
	}
}

func TestFetchSizeMismatch(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		section *imap.FetchItemBodySection
		want    string
	}{
		{"short stream", int64(len(msgSimple)) + 5, &imap.FetchItemBodySection{Peek: true}, msgSimple + "     "},
		{"long stream", 10, &imap.FetchItemBodySection{Peek: true}, msgSimple[:10]},
		{"short partial", int64(len(msgSimple)) + 5, &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: int64(len(msgSimple)) - 2, Size: 4}}, msgSimple[len(msgSimple)-2:] + "  "},
		{"short parsed", int64(len(msgSimple)) + 2, sec("TEXT"), simpleBody + "  "},
		{"long parsed", int64(len(simpleHeader)), sec("HEADER"), simpleHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMsg([]byte(msgSimple))
			msg.size = tt.size
			srv := startServer(t, []*testMsg{msg})
			c := srv.dial(t)
			options := &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{tt.section}}
			buf, err := fetchOne(t, c, 1, options)
			if err == nil {
				t.Errorf("size mismatch was not reported")
			}
			if buf == nil {
				t.Fatalf("no FETCH response: %v", err)
			}
			if got := string(buf.FindBodySection(tt.section)); got != tt.want {
				t.Errorf("section = %q, want %q", got, tt.want)
			}
			// The connection must still be usable.
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("NOOP after mismatch: %v", err)
			}
			if _, err := fetchOne(t, c, 1, &imap.FetchOptions{Flags: true}); err != nil {
				t.Fatalf("FETCH after mismatch: %v", err)
			}
		})
	}
}

func TestFetchOpenError(t *testing.T) {
	msg := newTestMsg([]byte(msgSimple))
	msg.openErr = errors.New("disk on fire")
	srv := startServer(t, []*testMsg{msg, newTestMsg([]byte(msgSimple))})
	c := srv.dial(t)
	for _, options := range []*imap.FetchOptions{
		{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}},
		{UID: true, Envelope: true},
	} {
		buf, err := fetchOne(t, c, 1, options)
		if err == nil {
			t.Errorf("open error was not reported")
		}
		if buf == nil || buf.UID != 10 {
			t.Errorf("metadata items missing: %+v", buf)
		}
	}
	if _, err := fetchOne(t, c, 2, &imap.FetchOptions{Envelope: true}); err != nil {
		t.Fatalf("FETCH after open error: %v", err)
	}
}

func TestFetchEnvelopeClient(t *testing.T) {
	tests := []struct {
		msg  string
		want imap.Envelope
	}{
		{"simple", imap.Envelope{
			Date:      time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600)),
			Subject:   "Hello world",
			From:      []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.com"}},
			Sender:    []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.com"}},
			ReplyTo:   []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.com"}},
			To:        []imap.Address{{Name: "Bob", Mailbox: "bob", Host: "example.org"}, {Mailbox: "carol", Host: "example.net"}},
			Cc:        []imap.Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}},
			InReplyTo: []string{"parent@example.com"},
			MessageID: "simple@example.com",
		}},
		{"encoded", imap.Envelope{
			Subject: "Grüße aus Köln",
			From:    []imap.Address{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}},
			Sender:  []imap.Address{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}},
			ReplyTo: []imap.Address{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}},
			To:      []imap.Address{{Name: "André", Mailbox: "andre", Host: "example.fr"}},
		}},
		{"utf8header", imap.Envelope{
			Subject: "Grüße aus Köln",
			From:    []imap.Address{{Name: "Jörg", Mailbox: "jörg", Host: "exämple.de"}},
			Sender:  []imap.Address{{Name: "Jörg", Mailbox: "jörg", Host: "exämple.de"}},
			ReplyTo: []imap.Address{{Name: "Jörg", Mailbox: "jörg", Host: "exämple.de"}},
			To:      []imap.Address{{Name: "Zoë", Mailbox: "zoe", Host: "example.com"}},
		}},
		{"latin1header", imap.Envelope{
			Subject: "café crème",
			From:    []imap.Address{{Name: "René", Mailbox: "rene", Host: "example.com"}},
			Sender:  []imap.Address{{Name: "René", Mailbox: "rene", Host: "example.com"}},
			ReplyTo: []imap.Address{{Name: "René", Mailbox: "rene", Host: "example.com"}},
		}},
		{"nul", imap.Envelope{
			Subject: "nul byte",
			From:    []imap.Address{{Mailbox: "nul", Host: "example.com"}},
			Sender:  []imap.Address{{Mailbox: "nul", Host: "example.com"}},
			ReplyTo: []imap.Address{{Mailbox: "nul", Host: "example.com"}},
		}},
		{"empty", imap.Envelope{}},
	}
	srv := startServer(t, corpusMsgs())
	c := srv.dial(t)
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			buf, err := fetchOne(t, c, corpusSeq(tt.msg), &imap.FetchOptions{Envelope: true})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			assertEnvelope(t, buf.Envelope, &tt.want)
		})
	}
}

func TestStreamable(t *testing.T) {
	whole := &imap.FetchItemBodySection{Peek: true}
	tests := []struct {
		name    string
		options *imap.FetchOptions
		want    bool
	}{
		{"body peek", &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{whole}}, true},
		{"body", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}, true},
		{"partial", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Partial: &imap.SectionPartial{Offset: 1, Size: 2}}}}, true},
		{"header", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader}}}, false},
		{"part", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Part: []int{1}}}}, false},
		{"two sections", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{whole, whole}}, false},
		{"with envelope", &imap.FetchOptions{Envelope: true, BodySection: []*imap.FetchItemBodySection{whole}}, false},
		{"with structure", &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}, BodySection: []*imap.FetchItemBodySection{whole}}, false},
		{"with binary", &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{}}, BodySection: []*imap.FetchItemBodySection{whole}}, false},
		{"with binary size", &imap.FetchOptions{BinarySectionSize: []*imap.FetchItemBinarySectionSize{{}}, BodySection: []*imap.FetchItemBodySection{whole}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := streamable(tt.options) != nil; got != tt.want {
				t.Errorf("streamable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFetchLargeStream(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: large\r\n\r\n")
	for i := 0; b.Len() < 300*1024; i++ {
		b.WriteString("line " + itoa(i) + " of a large message body\r\n")
	}
	raw := b.String()
	tests := []struct {
		name    string
		size    int64
		partial *imap.SectionPartial
		want    string
	}{
		{"whole", -1, nil, raw},
		{"partial across buffers", -1, &imap.SectionPartial{Offset: 40000, Size: 100000}, raw[40000:140000]},
		{"partial to end", -1, &imap.SectionPartial{Offset: int64(len(raw)) - 5, Size: 100}, raw[len(raw)-5:]},
		{"short by 70000", int64(len(raw)) + 70000, nil, raw + strings.Repeat(" ", 70000)},
		{"long", 100000, nil, raw[:100000]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMsg([]byte(raw))
			msg.size = tt.size
			srv := startServer(t, []*testMsg{msg})
			c := srv.dial(t)
			s := &imap.FetchItemBodySection{Peek: true, Partial: tt.partial}
			buf, err := fetchOne(t, c, 1, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{s}})
			if (err != nil) != (tt.size >= 0) {
				t.Errorf("error = %v", err)
			}
			if buf == nil {
				t.Fatalf("no response")
			}
			if got := string(buf.FindBodySection(s)); got != tt.want {
				t.Errorf("got %d bytes, want %d; equal prefix: %v", len(got), len(tt.want), strings.HasPrefix(tt.want, got))
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("NOOP: %v", err)
			}
		})
	}
}
