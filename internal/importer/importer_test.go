package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

var quiet = slog.New(slog.DiscardHandler)

func newStore(t *testing.T) (*mailstore.Store, *mailstore.User) {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, mailstore.NewUser{Address: "alice@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return st, u
}

// stored is one message as the mailstore holds it.
type stored struct {
	Flags string
	Date  time.Time
	Body  string
}

// contents returns the user's messages by mailbox, in UID order.
func contents(t *testing.T, st *mailstore.Store, userID int64) map[string][]stored {
	t.Helper()
	ctx := context.Background()
	boxes, err := st.ListMailboxes(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]stored{}
	for _, b := range boxes {
		msgs, err := st.ListMessages(ctx, b.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			blob, err := st.OpenMessage(ctx, &m)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(io.NewSectionReader(blob, 0, blob.Size()))
			blob.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[b.Name] = append(out[b.Name], stored{Flags: strings.Join(m.Flags, " "), Date: m.InternalDate.UTC(), Body: string(body)})
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func msg(subject string) string {
	return "From: bob@example.org\nTo: alice@example.com\nSubject: " + subject + "\n\nHello " + subject + "\n"
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestMaildirImport(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	root := t.TempDir()
	d1 := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	d2 := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	writeFile(t, filepath.Join(root, "cur", "1600000000.M1P1.host,S=80:2,RS"), msg("one"), d1)
	writeFile(t, filepath.Join(root, "new", "1600000001.M2P1.host"), msg("two"), d2)
	writeFile(t, filepath.Join(root, "tmp", "ignored"), msg("tmp"), time.Time{})
	writeFile(t, filepath.Join(root, ".Sent", "cur", "1600000002.M3P1.host:2,S"), msg("sent"), d1)
	writeFile(t, filepath.Join(root, ".Sent", "new", ".keep"), "", time.Time{})
	writeFile(t, filepath.Join(root, ".Work.Projects", "cur", "1600000003.M4P1.host:2,FTab"), msg("project"), d2)
	writeFile(t, filepath.Join(root, ".Work.Projects", "dovecot-keywords"), "0 $Important\n1 project-x\n", time.Time{})
	writeFile(t, filepath.Join(root, ".&ZeVnLIqe-", "cur", "1600000004.M5P1.host:2,D"), msg("japanese"), d1)

	src, err := OpenMaildir(root)
	if err != nil {
		t.Fatal(err)
	}
	// A dry run counts and stores nothing.
	rep, err := Run(ctx, st, u, src, Options{DryRun: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, imported, _, _ := rep.Totals()
	if imported != 5 {
		t.Fatalf("dry run would import %d, want 5: %+v", imported, rep.Folders)
	}
	if got := contents(t, st, u.ID); len(got) != 0 {
		t.Fatalf("dry run stored messages: %v", got)
	}

	if _, err := Run(ctx, st, u, src, Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	got := contents(t, st, u.ID)
	want := map[string][]stored{
		"INBOX":         {{Flags: `\Answered \Seen`, Date: d1, Body: crlf(msg("one"))}, {Flags: "", Date: d2, Body: crlf(msg("two"))}},
		"Sent":          {{Flags: `\Seen`, Date: d1, Body: crlf(msg("sent"))}},
		"Work/Projects": {{Flags: `$Important \Deleted \Flagged project-x`, Date: d2, Body: crlf(msg("project"))}},
		"日本語":           {{Flags: `\Draft`, Date: d1, Body: crlf(msg("japanese"))}},
	}
	for box, w := range want {
		if !slices.Equal(got[box], w) {
			t.Errorf("%s: got %+v\nwant %+v", box, got[box], w)
		}
	}

	// A second run, after the user read a message in the old maildir and
	// a new one arrived, imports only the new one.
	if err := os.Rename(filepath.Join(root, "new", "1600000001.M2P1.host"), filepath.Join(root, "cur", "1600000001.M2P1.host:2,S")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "new", "1600000009.M9P1.host"), msg("three"), d2)
	rep, err = Run(ctx, st, u, src, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, imported, skipped, _ := rep.Totals(); imported != 1 || skipped != 5 {
		t.Fatalf("second run: imported %d, skipped %d; want 1 and 5", imported, skipped)
	}
	if n := len(contents(t, st, u.ID)["INBOX"]); n != 3 {
		t.Fatalf("INBOX has %d messages, want 3", n)
	}
}

func TestMboxImport(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	dir := t.TempDir()
	inbox := "From bob@example.org Thu Mar  4 05:06:07 2021\n" +
		"From: bob@example.org\nSubject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1 work\n\n" +
		"Hello\n>From the quoted line\n>>From twice quoted\n\n" +
		"From bob@example.org Sun Jan  2 03:04:05 2022\n" +
		"From: bob@example.org\nSubject: two\nStatus: O\n\nSecond\nFrom inside a paragraph is not a separator\n\n" +
		"From bob@example.org Sun Jan  2 03:04:05 2022\n" +
		"From: bob@example.org\nSubject: two\nStatus: O\n\nSecond\nFrom inside a paragraph is not a separator\n"
	writeFile(t, filepath.Join(dir, "Inbox"), inbox, time.Time{})
	writeFile(t, filepath.Join(dir, "Archive.sbd", "2020"), "From a@b Mon Feb  3 04:05:06 2020\nSubject: old\n\nold\n", time.Time{})
	writeFile(t, filepath.Join(dir, "Archive.sbd", "2020.msf"), "// index, not an mbox", time.Time{})
	writeFile(t, filepath.Join(dir, "Empty"), "", time.Time{})

	src, err := OpenMbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, st, u, src, Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	got := contents(t, st, u.ID)
	two := stored{Flags: "", Date: time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC),
		Body: crlf("From: bob@example.org\nSubject: two\nStatus: O\n\nSecond\nFrom inside a paragraph is not a separator\n")}
	want := map[string][]stored{
		"INBOX": {
			{Flags: `$Label1 \Answered \Flagged \Seen work`, Date: time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC),
				Body: crlf("From: bob@example.org\nSubject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1 work\n\nHello\nFrom the quoted line\n>From twice quoted\n")},
			two, two, // two identical messages stay two
		},
		"Archive/2020": {{Date: time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC), Body: crlf("Subject: old\n\nold\n")}},
	}
	for box, w := range want {
		if !slices.Equal(got[box], w) {
			t.Errorf("%s: got %+v\nwant %+v", box, got[box], w)
		}
	}
	if _, err := st.GetMailbox(ctx, u.ID, "Empty"); err != nil {
		t.Errorf("an empty mbox file made no mailbox: %v", err)
	}
	if _, err := st.GetMailbox(ctx, u.ID, "Archive/2020.msf"); err == nil {
		t.Error("a mail client's index file was imported as a folder")
	}

	// Again: nothing twice.
	rep, err := Run(ctx, st, u, src, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, imported, skipped, _ := rep.Totals(); imported != 0 || skipped != 4 {
		t.Fatalf("second run: imported %d, skipped %d; want 0 and 4", imported, skipped)
	}
}

// failingSource fails after n messages, like a connection that drops.
type failingSource struct {
	Source
	left *int
}

type failingFolder struct {
	FolderReader
	left *int
}

var errDropped = errors.New("connection dropped")

func (s failingSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	r, err := s.Source.Open(ctx, f)
	return failingFolder{r, s.left}, err
}

func (f failingFolder) Read(ctx context.Context, items []Item, fn func(*Message) error) error {
	return f.FolderReader.Read(ctx, items, func(m *Message) error {
		if *f.left == 0 {
			return errDropped
		}
		*f.left--
		return fn(m)
	})
}

func TestResumeAfterFailure(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	path := mboxOf(t, 25)
	src, err := OpenMbox(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{7, 0, 11} {
		left := n
		_, err := Run(ctx, st, u, failingSource{src, &left}, Options{BatchMessages: 3, Logger: quiet})
		if !errors.Is(err, errDropped) {
			t.Fatalf("run failing after %d: %v", n, err)
		}
	}
	if _, err := Run(ctx, st, u, src, Options{BatchMessages: 3, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	got := contents(t, st, u.ID)["INBOX"]
	if len(got) != 25 {
		t.Fatalf("INBOX has %d messages, want 25", len(got))
	}
	for i, m := range got {
		if want := crlf(fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i)); m.Body != want {
			t.Fatalf("message %d is %q, want %q", i, m.Body, want)
		}
	}
}

func TestQuotaStopsImport(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	max := int64(3)
	if _, err := st.UpdateUser(ctx, u.Address, mailstore.UserUpdate{QuotaMessages: &max}); err != nil {
		t.Fatal(err)
	}
	u, _ = st.GetUser(ctx, u.Address)
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "From x Mon Feb  3 04:05:06 2020\nSubject: %d\n\nbody\n\n", i)
	}
	path := filepath.Join(t.TempDir(), "mbox")
	writeFile(t, path, b.String(), time.Time{})
	src, _ := OpenMbox(path)
	_, err := Run(ctx, st, u, src, Options{BatchMessages: 1, Logger: quiet})
	if !errors.Is(err, core.ErrOverQuota) || !strings.Contains(err.Error(), "raise the quota") {
		t.Fatalf("err = %v, want a quota error that says what to do", err)
	}
	n := 0
	for _, m := range contents(t, st, u.ID)["INBOX"] {
		if strings.HasSuffix(m.Body, "\r\n\r\nbody\r\n") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("INBOX has %d imported messages, want 3", n)
	}
}

// TestResumeAfterCancel stops an import mid-way through its context (as
// Ctrl-C or a cancelled job does) and runs it again.
func TestResumeAfterCancel(t *testing.T) {
	st, u := newStore(t)
	path := mboxOf(t, 20)
	src, err := OpenMbox(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rep, err := Run(ctx, st, u, src, Options{BatchMessages: 4, Logger: quiet, Progress: func(r *Report) {
		if _, imported, _, _ := r.Totals(); imported >= 8 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, imported, _, _ := rep.Totals(); imported != 8 {
		t.Fatalf("cancelled after %d messages, want 8", imported)
	}
	rep, err = Run(context.Background(), st, u, src, Options{BatchMessages: 4, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, imported, skipped, _ := rep.Totals(); imported != 12 || skipped != 8 {
		t.Fatalf("resumed: imported %d, skipped %d", imported, skipped)
	}
	got := contents(t, st, u.ID)["INBOX"]
	if len(got) != 20 {
		t.Fatalf("INBOX has %d messages, want 20", len(got))
	}
	for i, m := range got {
		if want := crlf(fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i)); m.Body != want {
			t.Fatalf("message %d is %q, want %q", i, m.Body, want)
		}
	}
}
