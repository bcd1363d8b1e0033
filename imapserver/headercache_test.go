package imapserver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// countingBlobs is a blob store that counts the bodies opened.
type countingBlobs struct {
	*mailstore.FileBlobStore
	opens atomic.Int64
}

func (c *countingBlobs) Open(ctx context.Context, key string) (mailstore.Blob, error) {
	c.opens.Add(1)
	return c.FileBlobStore.Open(ctx, key)
}

// newCountingEnv starts a server whose store counts the bodies it opens.
func newCountingEnv(t *testing.T) (*testEnv, *countingBlobs) {
	t.Helper()
	fb, err := mailstore.NewFileBlobStore(filepath.Join(t.TempDir(), "blobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := &countingBlobs{FileBlobStore: fb}
	return newTestEnvStore(t, func(o *mailstore.Options) { o.Blobs = blobs }, nil), blobs
}

// TestHeaderCommandsOpenNoBody: SEARCH FROM (and the other header keys),
// SORT, THREAD and FETCH ENVELOPE over N messages answer from the header
// cache without opening one message; BODY still reads them.
func TestHeaderCommandsOpenNoBody(t *testing.T) {
	env, blobs := newCountingEnv(t)
	const n = 40
	for i := range n {
		env.deliver(t, testMessage(fmt.Sprintf("note %d", i%7), fmt.Sprintf("Sender %d <sender%d@example.org>", i, i%5), "body"))
	}
	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("a", "LOGIN "+testAddr+` "`+testPass+`"`); !strings.HasPrefix(tagged, "a OK") {
		t.Fatal(tagged)
	}
	if _, tagged := r.cmd("b", "SELECT INBOX"); !strings.HasPrefix(tagged, "b OK") {
		t.Fatal(tagged)
	}
	blobs.opens.Store(0)
	for _, c := range []struct{ cmd, want string }{
		{"UID SEARCH FROM sender3", "* SEARCH 4 9 14 19 24 29 34 39"},
		{`UID SEARCH OR SUBJECT "note 6" FROM "Sender 1 <"`, "* SEARCH 2 7 14 21 28 35"},
		{"UID SEARCH SENTSINCE 1-Jan-2006 NOT TO alice CC x", "* SEARCH"},
		{`SEARCH HEADER Message-ID "note.5@"`, "* SEARCH 6 13 20 27 34"},
		{"UID SORT (REVERSE SUBJECT) UTF-8 FROM sender4", "* SORT 35 20 5 40 25 10 30 15"},
		{"UID THREAD REFERENCES UTF-8 SUBJECT note", ""},
		{"UID FETCH 1:* (FLAGS ENVELOPE)", ""},
	} {
		untagged, tagged := r.cmd("c", c.cmd)
		if !strings.HasPrefix(tagged, "c OK") {
			t.Fatalf("%s: %s", c.cmd, tagged)
		}
		if c.want != "" && (len(untagged) != 1 || untagged[0] != c.want) {
			t.Errorf("%s: %q, want %q", c.cmd, untagged, c.want)
		}
		if strings.HasPrefix(c.cmd, "UID FETCH") && len(untagged) != n {
			t.Errorf("%s: %d responses, want %d", c.cmd, len(untagged), n)
		}
	}
	if got := blobs.opens.Load(); got != 0 {
		t.Errorf("the header commands opened %d bodies, want none", got)
	}
	// The counter counts: a body search reads every message.
	if _, tagged := r.cmd("d", "UID SEARCH BODY nothing"); !strings.HasPrefix(tagged, "d OK") {
		t.Fatal(tagged)
	}
	if got := blobs.opens.Load(); got != n {
		t.Errorf("SEARCH BODY opened %d bodies, want %d", got, n)
	}
}

// oddMessages are messages whose headers are hard to read: the answers
// from the cache must be the answers from the messages.
var oddMessages = []string{
	"From: <user (comment)@ (comment) domain>\r\nTo: \"Team\" <@relay1.example,@relay2.example:team@example.org>\r\nCc: Undisclosed recipients:;\r\nSubject: Re: [list] comments (fwd)\r\nDate: Tue, 03 Jan 2006 10:00:00 +0000\r\nMessage-ID: <comments@example.com>\r\n\r\nbody\r\n",
	"From: =?utf-8?q?Ren=C3=A9_Caf=C3=A9?= <rene@example.com>\r\nSubject: =?utf-8?b?w6l0w6k=?= summer\r\nDate: Wed, 4 Jan 2006 01:00:00 +0900\r\nIn-Reply-To: <comments@example.com>\r\nReferences: <root@example.com>\r\n <comments@example.com>\r\nMessage-ID: <rene@example.com>\r\n\r\nbody\r\n",
	"From: first@example.com\r\nFrom: second@example.com\r\nSubject: one\r\nSubject: two\r\nTo: a@example.com,\r\n b@example.com\r\n\r\n",
	"Subject: no separator\r\nthis line is the body\r\nFrom: not@header.example\r\n",
	"Subject: bare LF\nFrom: Bare <lf@example.com>\nDate: garbage\n\nbody\n",
	"Subject: caf\xe9 cr\xe8me\r\nFrom: Ren\xe9 <rene@example.com>\r\nBcc: hidden@example.com\r\n\r\nbody\r\n",
	"Reply-To: \r\nSender: <>\r\nCc: ;\r\nTo: Group: a@example.com, \"B, b\" <b@example.com>;, (comment) c@example.com (C)\r\n\r\n",
	"Subject : space before colon\r\nFROM: upper@EXAMPLE.com\r\nsubject: Fwd: Re: second\r\nMessage-ID: x@y (comment)\r\n\r\n",
	"Subject: header only",
	"",
}

// headerScript are the commands whose answers are compared.
var headerScript = []string{
	"UID FETCH 1:* (ENVELOPE)",
	"UID SEARCH FROM example",
	"UID SEARCH CHARSET UTF-8 FROM {5+}\r\nrené",
	"UID SEARCH CHARSET UTF-8 FROM {5+}\r\ncafé",
	"UID SEARCH FROM user@domain",
	`UID SEARCH FROM "second"`,
	"UID SEARCH TO team",
	"UID SEARCH TO b",
	"UID SEARCH CC recipients",
	"UID SEARCH BCC hidden",
	"UID SEARCH CHARSET UTF-8 SUBJECT {5+}\r\nété",
	"UID SEARCH CHARSET UTF-8 SUBJECT {6+}\r\ncrème",
	"UID SEARCH SUBJECT two",
	"UID SEARCH SUBJECT second",
	`UID SEARCH SUBJECT ""`,
	"UID SEARCH HEADER Message-ID example",
	`UID SEARCH HEADER References "<root"`,
	"UID SEARCH HEADER Reply-To \"\"",
	"UID SEARCH SENTON 3-Jan-2006",
	"UID SEARCH SENTBEFORE 4-Jan-2006",
	"UID SEARCH SENTSINCE 4-Jan-2006",
	"UID SEARCH NOT FROM example",
	"UID SEARCH OR TO a@ CC ;",
	"UID SORT (SUBJECT) UTF-8 ALL",
	"UID SORT (FROM) UTF-8 ALL",
	"UID SORT (DISPLAYFROM) UTF-8 ALL",
	"UID SORT (TO) UTF-8 ALL",
	"UID SORT (DISPLAYTO) UTF-8 ALL",
	"UID SORT (CC) UTF-8 ALL",
	"UID SORT (DATE) UTF-8 ALL",
	"UID SORT (REVERSE DATE SUBJECT) UTF-8 SUBJECT e",
	"UID THREAD REFERENCES UTF-8 ALL",
	"UID THREAD ORDEREDSUBJECT UTF-8 ALL",
}

// runHeaderScript delivers the odd messages and returns the answers to
// the header script.
func runHeaderScript(t *testing.T, env *testEnv) []string {
	t.Helper()
	date := time.Date(2006, 1, 5, 12, 0, 0, 0, time.UTC)
	for _, m := range oddMessages {
		res, err := env.store.Deliver(context.Background(), mailstore.Delivery{
			Targets: []mailstore.DeliveryTarget{{UserID: env.user.ID}}, Body: strings.NewReader(m), InternalDate: date,
		})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	if _, err := env.store.Append(context.Background(), env.user.ID, "INBOX", strings.NewReader(oddMessages[1]+"appended"), nil, date); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("a", "LOGIN "+testAddr+` "`+testPass+`"`); !strings.HasPrefix(tagged, "a OK") {
		t.Fatal(tagged)
	}
	if _, tagged := r.cmd("b", "ENABLE UTF8=ACCEPT"); !strings.HasPrefix(tagged, "b OK") {
		t.Fatal(tagged)
	}
	if _, tagged := r.cmd("c", "SELECT INBOX"); !strings.HasPrefix(tagged, "c OK") {
		t.Fatal(tagged)
	}
	var out []string
	for _, cmd := range headerScript {
		untagged, tagged := r.cmd("d", cmd)
		out = append(out, "> "+cmd)
		out = append(out, untagged...)
		out = append(out, tagged)
	}
	return out
}

// TestHeaderCacheAnswersAsMessages runs the header script over odd
// messages on a server that answers from the header cache and on one
// that has none (encryption at rest: every answer parsed from the
// message) and compares the answers line by line.
func TestHeaderCacheAnswersAsMessages(t *testing.T) {
	cached, blobs := newCountingEnv(t)
	keyPath := filepath.Join(t.TempDir(), "server.key")
	if _, err := blobcrypt.GenerateKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	sealer, err := blobcrypt.LoadServerKey(keyPath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	parsed := newTestEnvStore(t, func(o *mailstore.Options) { o.Sealer = sealer }, nil)
	got := runHeaderScript(t, cached)
	opened := blobs.opens.Load()
	want := runHeaderScript(t, parsed)
	if len(got) != len(want) {
		t.Fatalf("%d lines from the cache, %d from the messages:\n%s\n----\n%s", len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("line %d: from the cache %q, from the messages %q", i, got[i], want[i])
		}
	}
	if opened != 0 {
		t.Errorf("the cached server opened %d bodies, want none", opened)
	}
	all := strings.Join(got, "\n")
	if strings.Contains(all, " BAD ") || !strings.Contains(all, "ENVELOPE (NIL \"café crème\" ((\"René\"") {
		t.Errorf("unexpected answers:\n%s", all)
	}
}
