package imapserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

// attachment is the binary payload of mixedMessage.
var attachment = []byte("\x00\x01\x02binary\xff\xfe payload\r\n\x00")

// mixedMessage is a multipart/mixed message with a text part and a base64
// attachment.
func mixedMessage() string {
	b64 := base64.StdEncoding.EncodeToString(attachment)
	return "From: Bob Sender <bob@example.org>\r\n" +
		"To: Alice <alice@example.test>\r\n" +
		"Cc: carol@example.net\r\n" +
		"Subject: Quarterly report\r\n" +
		"Date: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
		"Message-ID: <report@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n" +
		"\r\n" +
		"preamble\r\n" +
		"--XYZ\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n" +
		"See the attached numbers.\r\n" +
		"--XYZ\r\n" +
		"Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
		"Content-Disposition: attachment; filename=\"data.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		b64 + "\r\n" +
		"--XYZ--\r\n"
}

func (e *testEnv) deliverAt(t testing.TB, msg string, date time.Time, flags ...string) uint32 {
	t.Helper()
	res, err := e.store.Deliver(context.Background(), mailstore.Delivery{
		Targets:      []mailstore.DeliveryTarget{{UserID: e.user.ID, Mailbox: "INBOX", Flags: flags}},
		Body:         strings.NewReader(msg),
		InternalDate: date,
	})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	return res[0].UID
}

func TestSelectExamine(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	uid2 := env.deliver(t, testMessage("two", "bob@example.org", "x"))
	inbox, _ := env.store.GetMailbox(context.Background(), env.user.ID, "INBOX")
	c := env.login(t, nil)

	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 2 || data.UIDValidity != inbox.UIDValidity || data.UIDNext != imap.UID(uid2+1) {
		t.Fatalf("SELECT: %+v", data)
	}
	if !slices.Contains(data.PermanentFlags, imap.FlagWildcard) || !slices.Contains(data.PermanentFlags, imap.FlagSeen) {
		t.Errorf("PERMANENTFLAGS %v", data.PermanentFlags)
	}
	if !slices.Contains(data.Flags, imap.FlagDeleted) {
		t.Errorf("FLAGS %v", data.Flags)
	}

	data, err = c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 2 || len(data.PermanentFlags) != 0 {
		t.Fatalf("EXAMINE: %+v", data)
	}
	wantCode(t, wait2(c.Select("nosuch", nil).Wait()), imap.ResponseCodeNonExistent, "SELECT of a missing mailbox")
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v after a failed SELECT", c.State())
	}
	data, err = c.Select("inbox", nil).Wait()
	if err != nil || data.NumMessages != 2 {
		t.Fatalf("SELECT inbox: %+v %v", data, err)
	}
}

func TestFetchItems(t *testing.T) {
	env := newTestEnv(t, nil)
	msg := mixedMessage()
	date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)
	uid := env.deliverAt(t, msg, date, "$Important")
	c := env.selectInbox(t, nil)

	header := msg[:strings.Index(msg, "\r\n\r\n")+4]
	text := msg[len(header):]
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	txt := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	whole := &imap.FetchItemBodySection{Peek: true}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 10}}
	part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Flags: true, UID: true, RFC822Size: true, InternalDate: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{whole, hdr, txt, part1},
		BinarySection: []*imap.FetchItemBinarySection{bin},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if uint32(m.UID) != uid || m.RFC822Size != int64(len(msg)) || !m.InternalDate.Equal(date) {
		t.Errorf("UID %d size %d date %v", m.UID, m.RFC822Size, m.InternalDate)
	}
	if !slices.Equal(noRecent(m.Flags), []imap.Flag{"$Important"}) {
		t.Errorf("FLAGS %v", m.Flags)
	}
	if got := m.FindBodySection(whole); string(got) != msg {
		t.Errorf("BODY[] differs from the delivered message:\n%q", got)
	}
	if got := m.FindBodySection(hdr); string(got) != header {
		t.Errorf("BODY[HEADER] = %q", got)
	}
	if got := m.FindBodySection(txt); string(got) != text {
		t.Errorf("BODY[TEXT] = %q", got)
	}
	if got := m.FindBodySection(part1); string(got) != "See the attached numbers." {
		t.Errorf("BODY[1] = %q", got)
	}
	if got := m.FindBinarySection(bin); !bytes.Equal(got, attachment) {
		t.Errorf("BINARY[2] = %q, want %q", got, attachment)
	}
	env1 := m.Envelope
	if env1 == nil || env1.Subject != "Quarterly report" || len(env1.From) != 1 || env1.From[0].Addr() != "bob@example.org" ||
		env1.From[0].Name != "Bob Sender" || len(env1.Cc) != 1 || env1.MessageID != "report@example.org" ||
		!env1.Date.Equal(time.Date(2006, 1, 3, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("ENVELOPE %+v", env1)
	}
	bs, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || !strings.EqualFold(bs.Subtype, "mixed") || len(bs.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	p1, ok1 := bs.Children[0].(*imap.BodyStructureSinglePart)
	p2, ok2 := bs.Children[1].(*imap.BodyStructureSinglePart)
	if !ok1 || !ok2 || !strings.EqualFold(p1.Type, "text") || !strings.EqualFold(p2.Subtype, "octet-stream") ||
		!strings.EqualFold(p2.Encoding, "base64") || p2.Filename() != "data.bin" {
		t.Errorf("BODYSTRUCTURE parts %#v %#v", bs.Children[0], bs.Children[1])
	}

	// Partial fetch.
	m = fetchOne(t, c, uid, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{partial}})
	if got := m.FindBodySection(partial); string(got) != msg[:10] {
		t.Errorf("BODY[]<0.10> = %q", got)
	}
	// Nothing above was a non-PEEK fetch: still unseen.
	m = fetchOne(t, c, uid, &imap.FetchOptions{Flags: true})
	if hasFlag(m.Flags, imap.FlagSeen) {
		t.Errorf("PEEK fetches set \\Seen: %v", m.Flags)
	}
	// A FETCH of nothing known is OK and empty.
	if msgs, err := c.Fetch(imap.UIDSetNum(999), &imap.FetchOptions{UID: true}).Collect(); err != nil || len(msgs) != 0 {
		t.Errorf("UID FETCH 999: %v %v", msgs, err)
	}
}

func TestFetchSetsSeen(t *testing.T) {
	env := newTestEnv(t, nil)
	uid1 := env.deliver(t, testMessage("one", "bob@example.org", "x"))
	uid2 := env.deliver(t, testMessage("two", "bob@example.org", "x"))
	c := env.login(t, nil)

	// EXAMINE: a non-PEEK fetch changes nothing.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, uid1, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}})
	if hasFlag(m.Flags, imap.FlagSeen) {
		t.Fatalf("non-PEEK FETCH in EXAMINE set \\Seen")
	}
	if list, _ := env.store.ListMessages(context.Background(), env.inboxID, mailstore.UIDs(uid1)); list[0].HasFlag(`\Seen`) {
		t.Fatalf("non-PEEK FETCH in EXAMINE stored \\Seen")
	}

	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// FLAGS come with the data even when not asked for.
	m = fetchOne(t, c, uid1, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}})
	if !hasFlag(m.Flags, imap.FlagSeen) {
		t.Fatalf("non-PEEK FETCH response flags %v", m.Flags)
	}
	m = fetchOne(t, c, uid2, &imap.FetchOptions{Flags: true, BinarySection: []*imap.FetchItemBinarySection{{}}})
	if !hasFlag(m.Flags, imap.FlagSeen) {
		t.Fatalf("BINARY[] response flags %v", m.Flags)
	}
	list, _ := env.store.ListMessages(context.Background(), env.inboxID, nil)
	for _, m := range list {
		if !m.HasFlag(`\Seen`) {
			t.Errorf("UID %d not \\Seen in the store", m.UID)
		}
	}
}

func storeFlags(t testing.TB, c *imapclient.Client, set imap.NumSet, op imap.StoreFlagsOp, silent bool, flags ...imap.Flag) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Store(set, &imap.StoreFlags{Op: op, Silent: silent, Flags: flags}, nil).Collect()
	if err != nil {
		t.Fatalf("STORE: %v", err)
	}
	return msgs
}

func TestStore(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 3; i++ {
		env.deliver(t, testMessage("m", "bob@example.org", "x"))
	}
	c := env.selectInbox(t, nil)

	msgs := storeFlags(t, c, imap.SeqSet{{Start: 1, Stop: 2}}, imap.StoreFlagsAdd, false, imap.FlagFlagged, "$Junk")
	if len(msgs) != 2 || msgs[0].SeqNum != 1 || msgs[1].SeqNum != 2 {
		t.Fatalf("STORE +FLAGS: %+v", msgs)
	}
	for _, m := range msgs {
		if !hasFlag(m.Flags, imap.FlagFlagged) || !hasFlag(m.Flags, "$Junk") {
			t.Errorf("STORE +FLAGS: %d %v", m.SeqNum, m.Flags)
		}
	}
	msgs = storeFlags(t, c, imap.SeqSetNum(1), imap.StoreFlagsDel, false, "$Junk")
	if len(msgs) != 1 || !slices.Equal(noRecent(msgs[0].Flags), []imap.Flag{imap.FlagFlagged}) {
		t.Fatalf("STORE -FLAGS: %+v", msgs)
	}
	msgs = storeFlags(t, c, imap.SeqSetNum(2), imap.StoreFlagsSet, false, imap.FlagAnswered)
	if len(msgs) != 1 || !slices.Equal(noRecent(msgs[0].Flags), []imap.Flag{imap.FlagAnswered}) {
		t.Fatalf("STORE FLAGS: %+v", msgs)
	}
	if msgs = storeFlags(t, c, imap.SeqSetNum(3), imap.StoreFlagsAdd, true, imap.FlagDraft); len(msgs) != 0 {
		t.Fatalf("STORE +FLAGS.SILENT answered %+v", msgs)
	}
	// UID STORE answers with the UID.
	msgs = storeFlags(t, c, imap.UIDSetNum(3), imap.StoreFlagsAdd, false, imap.FlagSeen)
	if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].SeqNum != 3 || !hasFlag(msgs[0].Flags, imap.FlagDraft) {
		t.Fatalf("UID STORE: %+v", msgs)
	}

	list, _ := env.store.ListMessages(context.Background(), env.inboxID, nil)
	want := [][]string{{`\Flagged`}, {`\Answered`}, {`\Draft`, `\Seen`}}
	for i, m := range list {
		if !slices.Equal(m.Flags, want[i]) {
			t.Errorf("stored flags of %d: %v, want %v", m.UID, m.Flags, want[i])
		}
	}
	// Keywords can be searched for.
	storeFlags(t, c, imap.SeqSetNum(3), imap.StoreFlagsAdd, true, "$Junk")
	sd, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{"$Junk"}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllSeqNums(), []uint32{3}) {
		t.Fatalf("SEARCH KEYWORD $Junk: %v %v", sd, err)
	}
}

func TestSearch(t *testing.T) {
	env := newTestEnv(t, nil)
	day := func(d int) time.Time { return time.Date(2024, 1, d, 12, 0, 0, 0, time.UTC) }
	env.deliverAt(t, testMessage("Lunch plans", "Bob <bob@example.org>", "pizza or sushi"), day(1), `\Seen`)
	env.deliverAt(t, testMessage("Invoice 42", "billing@shop.example", strings.Repeat("amount due ", 200)), day(5), `\Flagged`)
	env.deliverAt(t, testMessage("Re: Lunch plans", "carol@example.net", "sushi it is"), day(10))
	c := env.selectInbox(t, nil)

	for _, tc := range []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"FROM bob", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "bob"}}}, []uint32{1}},
		{"SUBJECT lunch", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}, []uint32{1, 3}},
		{"BODY sushi", imap.SearchCriteria{Body: []string{"sushi"}}, []uint32{1, 3}},
		{"TEXT invoice", imap.SearchCriteria{Text: []string{"invoice"}}, []uint32{2}},
		{"SINCE 5", imap.SearchCriteria{Since: day(5)}, []uint32{2, 3}},
		{"BEFORE 5", imap.SearchCriteria{Before: day(5)}, []uint32{1}},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"FLAGGED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
		{"LARGER 1000", imap.SearchCriteria{Larger: 1000}, []uint32{2}},
		{"SMALLER 1000", imap.SearchCriteria{Smaller: 1000}, []uint32{1, 3}},
		{"UID 2:*", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 0}}}}, []uint32{2, 3}},
		{"1,3", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1, 3)}}, []uint32{1, 3}},
		{"NOT FROM bob", imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "bob"}}}}}, []uint32{2, 3}},
		{"OR FLAGGED SEEN", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Flag: []imap.Flag{imap.FlagSeen}}}}}, []uint32{1, 2}},
		{"nothing", imap.SearchCriteria{Body: []string{"no such text"}}, nil},
	} {
		sd, err := c.Search(&tc.c, nil).Wait()
		if err != nil {
			t.Errorf("SEARCH %s: %v", tc.name, err)
			continue
		}
		if got := sd.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s: %v, want %v", tc.name, got, tc.want)
		}
		usd, err := c.UIDSearch(&tc.c, nil).Wait()
		if err != nil {
			t.Errorf("UID SEARCH %s: %v", tc.name, err)
			continue
		}
		var got []uint32
		for _, u := range usd.AllUIDs() {
			got = append(got, uint32(u))
		}
		if !slices.Equal(got, tc.want) { // UIDs equal sequence numbers here
			t.Errorf("UID SEARCH %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// ESEARCH.
	sd, err := c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sd.Min != 2 || sd.Max != 3 || sd.Count != 2 {
		t.Fatalf("SEARCH RETURN (MIN MAX COUNT): %+v", sd)
	}
	sd, err = c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnCount: true}).Wait()
	if err != nil || sd.Count != 3 {
		t.Fatalf("UID SEARCH RETURN (COUNT): %+v %v", sd, err)
	}

	// SEARCHRES (imapclient cannot send SAVE): save, then FETCH $ and
	// SEARCH with $.
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	rawOK := func(tag, line string) []string {
		t.Helper()
		untagged, tagged := r.cmd(tag, line)
		if !strings.HasPrefix(tagged, tag+" OK") {
			t.Fatalf("%s: %q", line, tagged)
		}
		return untagged
	}
	rawOK("s1", "SEARCH RETURN (SAVE) SUBJECT lunch")
	if got := rawOK("f1", "FETCH $ (UID)"); !slices.Equal(got, []string{"* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"}) {
		t.Fatalf("FETCH $: %q", got)
	}
	if got := rawOK("s2", "SEARCH $ UNSEEN"); !slices.Equal(got, []string{"* SEARCH 3"}) {
		t.Fatalf("SEARCH $ UNSEEN: %q", got)
	}
	// SAVE with MIN only saves the lowest.
	rawOK("s3", "UID SEARCH RETURN (SAVE MIN) ALL")
	if got := rawOK("f2", "UID FETCH $ (FLAGS)"); !slices.Equal(got, []string{`* 1 FETCH (UID 1 FLAGS (\Seen))`}) {
		t.Fatalf("UID FETCH $ after SAVE MIN: %q", got)
	}
	// A failed SEARCH ... SAVE empties the result; an empty $ matches nothing.
	rawOK("s4", "SEARCH RETURN (SAVE) SUBJECT nosuchsubject")
	if got := rawOK("f3", "FETCH $ (UID)"); len(got) != 0 {
		t.Fatalf("FETCH $ after an empty SAVE: %q", got)
	}
}

func TestCopyMove(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 4; i++ {
		env.deliver(t, testMessage("m", "bob@example.org", "x"))
	}
	archive, _ := env.store.GetMailbox(context.Background(), env.user.ID, "Archive")
	rec := newRecorder()
	c := env.selectInbox(t, rec.options())

	cd, err := c.Copy(imap.SeqSet{{Start: 1, Stop: 2}}, "Archive").Wait()
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if cd.UIDValidity != archive.UIDValidity || cd.SourceUIDs.String() != "1:2" || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPYUID %d %v %v", cd.UIDValidity, cd.SourceUIDs, cd.DestUIDs)
	}
	_, err = c.Copy(imap.SeqSetNum(1), "Nosuch").Wait()
	wantCode(t, err, imap.ResponseCodeTryCreate, "COPY to a missing mailbox")
	_, err = c.Copy(imap.UIDSetNum(999), "Nosuch").Wait()
	wantCode(t, err, imap.ResponseCodeTryCreate, "COPY of nothing to a missing mailbox")

	md, err := c.Move(imap.UIDSet{{Start: 2, Stop: 3}}, "Archive").Wait()
	if err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	if md.UIDValidity != archive.UIDValidity || md.SourceUIDs.String() != "2:3" || md.DestUIDs.String() != "3:4" {
		t.Fatalf("MOVE COPYUID %d %v %v", md.UIDValidity, md.SourceUIDs, md.DestUIDs)
	}
	if a, b := wait(t, rec.expunge, "EXPUNGE for MOVE"), wait(t, rec.expunge, "EXPUNGE for MOVE"); a != 2 || b != 2 {
		t.Fatalf("MOVE expunged %d %d, want 2 2", a, b)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("after MOVE the client counts %d messages", n)
	}
	if got := fetchUIDs(t, c); !slices.Equal(got, []uint32{1, 4}) {
		t.Fatalf("INBOX after MOVE: %v", got)
	}
	_, err = c.Move(imap.SeqSetNum(1), "Nosuch").Wait()
	wantCode(t, err, imap.ResponseCodeTryCreate, "MOVE to a missing mailbox")
	if got := env.uids(t, archive.ID); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("Archive: %v", got)
	}
}

func TestExpunge(t *testing.T) {
	env := newTestEnv(t, nil)
	for i := 0; i < 5; i++ {
		env.deliver(t, testMessage("m", "bob@example.org", "x"))
	}
	c := env.selectInbox(t, nil)

	storeFlags(t, c, imap.SeqSetNum(2, 3), imap.StoreFlagsAdd, true, imap.FlagDeleted)
	seqs, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint32{2, 2}) {
		t.Fatalf("EXPUNGE: %v, want [2 2]", seqs)
	}
	if got := fetchUIDs(t, c); !slices.Equal(got, []uint32{1, 4, 5}) {
		t.Fatalf("after EXPUNGE: %v", got)
	}

	// UID EXPUNGE removes only the named messages.
	storeFlags(t, c, imap.SeqSetNum(1, 2), imap.StoreFlagsAdd, true, imap.FlagDeleted)
	seqs, err = c.UIDExpunge(imap.UIDSetNum(4, 5)).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("UID EXPUNGE 4,5: %v, want [2]", seqs)
	}
	if got := fetchUIDs(t, c); !slices.Equal(got, []uint32{1, 5}) {
		t.Fatalf("after UID EXPUNGE: %v", got)
	}
	if got := env.uids(t, env.inboxID); !slices.Equal(got, []uint32{1, 5}) {
		t.Fatalf("store after UID EXPUNGE: %v", got)
	}

	// CLOSE expunges silently.
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE: %v", err)
	}
	if got := env.uids(t, env.inboxID); !slices.Equal(got, []uint32{5}) {
		t.Fatalf("store after CLOSE: %v", got)
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliverAt(t, testMessage("m", "bob@example.org", "x"), time.Time{}, `\Deleted`)
	env.deliver(t, testMessage("n", "bob@example.org", "x"))
	c := env.login(t, nil)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}

	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err == nil {
		t.Fatal("STORE in EXAMINE succeeded")
	}
	if _, err := c.UIDExpunge(imap.UIDSetNum(1)).Collect(); err == nil {
		t.Fatal("UID EXPUNGE in EXAMINE succeeded")
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Archive").Wait(); err == nil {
		t.Fatal("MOVE in EXAMINE succeeded")
	}
	// EXPUNGE removes nothing.
	if seqs, err := c.Expunge().Collect(); len(seqs) != 0 {
		t.Fatalf("EXPUNGE in EXAMINE: %v %v", seqs, err)
	}
	// COPY reads only: allowed.
	if _, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("COPY in EXAMINE: %v", err)
	}
	// CLOSE leaves the mailbox alone, and succeeds.
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE in EXAMINE: %v", err)
	}
	// (imapclient updates its state just after Wait returns: NOOP first.)
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v after CLOSE", c.State())
	}
	if got := env.uids(t, env.inboxID); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("store after EXAMINE session: %v", got)
	}
	list, _ := env.store.ListMessages(context.Background(), env.inboxID, nil)
	if len(list[1].Flags) != 0 {
		t.Fatalf("flags changed in EXAMINE: %v", list[1].Flags)
	}
}
