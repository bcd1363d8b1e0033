package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testdb"
)

// TestFreshFolderServeAndCLI starts `yubin serve` and several `yubin domain
// add` commands at the same moment on a data folder that does not exist
// yet: the server must start and every command succeed (issue 13: the
// schema, the counters and the blob shards used to be created by whoever
// came first, and the others failed).
func TestFreshFolderServeAndCLI(t *testing.T) {
	t.Parallel()
	for round := range 2 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("data%d", round))
		srv := newServer(t, dir)
		var wg sync.WaitGroup
		results := make([]cliResult, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runCLI(t, "", nil, "domain", "add", fmt.Sprintf("d%d.example", i), "--data="+dir)
			}()
		}
		srv.startNoWait()
		wg.Wait()
		srv.waitReady()
		for i, r := range results {
			if r.code != 0 || !strings.Contains(r.stdout, "added domain") {
				t.Errorf("round %d: domain add d%d.example: exit %d\n%s%s", round, i, r.code, r.stdout, r.stderr)
			}
		}
		srv.stop()
	}
}

// TestDataFolderFilesPrivate runs the server and the CLI on a data folder
// made beforehand with mode 0755, under umask 022, and checks that every
// file they create is readable by its owner only (0600, folders 0700),
// the database's -wal and -shm included, and that the server warns about
// the folder (issue 11).
func TestDataFolderFilesPrivate(t *testing.T) {
	t.Parallel()
	// The usual umask (the one of the other tests' processes too).
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "", nil, "domain", "add", "files.test", "--data="+dir)
	mustCLI(t, "", nil, "user", "add", "ann@files.test", "--password=private-files-pw", "--data="+dir)
	srv := newServer(t, dir)
	srv.start()
	if err := smtpSend(srv, "ann@files.test", "Subject: private\r\n\r\nhello\r\n", 0); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	if !strings.Contains(srv.log.String(), "the data folder can be read by other users") {
		t.Errorf("no warning about the 0755 data folder in the log:\n%s", tail(srv.log.String(), 40))
	}
	checkPrivate(t, dir, true)
	srv.stop()
	checkPrivate(t, dir, false)
}

// checkPrivate fails the test for every file below dir that others may
// read (the folder itself excepted); live says the server is running, so
// the database's -wal and -shm must be there.
func checkPrivate(t *testing.T, dir string, live bool) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm()&^want != 0 {
			rel, _ := filepath.Rel(dir, p)
			t.Errorf("%s has mode %04o, want at most %04o", rel, fi.Mode().Perm(), want)
		}
		seen[filepath.Base(p)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"yubin.lock"}
	if testdb.Server(t) == "" { // on PostgreSQL the database is not in the folder
		names = append(names, "yubin.db")
		if live {
			names = append(names, "yubin.db-wal", "yubin.db-shm")
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("no %s in the data folder", n)
		}
	}
}

// TestCLIRefusesForeignDataFolder runs a CLI command as root on a data
// folder that belongs to another user (the service user): it must refuse
// and write nothing, so the server never meets root-owned files it cannot
// read (issue 11).
func TestCLIRefusesForeignDataFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it runs the CLI as root on a folder of another user")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", nil, "domain", "add", "foreign.test", "--data="+dir)
	if r.code != 1 || !strings.Contains(r.stderr, "belongs to") {
		t.Errorf("domain add as root on a folder of uid %d: exit %d, stderr %q; want exit 1 and a refusal", nobody, r.code, r.stderr)
	}
	srv := newServer(t, dir)
	srv.startNoWait()
	if code := srv.wait(30 * time.Second); code != 1 || !strings.Contains(srv.log.String(), "belongs to") {
		t.Errorf("serve as root on a folder of uid %d: exit %d; want 1 and a refusal:\n%s", nobody, code, srv.log.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s was written into the foreign folder", e.Name())
	}
}

// TestOrphanBodiesSweptAtStart leaves in the blob folder a body without
// metadata, as a kill -9 between the body write and the commit does, and
// restarts the server: the orphan is removed, the bodies of stored
// messages are not (issue 11).
func TestOrphanBodiesSweptAtStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "sweep.test", "--data="+dir)
	mustCLI(t, "", nil, "user", "add", "ann@sweep.test", "--password=sweep-password", "--data="+dir)
	srv := newServer(t, dir)
	srv.start()
	if err := smtpSend(srv, "ann@sweep.test", "Subject: kept\r\n\r\nkeep me\r\n", 0); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	srv.stop()

	orphan := filepath.Join(dir, "blobs", "ab", "ab"+strings.Repeat("0", 30))
	if err := os.WriteFile(orphan, []byte("Subject: half-delivered\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Everything was written long enough ago that no process can still be
	// about to commit it.
	past := time.Now().Add(-time.Hour)
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			err = os.Chtimes(p, past, past)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.start()
	srv.waitLog("removed orphan message bodies", 30*time.Second)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("the orphan body is still there (%v)", err)
	}
	srv.stop()
	st := openStore(t, dir)
	defer st.Close()
	msgs := inbox(t, st, "ann@sweep.test")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "keep me") {
		t.Errorf("INBOX after the sweep: %q", msgs)
	}
}
