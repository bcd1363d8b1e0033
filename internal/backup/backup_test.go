package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

// seed opens a store in a new data folder with one user and n messages
// appended to INBOX, the first one flagged, and returns the store (closed
// at the end of the test), the user's INBOX and the messages' bytes.
// The bodies are files (the backup's own mechanics); seedWith chooses.
func seed(t *testing.T, n int) (dir string, st *mailstore.Store, inbox int64, bodies map[uint32]string) {
	t.Helper()
	return seedWith(t, n, mailstore.Options{InlineMax: -1})
}

// seedWith is seed with the store's options (Dir is set here).
func seedWith(t *testing.T, n int, opts mailstore.Options) (dir string, st *mailstore.Store, inbox int64, bodies map[uint32]string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	opts.Dir = dir
	st, err := mailstore.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	bodies = map[uint32]string{}
	for i := range n {
		body := fmt.Sprintf("Subject: message %d\r\n\r\nbody %d\r\n", i, i)
		var flags []string
		if i == 0 {
			flags = []string{`\Flagged`}
		}
		res, err := st.Append(ctx, u.ID, "INBOX", strings.NewReader(body), flags, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		bodies[res.UID] = body
	}
	mb, err := st.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// Another file of the data folder, as DKIM keys are.
	if err := os.MkdirAll(filepath.Join(dir, "dkim", "example.test"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dkim", "example.test", "keys.json"), []byte(`{"k":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, st, mb.ID, bodies
}

// checkRestored opens the restored folder and checks every message's bytes
// and the flag of the first.
func checkRestored(t *testing.T, dir string, want map[uint32]string) {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.Authenticate(ctx, "ann@example.test", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("restored %d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		b, err := st.OpenMessage(ctx, &m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[m.UID] {
			t.Errorf("UID %d: restored %q, want %q", m.UID, got, want[m.UID])
		}
		if flagged := m.HasFlag(`\Flagged`); flagged != (m.UID == 1) {
			t.Errorf("UID %d: \\Flagged = %v", m.UID, flagged)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dkim", "example.test", "keys.json")); err != nil || string(b) != `{"k":1}` {
		t.Errorf("restored DKIM file: %q, %v", b, err)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	for _, copyBodies := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyBodies), func(t *testing.T) {
			ctx := context.Background()
			dir, _, _, bodies := seed(t, 5)
			dest := filepath.Join(t.TempDir(), "b1")
			m, err := Create(ctx, Options{DataDir: dir, Dest: dest, Verify: true, Copy: copyBodies})
			if err != nil {
				t.Fatal(err)
			}
			if m.Messages != 5 || len(m.Blobs) != 5 || len(m.Files) == 0 || m.Linked+m.Copied != 5 {
				t.Fatalf("manifest: %d messages, %d blobs (%d linked, %d copied), %d files", m.Messages, len(m.Blobs), m.Linked, m.Copied, len(m.Files))
			}
			if copyBodies && m.Copied != 5 {
				t.Fatalf("with Copy, %d of 5 bodies copied", m.Copied)
			}
			if copyBodies {
				// A copy shares no inode with the data folder.
				live, _ := os.Stat(filepath.Join(dir, filepath.FromSlash(m.Blobs[0].Path)))
				backed, _ := os.Stat(filepath.Join(dest, filepath.FromSlash(m.Blobs[0].Path)))
				if live == nil || backed == nil || os.SameFile(live, backed) {
					t.Fatal("the copied body is the live file")
				}
			}
			restored := filepath.Join(t.TempDir(), "data")
			if _, err := Restore(ctx, dest, restored); err != nil {
				t.Fatal(err)
			}
			checkRestored(t, restored, bodies)
		})
	}
}

// TestBackupRestoreInlineBodies: small bodies kept inline in the database
// are in the backup (its database snapshot) and read back after a
// restore, byte for byte, beside a large one kept as a file.
func TestBackupRestoreInlineBodies(t *testing.T) {
	ctx := context.Background()
	dir, st, inbox, bodies := seedWith(t, 4, mailstore.Options{})
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 6000)
	msgs, err := st.ListMessages(ctx, inbox, nil)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("seeded: %v %v", msgs, err)
	}
	for _, m := range msgs {
		if !mailstore.IsInlineKey(m.BlobKey) {
			t.Fatalf("a small body is not inline: %s", m.BlobKey)
		}
	}
	u, err := st.Authenticate(ctx, "ann@example.test", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Append(ctx, u.ID, "INBOX", strings.NewReader(big), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bodies[res.UID] = big
	dest := filepath.Join(t.TempDir(), "b")
	m, err := Create(ctx, Options{DataDir: dir, Dest: dest, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Messages != 5 || len(m.Blobs) != 1 {
		t.Fatalf("manifest: %d messages, %d body files; want 5 and 1 (the large one)", m.Messages, len(m.Blobs))
	}
	if _, err := Verify(ctx, dest); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(ctx, dest, restored); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, restored, bodies)
}

func TestVerifyFindsFlippedByte(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _ := seed(t, 3)
	dest := filepath.Join(t.TempDir(), "b")
	m, err := Create(ctx, Options{DataDir: dir, Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, dest); err != nil {
		t.Fatalf("verify of an intact backup: %v", err)
	}
	// Break the hard link first, so that the live body stays intact.
	victim := filepath.Join(dest, filepath.FromSlash(m.Blobs[1].Path))
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, dest)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), m.Blobs[1].Path) {
		t.Fatalf("verify after a flipped byte: %v, want ErrDamaged naming %s", err, m.Blobs[1].Path)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(ctx, dest, restored); err == nil {
		t.Fatal("restore of a damaged backup succeeded")
	}
	if entries, _ := os.ReadDir(restored); len(entries) != 0 {
		t.Errorf("a failed restore left %d entries behind", len(entries))
	}
}

func TestIncompleteBackupIsRecognised(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _ := seed(t, 2)
	dest := filepath.Join(t.TempDir(), "b")
	if _, err := Create(ctx, Options{DataDir: dir, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dest, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, dest); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("verify without a manifest: %v", err)
	}
	if _, err := Restore(ctx, dest, filepath.Join(t.TempDir(), "data")); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("restore without a manifest: %v", err)
	}
}

func TestRestoreRefusesNonEmptyFolder(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _ := seed(t, 1)
	dest := filepath.Join(t.TempDir(), "b")
	if _, err := Create(ctx, Options{DataDir: dir, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, dest, target); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty folder: %v, want ErrNotEmpty", err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "notes.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("the folder's file was touched: %q, %v", b, err)
	}
	// The live data folder itself is the usual mistake.
	if _, err := Restore(ctx, dest, dir); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over the data folder: %v, want ErrNotEmpty", err)
	}
}

func TestBackupRefusesNonEmptyDestWithoutIncremental(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _ := seed(t, 1)
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "x"), nil, 0o600)
	if _, err := Create(ctx, Options{DataDir: dir, Dest: dest}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("backup into a non-empty folder: %v", err)
	}
}

func TestIncrementalCopiesOnlyNewBodies(t *testing.T) {
	ctx := context.Background()
	dir, st, inbox, bodies := seed(t, 3)
	dest := filepath.Join(t.TempDir(), "b")
	if _, err := Create(ctx, Options{DataDir: dir, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	// One message more, one expunged.
	u, err := st.Authenticate(ctx, "ann@example.test", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Append(ctx, u.ID, "INBOX", strings.NewReader("Subject: new\r\n\r\nnew\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bodies[res.UID] = "Subject: new\r\n\r\nnew\r\n"
	if _, err := st.StoreFlags(ctx, inbox, mailstore.UIDs(2), mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(ctx, inbox, nil); err != nil {
		t.Fatal(err)
	}
	// Past the grace time in which sessions may still read it.
	if _, err := st.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	delete(bodies, 2)

	m, err := Create(ctx, Options{DataDir: dir, Dest: dest, Incremental: true, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Reused != 2 || m.Linked+m.Copied != 1 || len(m.Blobs) != 3 {
		t.Fatalf("incremental: %d reused, %d linked, %d copied, %d blobs; want 2 reused, 1 new, 3 in all", m.Reused, m.Linked, m.Copied, len(m.Blobs))
	}
	var files int
	filepath.WalkDir(filepath.Join(dest, mailstore.BlobsDir), func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 3 {
		t.Errorf("%d body files in the backup, want 3 (the expunged one removed)", files)
	}

	// A second backup folder based on the first copies only the new body.
	res, err = st.Append(ctx, u.ID, "INBOX", strings.NewReader("Subject: newer\r\n\r\nnewer\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bodies[res.UID] = "Subject: newer\r\n\r\nnewer\r\n"
	dest2 := filepath.Join(t.TempDir(), "b2")
	m, err = Create(ctx, Options{DataDir: dir, Dest: dest2, Base: dest, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Reused != 3 || m.Linked+m.Copied != 1 {
		t.Fatalf("--base: %d reused, %d linked, %d copied; want 3 reused, 1 new", m.Reused, m.Linked, m.Copied)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(ctx, dest2, restored); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, restored, bodies)
}

// A message expunged after the snapshot has its body deleted before the
// backup reaches it: the backup takes a new snapshot instead of failing or
// writing a database that references a missing body.
func TestBodyDeletedAfterSnapshot(t *testing.T) {
	ctx := context.Background()
	dir, st, inbox, bodies := seed(t, 4)
	dest := filepath.Join(t.TempDir(), "b")
	opts := Options{DataDir: dir, Dest: dest, Verify: true}
	opts.afterSnapshot = func(attempt int) {
		if attempt != 1 {
			return
		}
		if _, err := st.StoreFlags(ctx, inbox, mailstore.UIDs(3), mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Error(err)
		}
		if _, err := st.Expunge(ctx, inbox, nil); err != nil {
			t.Error(err)
		}
		// Past the grace time in which sessions may still read it.
		if _, err := st.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Error(err)
		}
	}
	m, err := Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Messages != 3 || len(m.Blobs) != 3 {
		t.Fatalf("backup after an expunge during it: %d messages, %d blobs; want 3 of each", m.Messages, len(m.Blobs))
	}
	delete(bodies, 3)
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(ctx, dest, restored); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, restored, bodies)
}

func TestScheduleKeepsNewestAndLinksToPrevious(t *testing.T) {
	ctx := context.Background()
	dir, st, _, _ := seed(t, 2)
	u, err := st.Authenticate(ctx, "ann@example.test", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(t.TempDir(), "backups")
	leftover := filepath.Join(backups, namePrefix+"19990101T000000.000Z")
	if err := os.MkdirAll(leftover, 0o700); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(backups, "not-a-scheduled-backup")
	if err := os.MkdirAll(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Schedule{DataDir: dir, Dir: backups, Interval: time.Hour, Keep: 2}
	var paths []string
	for i := range 3 {
		if i > 0 {
			if _, err := st.Append(ctx, u.ID, "INBOX", strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		m, err := s.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (m.Reused != 1+i || m.Linked+m.Copied != 1) {
			t.Errorf("backup %d: %d reused, %d new; want %d reused from the previous backup, 1 new", i, m.Reused, m.Linked+m.Copied, 1+i)
		}
		paths = append(paths, s.Status().LastPath)
	}
	entries, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"not-a-scheduled-backup", filepath.Base(paths[1]), filepath.Base(paths[2])}
	if !slices.Equal(names, want) {
		t.Fatalf("backup folder holds %v, want %v (the 2 newest, and the folder that is not ours)", names, want)
	}
	for _, p := range paths[1:] {
		if _, err := Verify(ctx, p); err != nil {
			t.Error(err)
		}
	}
	if st := s.Status(); st.LastError != "" || st.Failures != 0 || st.LastBytes == 0 {
		t.Errorf("status: %+v", st)
	}
}

// A body replaced whole under its key after a backup (as encryption at
// rest seals existing mail: a new file renamed over the old one) is taken
// again by the next incremental or based backup, not kept from the earlier
// one.
func TestBodyReplacedWholeIsTakenAgain(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _ := seed(t, 3)
	dest := filepath.Join(t.TempDir(), "b")
	m, err := Create(ctx, Options{DataDir: dir, Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.FromSlash(m.Blobs[0].Path)
	live := filepath.Join(dir, rel)
	sealed := []byte("age-encryption.org/v1\n(a sealed body stands here, longer than the plaintext one)\n")
	if err := os.WriteFile(live+".new", sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(live+".new", live); err != nil {
		t.Fatal(err)
	}
	dest2 := filepath.Join(t.TempDir(), "b2")
	for _, opts := range []Options{
		{DataDir: dir, Dest: dest2, Base: dest, Verify: true},
		{DataDir: dir, Dest: dest, Incremental: true, Verify: true},
	} {
		m, err := Create(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Reused != 2 || m.Linked+m.Copied != 1 {
			t.Errorf("base %q incremental %v: %d reused, %d new; want 2 and 1", opts.Base, opts.Incremental, m.Reused, m.Linked+m.Copied)
		}
		if got, _ := os.ReadFile(filepath.Join(opts.Dest, rel)); !bytes.Equal(got, sealed) {
			t.Errorf("base %q incremental %v: the backup holds %q, not the body as it is now", opts.Base, opts.Incremental, got)
		}
	}
}

// TestRestoredQueueIsHeld checks that a restored outbound queue is held,
// so that mail the old server delivered after the backup is not sent a
// second time unasked.
func TestRestoredQueueIsHeld(t *testing.T) {
	ctx := context.Background()
	dir, st, _, _ := seed(t, 1)
	q, err := queue.Open(ctx, st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Input{
		Body: strings.NewReader("From: ann@example.test\r\nTo: joe@example.org\r\nSubject: out\r\n\r\nHi.\r\n"),
		From: "ann@example.test", Recipients: []string{"joe@example.org"},
	}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "b")
	if _, err := Create(ctx, Options{DataDir: dir, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(ctx, dest, restored); err != nil {
		t.Fatal(err)
	}
	if n, err := HoldQueue(ctx, restored); err != nil || n != 1 {
		t.Fatalf("HoldQueue: %d, %v; want 1 held", n, err)
	}
	if n, err := HoldQueue(ctx, restored); err != nil || n != 0 {
		t.Fatalf("HoldQueue again: %d, %v; want 0", n, err)
	}
	rs, err := mailstore.Open(ctx, mailstore.Options{Dir: restored})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rq, err := queue.Open(ctx, rs, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := rq.Count(ctx, queue.Filter{Status: queue.StatusHeld}); err != nil || n != 1 {
		t.Fatalf("held messages in the restored queue: %d, %v; want 1", n, err)
	}
	// The live server's queue is untouched.
	if n, err := q.Count(ctx, queue.Filter{Status: queue.StatusHeld}); err != nil || n != 0 {
		t.Fatalf("held messages in the live queue: %d, %v; want 0", n, err)
	}
}
