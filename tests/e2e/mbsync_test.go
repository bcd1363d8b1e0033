package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Messages of the mbsync test. Server-side ones use CRLF as IMAP does; the
// Maildir ones use LF as files on Unix do, and mbsync converts between the
// two. The Japanese bodies are raw 8-bit UTF-8.
const (
	mbsyncJapanese = "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\r\nTo: ann@example.com\r\nSubject: =?UTF-8?B?5LyR5pqH44Gu44GK55+l44KJ44Gb?=\r\nMessage-ID: <jp1@example.jp>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n山田です。来週の会議は火曜日に変更になりました。\r\nよろしくお願いします。\r\n"
	mbsyncPlain    = "From: bob@remote.test\r\nTo: ann@example.com\r\nSubject: plain one\r\nMessage-ID: <plain1@remote.test>\r\nDate: Mon, 07 Dec 2026 08:00:00 +0000\r\n\r\nJust text.\r\n"
	mbsyncWork     = "From: boss@example.com\r\nTo: ann@example.com\r\nSubject: quarterly report\r\nMessage-ID: <work1@example.com>\r\nDate: Mon, 07 Dec 2026 08:10:00 +0000\r\n\r\nPlease review.\r\n\r\n-- \r\nBoss\r\n"
	mbsyncList     = "From: golang-nuts@example.org\r\nTo: ann@example.com\r\nSubject: [go-nuts] generics\r\nMessage-ID: <list1@example.org>\r\nDate: Mon, 07 Dec 2026 08:20:00 +0000\r\n\r\nA long thread.\r\n"
	// Written into the Maildir before the first sync.
	mbsyncLocalInbox = "From: carol@example.net\nTo: ann@example.com\nSubject: written locally\nMessage-ID: <local1@example.net>\nDate: Mon, 07 Dec 2026 07:00:00 +0000\n\nDraft kept in the Maildir.\n"
	mbsyncLocalJP    = "From: ann@example.com\nTo: yamada@example.jp\nSubject: =?UTF-8?B?44GK55+l44KJ44Gb44Gu6L+U5L+h?=\nMessage-ID: <local2@example.com>\nDate: Mon, 07 Dec 2026 07:30:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n承知しました。火曜日に伺います。\n"
)

// TestMbsync syncs a Maildir with Yubin both ways using mbsync (isync): the
// first run over STARTTLS copies server folders (nested too), flags and
// 8-bit Japanese text down and local folders and messages up; a second run
// over implicit TLS changes nothing on either side; after flags change and
// a message is expunged on the server, a third run carries that to the
// Maildir. Both sides are compared byte for byte (modulo mbsync's CRLF↔LF
// conversion) with what they should hold.
func TestMbsync(t *testing.T) {
	mbsync := needPeer(t, "mbsync", "isync")
	srv := startPeerServer(t)
	work := t.TempDir()
	maildir := filepath.Join(work, "mail")

	c := imapDial(t, srv)
	for _, mb := range []string{"Work", "Lists/Go"} {
		if err := c.Create(mb, nil).Wait(); err != nil {
			t.Fatalf("IMAP CREATE %s: %v", mb, err)
		}
	}
	imapAppend(t, c, "INBOX", []imap.Flag{imap.FlagSeen}, mbsyncJapanese)
	imapAppend(t, c, "INBOX", nil, mbsyncPlain)
	imapAppend(t, c, "Work", []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}, mbsyncWork)
	imapAppend(t, c, "Lists/Go", []imap.Flag{imap.FlagSeen}, mbsyncList)
	_ = c.Logout().Wait()
	c.Close()

	writeFile(t, filepath.Join(maildir, "INBOX", "new", "1700000000.1_1.host"), mbsyncLocalInbox)
	for _, sub := range []string{"cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, "INBOX", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(maildir, "Sent", "cur", "1700000001.2_1.host:2,FS"), mbsyncLocalJP)
	for _, sub := range []string{"new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, "Sent", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	writeConfig := func(sslType, port string) string {
		cfg := filepath.Join(work, "mbsyncrc-"+sslType)
		writeFile(t, cfg, fmt.Sprintf(`IMAPAccount yubin
Host 127.0.0.1
Port %s
User %s
Pass %s
SSLType %s
CertificateFile %s

IMAPStore yubin-far
Account yubin

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel yubin
Far :yubin-far:
Near :local:
Patterns *
Create Both
Expunge Both
CopyArrivalDate yes
SyncState *
`, port, peerClientUser, peerClientPw, sslType, srv.certFile(), maildir, maildir))
		return cfg
	}
	starttls := writeConfig("STARTTLS", srv.port("imap"))
	imaps := writeConfig("IMAPS", srv.port("imaps"))

	want := map[string][]storedMsg{
		"INBOX":    {{"", mbsyncPlain}, {"", crlf(mbsyncLocalInbox)}, {`\Seen`, mbsyncJapanese}},
		"Work":     {{`\Answered \Flagged`, mbsyncWork}},
		"Lists":    {},
		"Lists/Go": {{`\Seen`, mbsyncList}},
		"Sent":     {{`\Flagged \Seen`, crlf(mbsyncLocalJP)}},
		// The folders every new account has.
		"Archive": {}, "Drafts": {}, "Junk": {}, "Trash": {},
	}
	for _, msgs := range want {
		sortMsgs(msgs)
	}
	check := func(t *testing.T, want map[string][]storedMsg) {
		t.Helper()
		if d := diffMail(withoutTUID(t, imapMail(t, srv)), want); d != "" {
			t.Errorf("server after mbsync:\n%s", d)
		}
		if d := diffMail(withoutTUID(t, maildirMail(t, maildir)), want); d != "" {
			t.Errorf("Maildir after mbsync:\n%s", d)
		}
	}

	t.Run("first sync over STARTTLS", func(t *testing.T) {
		out := runPeer(t, work, nil, mbsync, "-c", starttls, "-a")
		t.Logf("mbsync: %s", out)
		check(t, want)
	})
	if t.Failed() {
		return
	}

	t.Run("second sync over TLS changes nothing", func(t *testing.T) {
		files, uids := maildirFiles(t, maildir), imapUIDNext(t, srv)
		out := runPeer(t, work, nil, mbsync, "-c", imaps, "-a")
		t.Logf("mbsync: %s", out)
		check(t, want)
		if got := maildirFiles(t, maildir); fmt.Sprint(got) != fmt.Sprint(files) {
			t.Errorf("Maildir files changed:\nbefore %q\n after %q", files, got)
		}
		if got := imapUIDNext(t, srv); fmt.Sprint(got) != fmt.Sprint(uids) {
			t.Errorf("server UIDNEXT changed (messages stored again): before %v, after %v", uids, got)
		}
	})

	t.Run("server-side flags and expunge", func(t *testing.T) {
		c := imapDial(t, srv)
		defer c.Close()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// Flag the plain message and mark the Japanese one unread.
		uids := imapSearchUID(t, c, "Message-ID", "<plain1@remote.test>")
		if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}}, nil).Close(); err != nil {
			t.Fatalf("IMAP STORE: %v", err)
		}
		uids = imapSearchUID(t, c, "Message-ID", "<jp1@example.jp>")
		if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			t.Fatalf("IMAP STORE: %v", err)
		}
		if _, err := c.Select("Work", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatalf("IMAP STORE: %v", err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatalf("IMAP EXPUNGE: %v", err)
		}
		_ = c.Logout().Wait()

		out := runPeer(t, work, nil, mbsync, "-c", imaps, "-a")
		t.Logf("mbsync: %s", out)
		want["INBOX"] = []storedMsg{{`\Answered \Flagged`, mbsyncPlain}, {"", crlf(mbsyncLocalInbox)}, {"", mbsyncJapanese}}
		sortMsgs(want["INBOX"])
		want["Work"] = []storedMsg{}
		check(t, want)
	})

	t.Run("Maildir-side flags and deletion", func(t *testing.T) {
		// Flag the list message and delete the message written locally:
		// mbsync stores the flag and expunges the message on the server.
		renamed, removed := 0, 0
		for _, f := range maildirFiles(t, maildir) {
			path := filepath.Join(maildir, f)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.Contains(string(data), "<list1@example.org>"):
				if !strings.HasSuffix(f, ":2,S") {
					t.Fatalf("list message file %s, want flags S", f)
				}
				if err := os.Rename(path, strings.TrimSuffix(path, "S")+"FS"); err != nil {
					t.Fatal(err)
				}
				renamed++
			case strings.Contains(string(data), "<local1@example.net>"):
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				removed++
			}
		}
		if renamed != 1 || removed != 1 {
			t.Fatalf("renamed %d and removed %d files, want 1 and 1", renamed, removed)
		}
		out := runPeer(t, work, nil, mbsync, "-c", starttls, "-a")
		t.Logf("mbsync: %s", out)
		want["Lists/Go"] = []storedMsg{{`\Flagged \Seen`, mbsyncList}}
		want["INBOX"] = []storedMsg{{`\Answered \Flagged`, mbsyncPlain}, {"", mbsyncJapanese}}
		sortMsgs(want["INBOX"])
		check(t, want)
	})
}

// tuidField is the header field mbsync adds to every message it copies, as
// the last one of the header, to find it again after an interruption.
var tuidField = regexp.MustCompile(`\r\nX-TUID: [A-Za-z0-9+/]{12}\r\n\r\n`)

// withoutTUID removes mbsync's X-TUID field from every message that has
// one (the copies mbsync made), failing the test if a message has it other
// than once at the end of its header.
func withoutTUID(t *testing.T, mail map[string][]storedMsg) map[string][]storedMsg {
	t.Helper()
	for name, msgs := range mail {
		for i, m := range msgs {
			header, _, _ := strings.Cut(m.body, "\r\n\r\n")
			switch n := strings.Count(header, "X-TUID:"); n {
			case 0:
				continue
			case 1:
			default:
				t.Errorf("%s: message with %d X-TUID fields: %q", name, n, m.body)
				continue
			}
			loc := tuidField.FindStringIndex(m.body)
			if loc == nil || loc[1] != len(header)+4 {
				t.Errorf("%s: X-TUID is not the last header field: %q", name, m.body)
				continue
			}
			msgs[i].body = m.body[:loc[0]] + "\r\n\r\n" + m.body[loc[1]:]
		}
		sortMsgs(msgs)
	}
	return mail
}

// crlf turns LF line ends into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// maildirFlags maps the Maildir info letters to IMAP flags.
var maildirFlags = map[rune]string{'D': `\Draft`, 'F': `\Flagged`, 'R': `\Answered`, 'S': `\Seen`, 'T': `\Deleted`}

// maildirMail reads a Maildir++ tree as mbsync lays it out with SubFolders
// Verbatim (every folder a directory with cur/new/tmp, INBOX one of them)
// and returns folder → messages with CRLF line ends, like imapMail.
func maildirMail(t *testing.T, root string) map[string][]storedMsg {
	t.Helper()
	out := map[string][]storedMsg{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, err := os.Stat(filepath.Join(path, "cur")); err != nil {
			return nil
		}
		name, _ := filepath.Rel(root, path)
		msgs := []storedMsg{}
		for _, sub := range []string{"cur", "new"} {
			entries, err := os.ReadDir(filepath.Join(path, sub))
			if err != nil {
				return err
			}
			for _, e := range entries {
				data, err := os.ReadFile(filepath.Join(path, sub, e.Name()))
				if err != nil {
					return err
				}
				var flags []string
				if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
					for _, r := range info {
						if f, ok := maildirFlags[r]; ok {
							flags = append(flags, f)
						}
					}
				}
				msgs = append(msgs, storedMsg{flags: sortedFlags(flags), body: crlf(string(data))})
			}
		}
		sortMsgs(msgs)
		out[filepath.ToSlash(name)] = msgs
		return nil
	})
	if err != nil {
		t.Fatalf("read Maildir: %v", err)
	}
	return out
}

// maildirFiles lists the message files of a Maildir tree (names carry the
// flags and UIDs mbsync keeps).
func maildirFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if dir := filepath.Base(filepath.Dir(path)); dir == "cur" || dir == "new" {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// imapUIDNext returns mailbox → UIDNEXT for every mailbox of the user.
func imapUIDNext(t *testing.T, srv *server) map[string]uint32 {
	t.Helper()
	c := imapDial(t, srv)
	defer c.Close()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, b := range boxes {
		st, err := c.Status(b.Mailbox, &imap.StatusOptions{UIDNext: true}).Wait()
		if err != nil {
			t.Fatalf("IMAP STATUS %s: %v", b.Mailbox, err)
		}
		out[b.Mailbox] = uint32(st.UIDNext)
	}
	_ = c.Logout().Wait()
	return out
}

// imapSearchUID returns the UID of the one message in the selected mailbox
// whose header field has value.
func imapSearchUID(t *testing.T, c *imapclient.Client, field, value string) imap.UIDSet {
	t.Helper()
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: field, Value: value}}}, nil).Wait()
	if err != nil {
		t.Fatalf("IMAP UID SEARCH HEADER %s: %v", field, err)
	}
	uids := data.AllUIDs()
	if len(uids) != 1 {
		t.Fatalf("IMAP UID SEARCH HEADER %s %q: %v, want one message", field, value, uids)
	}
	return imap.UIDSetNum(uids...)
}
