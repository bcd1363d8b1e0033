package imapmsg

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// oddHeaders are messages whose headers test the cached header's edges,
// beside the corpus.
var oddHeaders = []string{
	"From sender@example.com Mon Jan  2 15:04:05 2006\r\nFrom: Mbox <mbox@example.com>\r\nSubject: mbox line\r\n\r\nbody\r\n",
	"From: first@example.com\r\nFrom: second@example.com\r\nSubject: one\r\nSubject: two\r\n\r\n",
	"Subject: folded\r\n over\r\n\tlines\r\nTo: a@example.com,\r\n b@example.com\r\n\r\nbody",
	"Subject : space before colon\r\nFROM: upper@EXAMPLE.com\r\nsubject: second lower\r\n\r\n",
	"\u017fubject: long s\r\nSubject: real\r\n\r\n",
	"X-Before: 1\r\nFrom: =?utf-8?q?Caf=C3=A9_Cr=C3=A8me?= <cafe@example.com>\r\nX-After: 2\r\n\r\n",
	"To: Group: a@example.com, \"B, b\" <b@example.com>;, (comment) c@example.com (C)\r\nBcc: hidden@example.com\r\n\r\n",
	"Subject: no separator\r\nthis line is the body\r\nFrom: not@header.example\r\n",
	"Subject: bare LF\nFrom: lf@example.com\n\nbody\n",
	"Subject: cr at end\r",
	"Date: Tue, 3 Jan 2006 10:00:00 +0900 (JST)\r\nMessage-ID: <a@b> <c@d>\r\nIn-Reply-To: x@y (comment)\r\nReferences: <r1@x>\r\n <r2@x>\r\n\r\n",
	"Reply-To: \r\nSender: <>\r\nCc: ;\r\n\r\n",
	"Subject: \x00nul\x7f\r\nFrom: \xff\xfe@example.com\r\n\r\n",
	"\r\nFrom: after empty line@example.com\r\n",
	" continuation first\r\nSubject: x\r\n\r\n",
}

// cacheCorpus is the corpus and the odd headers.
func cacheCorpus() []string {
	out := make([]string, 0, len(corpus)+len(oddHeaders))
	for _, c := range corpus {
		out = append(out, c.raw)
	}
	return append(out, oddHeaders...)
}

// headerCriteria are search programs the cached header must answer as the
// message does.
func headerCriteria() []*imap.SearchCriteria {
	var out []*imap.SearchCriteria
	for _, field := range []string{"From", "To", "Cc", "Bcc", "Subject", "Sender", "Reply-To", "Message-ID", "In-Reply-To", "References", "Date", "from", "SUBJECT"} {
		for _, v := range []string{"", "example", "EXAMPLE.COM", "café", "user@domain", "a", "one", "two", "Group", "b, b", "comment", "r2@x", "2006", "\u017f", "nul", "=?utf-8?"} {
			out = append(out, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: field, Value: v}}})
		}
	}
	for _, d := range []time.Time{day(2006, 1, 2), day(2006, 1, 3), day(2006, 1, 4), day(1999, 1, 1)} {
		out = append(out,
			&imap.SearchCriteria{SentSince: d},
			&imap.SearchCriteria{SentBefore: d},
			&imap.SearchCriteria{SentSince: d, SentBefore: d.AddDate(0, 0, 1)})
	}
	out = append(out, &imap.SearchCriteria{
		Not: []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "second"}}}},
		Or: [][2]imap.SearchCriteria{{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "b@"}}},
			{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "real"}}},
		}},
	})
	return out
}

// checkCachedAnswers fails when an answer from the cached header of raw
// differs from the answer from raw itself.
func checkCachedAnswers(t *testing.T, raw []byte) {
	t.Helper()
	cached, ok := CachedHeader(raw, true)
	if !ok {
		if len(raw) <= mimeparse.MaxHeaderBytes {
			t.Fatalf("CachedHeader(%.60q, whole) = not ok", raw)
		}
		return
	}
	full, fromCache := Parse(raw), Parse(cached)
	if got, want := fromCache.Envelope(), full.Envelope(); !reflect.DeepEqual(got, want) {
		t.Errorf("%.60q: ENVELOPE from cache %+v, from message %+v", raw, got, want)
	}
	if got, want := fromCache.EnvelopeStructure(), full.EnvelopeStructure(); !reflect.DeepEqual(got, want) {
		t.Errorf("%.60q: envelope structure from cache %+v, from message %+v", raw, got, want)
	}
	hdr, err := ReadHeader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := SortKeyOf(cached, nil), SortKeyOf(hdr, nil); got != want {
		t.Errorf("%.60q: sort key from cache %+v, from message %+v", raw, got, want)
	}
	if got, want := ThreadInfoOf(cached), ThreadInfoOf(hdr); !reflect.DeepEqual(got, want) {
		t.Errorf("%.60q: thread info from cache %+v, from message %+v", raw, got, want)
	}
	criteria := headerCriteria()
	if len(raw) > 1<<16 {
		// Parsing a large message for every program would take seconds.
		criteria = criteria[len(criteria)-20:]
	}
	for _, c := range criteria {
		if !SearchCoveredByCachedHeader(c) {
			t.Fatalf("criteria %+v: not covered", c)
		}
		f := &Facts{Size: int64(len(raw))}
		want, err1 := Match(c, f, openBytes(raw), SearchContext{})
		got, err2 := Match(c, f, openBytes(cached), SearchContext{})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if got != want {
			t.Errorf("%.60q: %+v matches the cache %v, the message %v", raw, c, got, want)
		}
	}
}

// TestCachedHeaderAnswers compares every answer the cached header gives
// (ENVELOPE, SORT keys, THREAD fields, header SEARCH keys) with the
// answer from the whole message, over the corpus of odd messages.
func TestCachedHeaderAnswers(t *testing.T) {
	for _, raw := range cacheCorpus() {
		checkCachedAnswers(t, []byte(raw))
	}
}

// TestCachedHeaderPrefix checks that a cached header made from the first
// bytes of a message is either refused or the one made from the whole.
func TestCachedHeaderPrefix(t *testing.T) {
	for _, raw := range cacheCorpus() {
		if len(raw) > 1<<16 {
			continue
		}
		want, _ := CachedHeader([]byte(raw), true)
		for n := 0; n <= len(raw); n++ {
			got, ok := CachedHeader([]byte(raw[:n]), n == len(raw))
			if ok && !bytes.Equal(got, want) {
				t.Fatalf("%.60q cut at %d: cached %q, want %q", raw, n, got, want)
			}
			if n == len(raw) && !ok {
				t.Fatalf("%.60q whole: refused", raw)
			}
		}
	}
}

// TestCachedHeaderHuge refuses a header longer than ReadHeader reads and
// keeps only the cached fields.
func TestCachedHeaderHuge(t *testing.T) {
	raw := "Subject: " + strings.Repeat("x", mimeparse.MaxHeaderBytes) + "\r\n\r\nbody"
	if _, ok := CachedHeader([]byte(raw), true); ok {
		t.Error("a header longer than mimeparse.MaxHeaderBytes was cached")
	}
	got, ok := CachedHeader([]byte("Received: x\r\nSubject: s\r\nX-Y: z\r\nFrom: f@x\r\n\r\nbody"), true)
	if want := "Subject: s\r\nFrom: f@x\r\n\r\n"; !ok || string(got) != want {
		t.Errorf("CachedHeader = %q, %v; want %q", got, ok, want)
	}
}

func TestSearchCoveredByCachedHeader(t *testing.T) {
	hf := func(k string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: "x"}}
	}
	for _, tc := range []struct {
		c    imap.SearchCriteria
		want bool
	}{
		{imap.SearchCriteria{}, true},
		{imap.SearchCriteria{Header: hf("from")}, true},
		{imap.SearchCriteria{Header: hf("X-Spam")}, false},
		{imap.SearchCriteria{Header: hf("\u017fubject")}, false},
		{imap.SearchCriteria{Body: []string{"x"}}, false},
		{imap.SearchCriteria{Not: []imap.SearchCriteria{{Text: []string{"x"}}}}, false},
		{imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: hf("To")}, {Header: hf("Received")}}}}, false},
		{imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: hf("To")}, {SentSince: day(2000, 1, 1)}}}}, true},
	} {
		if got := SearchCoveredByCachedHeader(&tc.c); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.c, got, tc.want)
		}
	}
}

// FuzzCachedHeader checks that the cached header of any input answers as
// the input does.
func FuzzCachedHeader(f *testing.F) {
	for _, raw := range cacheCorpus() {
		if len(raw) < 1<<16 {
			f.Add([]byte(raw))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCachedAnswers(t, data)
	})
}
