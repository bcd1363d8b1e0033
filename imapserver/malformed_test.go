package imapserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
)

// malformedMessages are messages a server meets in the wild.
func malformedMessages() map[string]string {
	nested := func(depth int) string {
		var b strings.Builder
		b.WriteString("From: deep@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n")
		for i := 0; i < depth; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\ninnermost\r\n")
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		return b.String()
	}
	rng := rand.New(rand.NewSource(1))
	junk := make([]byte, 4000)
	rng.Read(junk)

	return map[string]string{
		"boundary never matches": "From: a@example.org\r\nSubject: no boundary\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"expected\"\r\n\r\n" +
			"--other\r\nContent-Type: text/plain\r\n\r\nhello\r\n--other--\r\n",
		"multipart without boundary parameter": "From: a@example.org\r\nSubject: no param\r\n" +
			"Content-Type: multipart/alternative\r\n\r\nbody\r\n",
		"truncated multipart": "From: a@example.org\r\nSubject: truncated\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
			"--B\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n" +
			"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs",
		"binary junk": string(junk),
		"binary junk after headers": "From: a@example.org\r\nSubject: junk body\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + string(junk[:1000]),
		"8-bit headers": "From: Jörg Müller <joerg@example.org>\r\nTo: \xe9t\xe9 <ete@example.org>\r\n" +
			"Subject: Grüße \xff\xfe and =?unknown-charset?Q?x?= =?utf-8?B?invalid!!?=\r\n" +
			"Date: not a date\r\nMessage-ID: <<broken>>\r\nIn-Reply-To: <a@b\r\n\r\nbody\r\n",
		"bad header syntax": "this is not a header\r\n: empty name\r\nFrom\r\nSubject:no space\r\n" +
			"Content-Type: text/plain; charset=\"unterminated\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nbody\r\n",
		"headers only": "From: a@example.org\r\nSubject: no body",
		"bad encodings": "From: a@example.org\r\nSubject: encodings\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
			"--B\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all!!!\r\n" +
			"--B\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=4\r\n" +
			"--B\r\nContent-Type: message/rfc822\r\n\r\nnot really a message\r\n--B--\r\n",
		"300-level nesting":    nested(300),
		"long header line":     "From: a@example.org\r\nSubject: " + strings.Repeat("long ", 20000) + "\r\n\r\nbody\r\n",
		"bare LF and CR":       "From: a@example.org\nSubject: bare\n\nline\rwith CR\nand LF\n",
		"NUL in headers":       "From: a\x00b@example.org\r\nSubject: nul\x00here\r\n\r\nbody\x00\r\n",
		"one byte":             "x",
		"no header, text only": "just some text without any header at all\r\n",
	}
}

func TestMalformedMessages(t *testing.T) {
	env := newTestEnv(t, nil)
	msgs := malformedMessages()
	uids := map[string]uint32{}
	for name, msg := range msgs {
		uids[name] = env.deliver(t, msg)
	}
	c := env.selectInbox(t, nil)
	ctx := context.Background()

	for name, uid := range uids {
		t.Run(name, func(t *testing.T) {
			list, err := env.store.ListMessages(ctx, env.inboxID, mailstore.UIDs(uid))
			if err != nil || len(list) != 1 {
				t.Fatal(list, err)
			}
			b, err := env.store.OpenMessage(ctx, &list[0])
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(b)
			b.Close()

			whole := &imap.FetchItemBodySection{Peek: true}
			m := fetchOne(t, c, uid, &imap.FetchOptions{
				UID: true, Flags: true, RFC822Size: true, InternalDate: true, Envelope: true,
				BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
				BodySection: []*imap.FetchItemBodySection{
					whole,
					{Specifier: imap.PartSpecifierHeader, Peek: true},
					{Specifier: imap.PartSpecifierText, Peek: true},
					{Part: []int{1}, Peek: true},
					{Part: []int{1, 1}, Specifier: imap.PartSpecifierMIME, Peek: true},
				},
			})
			if got := m.FindBodySection(whole); !bytes.Equal(got, stored) {
				t.Errorf("BODY[] (%d bytes) differs from the stored message (%d bytes)", len(got), len(stored))
			}
			if m.RFC822Size != int64(len(stored)) {
				t.Errorf("RFC822.SIZE %d, stored %d", m.RFC822Size, len(stored))
			}
			if m.Envelope == nil || m.BodyStructure == nil {
				t.Errorf("ENVELOPE %v BODYSTRUCTURE %v", m.Envelope, m.BodyStructure)
			}
			// Non-extended BODY and a SEARCH over the text work too.
			fetchOne(t, c, uid, &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}})
			if _, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(imap.UID(uid))}, Text: []string{"body"}}, nil).Wait(); err != nil {
				t.Errorf("SEARCH TEXT: %v", err)
			}
			if _, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "ü"}}}, nil).Wait(); err != nil {
				t.Errorf("SEARCH SUBJECT: %v", err)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("NOOP: %v", err)
			}
		})
	}

	// BINARY of undecodable parts: OK or NO [UNKNOWN-CTE], never a broken
	// connection.
	uid := uids["bad encodings"]
	for part := 1; part <= 3; part++ {
		_, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Part: []int{part}, Peek: true}}}).Collect()
		if err != nil && imapCode(err) != imap.ResponseCodeUnknownCTE {
			t.Errorf("BINARY[%d] of a badly encoded part: %v", part, err)
		}
	}
	// Everything at once.
	all, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil || len(all) != len(msgs) {
		t.Fatalf("FETCH 1:* of all malformed messages: %d messages, %v", len(all), err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}
