package importer

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/imapserver"
	"github.com/yubinmail/yubin/internal/testpeer"
	"github.com/yubinmail/yubin/mailstore"
)

// oldMessage is a message put on the old server.
type oldMessage struct {
	folder string
	flags  []imap.Flag
	date   time.Time
	body   string
}

func appendOld(t *testing.T, c *imapclient.Client, m oldMessage) {
	t.Helper()
	cmd := c.Append(m.folder, int64(len(m.body)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
	if _, err := cmd.Write([]byte(m.body)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %s: %v", m.folder, err)
	}
}

func login(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("LOGIN %s at %s: %v", user, addr, err)
	}
	return c
}

// fetched is a message as an IMAP server serves it.
type fetched struct {
	Flags string
	Date  time.Time
	Body  string
}

func fetchAll(t *testing.T, c *imapclient.Client, mailbox string) []fetched {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	body := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil {
		t.Fatalf("FETCH %s: %v", mailbox, err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	var out []fetched
	for _, m := range msgs {
		var flags []string
		for _, f := range m.Flags {
			if !strings.EqualFold(string(f), `\Recent`) {
				flags = append(flags, strings.ToLower(string(f)))
			}
		}
		slices.Sort(flags)
		out = append(out, fetched{Flags: strings.Join(flags, " "), Date: m.InternalDate.UTC(), Body: string(m.FindBodySection(body))})
	}
	return out
}

// TestImportFromDovecot imports an account from Dovecot (Debian's
// dovecot-imapd, started on loopback with its own configuration) over a
// real IMAP connection — a dry run, an import that breaks off, its resumption
// and a later run for new mail — and compares every folder, flag, internal
// date and byte that Dovecot serves with what Yubin serves over IMAP.
func TestImportFromDovecot(t *testing.T) {
	ctx := context.Background()
	dovecot := testpeer.Dovecot(t, testpeer.DovecotAccount{User: "old", Password: "old-password"})
	addr := dovecot.Addr
	old := login(t, addr, "old", "old-password")
	for _, name := range []string{"Work", "Work.Projects", "Ünicode Co"} {
		if err := old.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	d := func(day int) time.Time { return time.Date(2020, 5, day, 10, 11, 12, 0, time.FixedZone("", 9*3600)) }
	body := func(subject, text string) string {
		return "From: Bob <bob@example.org>\r\nTo: old@example.net\r\nSubject: " + subject +
			"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
	}
	msgs := []oldMessage{
		{"INBOX", []imap.Flag{imap.FlagSeen}, d(1), body("read", "Hello\r\n")},
		{"INBOX", []imap.Flag{imap.FlagAnswered, imap.FlagSeen, "$Forwarded", "project-x"}, d(2), body("answered", "こんにちは\r\n")},
		{"INBOX", nil, d(3), body("unread", "no final line end")},
		{"INBOX", []imap.Flag{imap.FlagFlagged}, d(4), body("flagged", "\r\n\r\n.\r\nFrom the start of a line\r\n")},
		{"Sent Items", []imap.Flag{imap.FlagSeen}, d(5), body("sent", "I wrote this\r\n")},
		{"Drafts", []imap.Flag{imap.FlagDraft}, d(6), body("draft", "unfinished\r\n")},
		{"Trash", []imap.Flag{imap.FlagDeleted, imap.FlagSeen}, d(7), body("deleted", "gone\r\n")},
		{"Work.Projects", []imap.Flag{"$Important"}, d(8), body("project", "plans\r\n")},
		{"Ünicode Co", nil, d(9), body("unicode", "folder name in modified UTF-7\r\n")},
	}
	for _, m := range msgs {
		appendOld(t, old, m)
	}

	st, u := newStore(t)
	spec, err := ParseSpec("imap://old@" + addr)
	if err != nil {
		t.Fatal(err)
	}
	run := func(opts Options, wrap func(Source) Source) (*Report, error) {
		t.Helper()
		src, err := spec.Open(ctx, "old-password", IMAPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if wrap != nil {
			src = wrap(src)
		}
		opts.Logger = quiet
		return Run(ctx, st, u, src, opts)
	}
	if _, err := spec.Open(ctx, "wrong", IMAPOptions{}); err == nil || !strings.Contains(err.Error(), "log in") {
		t.Fatalf("wrong password: %v", err)
	}

	rep, err := run(Options{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, n, _, _ := rep.Totals(); n != int64(len(msgs)) {
		t.Fatalf("dry run would import %d, want %d: %+v", n, len(msgs), rep.Folders)
	}
	if c := contents(t, st, u.ID); len(c) != 0 {
		t.Fatalf("dry run stored %v", c)
	}

	// The connection drops after 3 messages, then after 2 more.
	for _, n := range []int{3, 2} {
		left := n
		_, err := run(Options{BatchMessages: 2}, func(s Source) Source { return failingSource{s, &left} })
		if !errors.Is(err, errDropped) {
			t.Fatalf("interrupted import: %v", err)
		}
	}
	rep, err = run(Options{BatchMessages: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, imported, skipped, _ := rep.Totals(); imported != int64(len(msgs))-5 || skipped != 5 {
		t.Fatalf("resumed import: imported %d, skipped %d: %+v", imported, skipped, rep.Folders)
	}

	srv := imapserver.NewServer(imapserver.Options{Backend: imapserver.NewStoreBackend(st), Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ours := login(t, ln.Addr().String(), u.Address, "correct horse battery")
	if ours.Caps().Has(imap.CapUTF8Accept) {
		// The client sends UTF-8 mailbox names to an IMAP4rev2 server.
		if _, err := ours.Enable(imap.CapUTF8Accept).Wait(); err != nil {
			t.Fatal(err)
		}
	}

	mapping := map[string]string{
		"INBOX": "INBOX", "Sent Items": "Sent", "Drafts": "Drafts", "Trash": "Trash", "Junk": "Junk",
		"Archive": "Archive", "Work": "Work", "Work.Projects": "Work/Projects", "Ünicode Co": "Ünicode Co",
	}
	compare := func(ours *imapclient.Client) {
		t.Helper()
		list, err := old.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(mapping) {
			t.Fatalf("Dovecot has %d folders, the test knows %d", len(list), len(mapping))
		}
		for _, l := range list {
			want := fetchAll(t, old, l.Mailbox)
			got := fetchAll(t, ours, mapping[l.Mailbox])
			if !slices.Equal(got, want) {
				t.Errorf("%s → %s:\n got %+v\nwant %+v", l.Mailbox, mapping[l.Mailbox], got, want)
			}
		}
	}
	compare(ours)

	// New mail on the old server: a run brings in just that.
	appendOld(t, old, oldMessage{"INBOX", []imap.Flag{"$Label1"}, d(10), body("late", "arrived later\r\n")})
	rep, err = run(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, imported, skipped, _ := rep.Totals(); imported != 1 || skipped != int64(len(msgs)) {
		t.Fatalf("later run: imported %d, skipped %d", imported, skipped)
	}
	compare(ours)

	// Dovecot's own Maildir++ folder (file names with flags, keywords in
	// dovecot-keywords, dates as the files' times) gives the same mail.
	bob, err := st.CreateUser(ctx, mailstore.NewUser{Address: "bob@example.com", Password: "bob-password"})
	if err != nil {
		t.Fatal(err)
	}
	md, err := OpenMaildir(dovecot.Maildir("old"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, st, bob, md, Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	oursBob := login(t, ln.Addr().String(), bob.Address, "bob-password")
	if oursBob.Caps().Has(imap.CapUTF8Accept) {
		if _, err := oursBob.Enable(imap.CapUTF8Accept).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	compare(oursBob)
}

// TestImportNamespaceUnderInbox imports from a server whose folders live
// under INBOX ("INBOX.Sent Items", "INBOX.Work"): they become top-level
// mailboxes, the special-use ones mapped to ours.
func TestImportNamespaceUnderInbox(t *testing.T) {
	ctx := context.Background()
	dovecot := testpeer.DovecotUnderInbox(t, testpeer.DovecotAccount{User: "old", Password: "old-password"})
	old := login(t, dovecot.Addr, "old", "old-password")
	if err := old.Create("INBOX.Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	for _, m := range []oldMessage{
		{"INBOX", nil, date, "Subject: in\r\n\r\nx\r\n"},
		{"INBOX.Work", []imap.Flag{imap.FlagSeen}, date, "Subject: work\r\n\r\nx\r\n"},
		{"INBOX.Sent Items", []imap.Flag{imap.FlagSeen}, date, "Subject: sent\r\n\r\nx\r\n"},
	} {
		appendOld(t, old, m)
	}
	st, u := newStore(t)
	spec, _ := ParseSpec("imap://old@" + dovecot.Addr)
	src, err := spec.Open(ctx, "old-password", IMAPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := Run(ctx, st, u, src, Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	c := contents(t, st, u.ID)
	for box, subject := range map[string]string{"INBOX": "in", "Work": "work", "Sent": "sent"} {
		if len(c[box]) != 1 || !strings.Contains(c[box][0].Body, "Subject: "+subject) {
			t.Errorf("%s: %+v", box, c[box])
		}
	}
	if _, err := st.GetMailbox(ctx, u.ID, "INBOX/Work"); err == nil {
		t.Error("the namespace prefix became a mailbox level")
	}
}
