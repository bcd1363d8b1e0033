package imapmsg

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// day returns midnight UTC of a date, as go-imap parses SEARCH dates.
func day(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// hdr builds a HEADER search key.
func hdr(key, value string) []imap.SearchCriteriaHeaderField {
	return []imap.SearchCriteriaHeaderField{{Key: key, Value: value}}
}

// msgJapanese is Japanese mail as most Japanese mailers send it: header and
// body in ISO-2022-JP, which is 7-bit and must still be decoded.
var msgJapanese = crlf(
	"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>",
	"Subject: =?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=",
	"Content-Type: text/plain; charset=ISO-2022-JP",
	"Content-Transfer-Encoding: 7bit",
	"",
	"\x1b$BMh=5$N2q5D$N7o$G$9!#\x1b(B",
)

// msgUnparseableFrom has a From field that is no address list.
var msgUnparseableFrom = crlf(
	"From: @@@ weird text",
	"Subject: unparseable",
	"",
	"body",
)

var msgLateDate = crlf(
	"Date: Mon, 02 Jan 2006 23:30:00 -0700",
	"Subject: late",
	"",
	"body",
)

func TestMatch(t *testing.T) {
	on := func(y int, m time.Month, d int) (time.Time, time.Time) {
		return day(y, m, d), day(y, m, d).Add(24 * time.Hour)
	}
	onSince, onBefore := on(2024, 3, 1)
	sentSince, sentBefore := on(2006, 1, 2)
	plusOne := time.FixedZone("", 3600)
	tests := []struct {
		name string
		raw  string
		seq  uint32
		date time.Time // internal date; zero keeps the default
		loc  *time.Location
		c    imap.SearchCriteria
		want bool
	}{
		{"all", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{}, true},
		{"seq in", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}, true},
		{"seq out", msgSimple, 2, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}, false},
		{"seq star", msgSimple, 5, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}, true},
		{"seq star other", msgSimple, 4, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}, false},
		{"seq 7:* past max", msgSimple, 5, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 7, Stop: 0}}}}, true},
		{"seq 7:* below", msgSimple, 4, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 7, Stop: 0}}}}, false},
		{"seq range", msgSimple, 3, time.Time{}, nil, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 2, Stop: 4}}}}, true},
		{"uid in", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 10, Stop: 20}}}}, true},
		{"uid out", msgSimple, 3, time.Time{}, nil, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 10, Stop: 20}}}}, false},
		{"uid star", msgSimple, 5, time.Time{}, nil, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 0, Stop: 0}}}}, true},
		{"uid searchres", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{UID: []imap.UIDSet{imap.SearchRes()}}, false},

		{"since same day", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Since: day(2024, 3, 1)}, true},
		{"since next day", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Since: day(2024, 3, 2)}, false},
		{"before same day", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Before: day(2024, 3, 1)}, false},
		{"before next day", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Before: day(2024, 3, 2)}, true},
		{"on", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Since: onSince, Before: onBefore}, true},
		{"on utc", msgSimple, 1, time.Date(2024, 3, 1, 0, 30, 0, 0, plusOne), nil, imap.SearchCriteria{Since: onSince, Before: onBefore}, false},
		{"on location", msgSimple, 1, time.Date(2024, 3, 1, 0, 30, 0, 0, plusOne), plusOne, imap.SearchCriteria{Since: onSince, Before: onBefore}, true},

		{"senton own zone", msgLateDate, 1, time.Time{}, nil, imap.SearchCriteria{SentSince: sentSince, SentBefore: sentBefore}, true},
		{"sentsince", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{SentSince: day(2006, 1, 3)}, false},
		{"sentbefore", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{SentBefore: day(2006, 1, 3)}, true},
		{"sent no date", msgAlt, 1, time.Time{}, nil, imap.SearchCriteria{SentBefore: day(2030, 1, 1)}, false},

		{"header subject", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "hello")}, true},
		{"header case", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("SUBJECT", "HELLO WORLD")}, true},
		{"header miss", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "nope")}, false},
		{"header present", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Content-Type", "")}, true},
		{"header absent", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("X-Missing", "")}, false},
		{"from", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "ALICE@EXAMPLE")}, true},
		{"cc", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Cc", "doe, john")}, true},
		{"from parsed address", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "alice@example.com")}, true},
		{"from name and address", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "example <ALICE@")}, true},
		{"to second address", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("To", "carol@example.net")}, true},
		{"to not across addresses", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("To", "org>, carol")}, false},
		{"from comments removed", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "user@domain")}, true},
		{"from comment not an address", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "(comment)")}, false},
		{"to behind source route", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("To", "team@example.org")}, true},
		{"to route not matched", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("To", "relay1")}, false},
		{"no group name placeholder", crlf("Cc: : a@example.com;", "", "x"), 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Cc", "missing_group")}, false},
		{"cc in unnamed group", crlf("Cc: : a@example.com;", "", "x"), 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Cc", "a@example.com")}, true},
		{"bcc behind route", msgGroups, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Bcc", "real@example.com")}, true},
		{"bcc unparseable entries searched raw", msgGroups, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Bcc", "only a comment")}, true},
		{"cc group name", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Cc", "undisclosed")}, true},
		{"from unparseable raw", msgUnparseableFrom, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "weird text")}, true},
		{"subject raw", msgAddressComments, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "[list] comments (fwd)")}, true},
		{"iso-2022-jp subject", msgJapanese, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "会議")}, true},
		{"iso-2022-jp from name", msgJapanese, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "山田")}, true},
		{"iso-2022-jp body", msgJapanese, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"来週の会議"}}, true},
		{"iso-2022-jp body miss", msgJapanese, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"再来週"}}, false},
		{"bcc absent", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Bcc", "alice")}, false},
		{"rfc2047 subject", msgEncoded, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "GRÜSSE")}, true},
		{"rfc2047 from", msgEncoded, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("From", "jörg müller")}, true},
		{"rfc2047 latin1 to", msgEncoded, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("To", "ANDRÉ")}, true},
		{"8bit subject", msgUTF8Header, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "KÖLN")}, true},
		{"latin1 subject", msgLatin1Header, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "CAFÉ")}, true},
		{"nul subject", msgNUL, 1, time.Time{}, nil, imap.SearchCriteria{Header: hdr("Subject", "byte")}, true},

		{"body", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"this is a TEST"}}, true},
		{"body not header", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"Hello world"}}, false},
		{"body qp soft break", msgAlt, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"CAFÉ au lait soft break"}}, true},
		{"body html", msgAlt, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"<b>html</b>"}}, true},
		{"body latin1 qp", msgEncoded, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"schöne grüße"}}, true},
		{"body base64 lenient", msgBadEncodings, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"hello world"}}, true},
		{"body unknown charset", msgBadEncodings, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"unknown charset text"}}, true},
		{"body downgraded", msgWrongBoundary, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"really there"}}, true},
		{"body embedded", msgRFC822, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"inner plain"}}, true},
		{"body embedded header", msgRFC822, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"INNER SUBJECT"}}, true},
		{"body attachment", msgMixed, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"PDF"}}, false},
		{"body fold", msgUTF8Header, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"STRASSE"}}, true},
		{"body no separator", msgNoSeparator, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"starts the body"}}, false},
		{"text no separator", msgNoSeparator, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"starts the body"}}, true},
		{"body nul", msgNUL, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"with"}}, true},
		{"body empty message", msgEmpty, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"x"}}, false},
		{"body deep", deepMultipart(10000), 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"deep text"}}, true},

		{"text header", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"hello WORLD"}}, true},
		{"text body", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"is a test"}}, true},
		{"text field name", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"in-reply-to"}}, true},
		{"text miss", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"zzz"}}, false},
		{"text both", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Text: []string{"bob", "test"}}, true},

		{"larger yes", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Larger: int64(len(msgSimple)) - 1}, true},
		{"larger no", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Larger: int64(len(msgSimple))}, false},
		{"smaller yes", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Smaller: int64(len(msgSimple)) + 1}, true},
		{"smaller no", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Smaller: int64(len(msgSimple))}, false},

		{"flag", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, true},
		{"flag case", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Flag: []imap.Flag{"\\SEEN", "$label"}}, true},
		{"flag missing", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, false},
		{"notflag", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, true},
		{"notflag present", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{NotFlag: []imap.Flag{"$LABEL"}}, false},

		{"not", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: hdr("Subject", "hello")}}}, false},
		{"not miss", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"nope"}}}}, true},
		{"or second", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"nope"}}, {Body: []string{"test"}}}}}, true},
		{"or neither", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"nope"}}, {Flag: []imap.Flag{imap.FlagDraft}}}}}, false},
		{"and", msgSimple, 1, time.Time{}, nil, imap.SearchCriteria{Body: []string{"test"}, Flag: []imap.Flag{imap.FlagDraft}}, false},

		{"modseq yes", msgSimple, 3, time.Time{}, nil, imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 3}}, true},
		{"modseq no", msgSimple, 3, time.Time{}, nil, imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 4}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMsg([]byte(tt.raw))
			if !tt.date.IsZero() {
				msg.date = tt.date
			}
			opens := 0
			open := func() (io.ReadCloser, error) {
				opens++
				return io.NopCloser(bytes.NewReader(msg.raw)), nil
			}
			sc := SearchContext{MaxSeqNum: 5, MaxUID: 50, Location: tt.loc}
			got, err := Match(&tt.c, msg.facts(tt.seq), open, sc)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			if opens > 1 {
				t.Errorf("message opened %d times", opens)
			}
			if !NeedsBodyForSearch(&tt.c) && opens > 0 {
				t.Errorf("message opened although no key needs it")
			}
		})
	}
}

func TestNeedsBodyForSearch(t *testing.T) {
	tests := []struct {
		name string
		c    imap.SearchCriteria
		want bool
	}{
		{"empty", imap.SearchCriteria{}, false},
		{"metadata", imap.SearchCriteria{Since: day(2020, 1, 1), Larger: 4, Flag: []imap.Flag{imap.FlagSeen}, SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}, false},
		{"header", imap.SearchCriteria{Header: hdr("From", "x")}, true},
		{"body", imap.SearchCriteria{Body: []string{"x"}}, true},
		{"text", imap.SearchCriteria{Text: []string{"x"}}, true},
		{"sentsince", imap.SearchCriteria{SentSince: day(2020, 1, 1)}, true},
		{"sentbefore", imap.SearchCriteria{SentBefore: day(2020, 1, 1)}, true},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"x"}}}}, true},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{}, {Text: []string{"x"}}}}}, true},
		{"or metadata", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Larger: 1}, {Smaller: 1}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsBodyForSearch(&tt.c); got != tt.want {
				t.Errorf("NeedsBodyForSearch = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchOpenError(t *testing.T) {
	open := func() (io.ReadCloser, error) { return nil, errors.New("gone") }
	f := newTestMsg([]byte(msgSimple)).facts(1)
	if _, err := Match(&imap.SearchCriteria{Body: []string{"x"}}, f, open, SearchContext{}); err == nil {
		t.Errorf("open error was not returned")
	}
	ok, err := Match(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, f, open, SearchContext{})
	if err != nil || !ok {
		t.Errorf("metadata-only Match = %v, %v", ok, err)
	}
}

func TestSearchThroughServer(t *testing.T) {
	srv := startServer(t, corpusMsgs())
	c := srv.dial(t)
	tests := []struct {
		name string
		c    imap.SearchCriteria
		want []imap.UID
	}{
		{"subject", imap.SearchCriteria{Header: hdr("Subject", "inner subject")}, []imap.UID{imap.UID(corpusSeq("rfc822") * 10)}},
		{"body", imap.SearchCriteria{Body: []string{"inner plain"}}, []imap.UID{imap.UID(corpusSeq("rfc822") * 10)}},
		{"uid star", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 0, Stop: 0}}}}, []imap.UID{imap.UID(len(corpus) * 10)}},
		{"text everywhere", imap.SearchCriteria{Text: []string{"deep text"}}, []imap.UID{imap.UID(corpusSeq("deepmultipart") * 10)}},
		{"from without comments", imap.SearchCriteria{Header: hdr("From", "user@domain")}, []imap.UID{imap.UID(corpusSeq("addresscomments") * 10)}},
		{"from decoded name", imap.SearchCriteria{Header: hdr("From", "JÖRG MÜLLER <joerg@")}, []imap.UID{imap.UID(corpusSeq("encoded") * 10)}},
		{"to behind route", imap.SearchCriteria{Header: hdr("To", "team@example.org")}, []imap.UID{imap.UID(corpusSeq("addresscomments") * 10)}},
		{"from comment text", imap.SearchCriteria{Header: hdr("From", "comment")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := c.UIDSearch(&tt.c, nil).Wait()
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if got := data.AllUIDs(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UIDs = %v, want %v", got, tt.want)
			}
		})
	}
}
