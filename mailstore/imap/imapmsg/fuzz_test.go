package imapmsg

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// FuzzParse checks that no input makes parsing, structure, envelope or
// section extraction panic, that go-imap can write every structure, and
// that sections which are ranges of the message are exactly that.
func FuzzParse(f *testing.F) {
	for _, c := range corpus {
		if len(c.raw) < 64*1024 {
			f.Add([]byte(c.raw))
		}
	}
	for _, s := range []string{
		deepRFC822(60), deepMultipart(60), manyParts(1100),
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n--a--",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n",
		"\n\n\n", "\r", ":\r\n\r\n", "From \r\n", " \r\n\r\n",
		"Content-Type: text/plain; name*0*=utf-8''%E2; name*1*=%82%AC\r\n\r\n",
		"From: \"\\\r\nTo: <<<>>>@@@,,,;;;:::\r\nDate: 31 Feb 99999 99:99:99 +9999\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	sections := []imap.FetchItemBodySection{
		{Specifier: imap.PartSpecifierNone},
		{Specifier: imap.PartSpecifierMIME},
		{Specifier: imap.PartSpecifierHeader},
		{Specifier: imap.PartSpecifierText},
		{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "Content-Type"}},
		{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}},
		{Specifier: imap.PartSpecifierNone, Partial: &imap.SectionPartial{Offset: 3, Size: 7}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := Parse(data)
		for _, ext := range []bool{false, true} {
			checkWritable(t, m.BodyStructure(ext), ext)
		}
		m.Envelope()

		if got := m.Section(&imap.FetchItemBodySection{}); !bytes.Equal(got, data) {
			t.Fatalf("BODY[] differs from the message")
		}
		head := m.Section(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})
		text := m.Section(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		if !bytes.Equal(append(append([]byte(nil), head...), text...), data) {
			t.Fatalf("BODY[HEADER] + BODY[TEXT] differs from the message")
		}

		paths := append(allPaths(m), []int{0}, []int{1, 99}, []int{99}, []int{1, 1, 1, 1})
		for i, p := range paths {
			for i := range sections {
				s := sections[i]
				s.Part = p
				m.Section(&s)
			}
			mime := m.Section(&imap.FetchItemBodySection{Part: p, Specifier: imap.PartSpecifierMIME})
			body := m.Section(&imap.FetchItemBodySection{Part: p})
			// bytes.Contains is linear; checking every part of a message
			// with a thousand parts would make fuzzing crawl.
			if i < 50 && !bytes.Contains(data, append(append([]byte(nil), mime...), body...)) {
				t.Fatalf("BODY[%s.MIME] + BODY[%s] is not a range of the message", partString(p), partString(p))
			}
			if _, err := m.Binary(p); err != nil {
				var imapErr *imap.Error
				if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeUnknownCTE {
					t.Fatalf("BINARY[%s]: %v", partString(p), err)
				}
			}
		}

		c := &imap.SearchCriteria{Text: []string{"x"}, Body: []string{"y"}, Header: hdr("From", "z"), SentSince: day(2000, 1, 1)}
		if _, err := Match(c, &Facts{Size: int64(len(data))}, openBytes(data), SearchContext{}); err != nil {
			t.Fatalf("Match: %v", err)
		}
	})
}

// openBytes returns an Opener for b.
func openBytes(b []byte) Opener {
	return func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}
