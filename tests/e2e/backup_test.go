package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/internal/testdb"
)

// imapCopy is a message as IMAP shows it: its bytes and flags.
type imapCopy struct {
	body  []byte
	flags []string // sorted, without \Recent
}

// skipOnPostgres skips a test of yubin backup and restore on a PostgreSQL
// run: they copy a data folder's SQLite database (on PostgreSQL, pg_dump
// does backups, and yubin backup refuses).
func skipOnPostgres(t *testing.T) {
	t.Helper()
	if testdb.Server(t) != "" {
		t.Skip("yubin backup and restore are for SQLite data folders (on PostgreSQL: pg_dump)")
	}
}

// TestBackupUnderLoadRestore backs a running server up twice (a full
// backup, then one based on it) while 20 SMTP clients keep sending, with
// flags set over IMAP before each backup; then kills the server with
// SIGKILL, restores each backup into a new data folder, starts a server on
// it and checks over IMAP that every message acknowledged before that
// backup began is there, byte for byte, with the flags it had.
func TestBackupUnderLoadRestore(t *testing.T) {
	skipOnPostgres(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", durUser, "--password", durPassword, "--data", dir)
	srv := newServer(t, dir, "YUBIN_MAX_CONNECTIONS_PER_IP=200")
	srv.start()
	l := startLoad(srv.addrs["smtp"], 0)
	defer l.stop()

	backups := filepath.Join(t.TempDir(), "backups")
	type taken struct {
		dest   string
		before map[string]imapCopy // as IMAP showed it before the backup
		acked  []string            // acknowledged before the backup began
	}
	var done []taken
	for i, args := range [][]string{{"--verify"}, {"--verify", "--base", filepath.Join(backups, "b0")}} {
		waitAcks(t, l, l.acks.Load()+40)
		setFlags(t, srv)
		before := imapAll(t, srv)
		acked := l.ackedNow()
		dest := filepath.Join(backups, fmt.Sprintf("b%d", i))
		ackedAtStart := l.acks.Load()
		out := backupCLI(t, append([]string{"backup", dest, "--data", dir}, args...)...)
		t.Logf("backup %d: %d acknowledged before, %d during it: %s", i, len(acked), l.acks.Load()-ackedAtStart, strings.TrimSpace(out))
		done = append(done, taken{dest: dest, before: before, acked: acked})
	}
	waitAcks(t, l, l.acks.Load()+20)
	srv.kill9()
	l.stop()

	// The second backup took the first's bodies and added the new ones.
	if !strings.Contains(backupCLI(t, "backup", "verify", done[1].dest), "is intact") {
		t.Fatal("yubin backup verify did not say the backup is intact")
	}

	for i, b := range done {
		restored := filepath.Join(t.TempDir(), "restored")
		backupCLI(t, "restore", b.dest, "--data", restored)
		rs := newServer(t, restored)
		rs.start()
		after := imapAll(t, rs)
		rs.stop()
		for _, id := range b.acked {
			got, ok := after[id]
			if !ok {
				t.Errorf("backup %d: message %s, acknowledged before the backup began, is not in the restored folder", i, id)
				continue
			}
			if want, seen := b.before[id]; seen {
				if !bytes.Equal(got.body, want.body) {
					t.Errorf("backup %d: message %s differs after restore (%d bytes, was %d)", i, id, len(got.body), len(want.body))
				}
				if !slices.Equal(got.flags, want.flags) {
					t.Errorf("backup %d: message %s has flags %v after restore, had %v", i, id, got.flags, want.flags)
				}
			} else if !bytes.HasSuffix(got.body, []byte("\r\nSENTINEL "+id+"\r\n")) {
				t.Errorf("backup %d: message %s is incomplete after restore", i, id)
			}
		}
		flagged := 0
		for id, m := range b.before {
			if len(m.flags) > 0 && after[id].body != nil {
				flagged++
			}
		}
		if flagged == 0 {
			t.Errorf("backup %d: no restored message carries a flag; the test proves nothing about flags", i)
		}
		t.Logf("backup %d: %d messages restored, %d acknowledged before it, %d with flags", i, len(after), len(b.acked), flagged)
	}
}

// ackedNow returns the ids acknowledged so far.
func (l *load) ackedNow() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// waitAcks waits until the load has n acknowledgements (at most a minute).
func waitAcks(t *testing.T, l *load, n int64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); l.acks.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages acknowledged after a minute", l.acks.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setFlags marks the messages in INBOX over IMAP: UIDs divisible by three
// \Flagged, the next ones \Seen and a keyword, the rest unchanged.
func setFlags(t *testing.T, srv *server) {
	t.Helper()
	c := imapLogin(t, srv, durUser, durPassword)
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("IMAP SELECT: %v", err)
	}
	uids, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatalf("IMAP UID SEARCH ALL: %v", err)
	}
	var flagged, seen imap.UIDSet
	for _, u := range uids.AllUIDs() {
		switch u % 3 {
		case 0:
			flagged.AddNum(u)
		case 1:
			seen.AddNum(u)
		}
	}
	for _, s := range []struct {
		set   imap.UIDSet
		flags []imap.Flag
	}{{flagged, []imap.Flag{imap.FlagFlagged}}, {seen, []imap.Flag{imap.FlagSeen, "$Backup"}}} {
		if len(s.set) == 0 {
			continue
		}
		if err := c.Store(s.set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: s.flags}, nil).Close(); err != nil {
			t.Fatalf("IMAP UID STORE: %v", err)
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("IMAP LOGOUT: %v", err)
	}
}

// imapAll reads every message of the test user's INBOX over IMAP, by test
// id.
func imapAll(t *testing.T, srv *server) map[string]imapCopy {
	t.Helper()
	c := imapLogin(t, srv, durUser, durPassword)
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP EXAMINE: %v", err)
	}
	out := map[string]imapCopy{}
	if sel.NumMessages == 0 {
		return out
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{section}})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		b, err := msg.Collect()
		if err != nil {
			t.Fatalf("IMAP FETCH: %v", err)
		}
		body := b.FindBodySection(section)
		sm := subjectRE.FindSubmatch(body)
		if sm == nil {
			t.Errorf("message without a test subject: %.200q", body)
			continue
		}
		id := string(sm[1])
		if _, dup := out[id]; dup {
			t.Errorf("message %s is in INBOX twice", id)
		}
		var flags []string
		for _, f := range b.Flags {
			if f != "\\Recent" {
				flags = append(flags, string(f))
			}
		}
		slices.Sort(flags)
		out[id] = imapCopy{body: body, flags: flags}
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("IMAP FETCH: %v", err)
	}
	return out
}

// backupCLI runs a yubin backup or restore command (which may take longer
// than the admin commands) and fails the test unless it exits 0.
func backupCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, yubinBin, args...)
	cmd.Env = baseEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("yubin %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestScheduledBackup starts a server with YUBIN_BACKUP_DIR: with no
// earlier backup there, it makes one at once, logs it, exports it on
// /metrics, and the backup verifies and restores.
func TestScheduledBackup(t *testing.T) {
	skipOnPostgres(t)
	dir := filepath.Join(t.TempDir(), "data")
	backups := filepath.Join(t.TempDir(), "backups")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", durUser, "--password", durPassword, "--data", dir)
	srv := newServer(t, dir, "YUBIN_BACKUP_DIR="+backups, "YUBIN_BACKUP_INTERVAL=1h", "YUBIN_BACKUP_KEEP=2")
	srv.start()
	srv.waitLog("scheduled backup written", 2*time.Minute)
	resp, err := http.Get("http://" + srv.addrs["http"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`(?m)^yubin_backup_last_success_timestamp_seconds ([0-9.e+]+)$`).FindSubmatch(metrics); m == nil || string(m[1]) == "0" {
		t.Errorf("/metrics has no last backup time:\n%s", metrics)
	}
	srv.stop()
	entries, err := os.ReadDir(backups)
	if err != nil || len(entries) != 1 {
		t.Fatalf("backup folder: %v, %v; want one backup", entries, err)
	}
	b := filepath.Join(backups, entries[0].Name())
	backupCLI(t, "backup", "verify", b)
	restored := filepath.Join(t.TempDir(), "restored")
	backupCLI(t, "restore", b, "--data", restored)
	rs := newServer(t, restored)
	rs.start()
	c := imapLogin(t, rs, durUser, durPassword)
	c.Close()
	rs.stop()

	// A restart within the interval makes no new backup.
	srv.start()
	srv.stop()
	if entries, _ := os.ReadDir(backups); len(entries) != 1 {
		t.Errorf("a restart within the interval made another backup: %d folders", len(entries))
	}
}

// TestBackupCLIRefusals: the commands refuse what would lose or hide data,
// with exit status 1 and a sentence: a restore into a non-empty folder, a
// damaged or incomplete backup, a backup into a non-empty folder without
// --incremental, a backup of a folder without a database.
func TestBackupCLIRefusals(t *testing.T) {
	skipOnPostgres(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", durUser, "--password", durPassword, "--data", dir)
	srv := newServer(t, dir)
	srv.start()
	dest := filepath.Join(t.TempDir(), "b")
	backupCLI(t, "backup", dest, "--data", dir)
	srv.stop()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"restore into the live folder", []string{"restore", dest, "--data", dir}, "not empty"},
		{"backup into a non-empty folder", []string{"backup", dest, "--data", dir}, "not empty"},
		{"backup of a folder without a database", []string{"backup", filepath.Join(t.TempDir(), "x"), "--data", t.TempDir()}, "no Yubin database"},
	} {
		r := runCLI(t, "", nil, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tc.name, r.code, r.stderr, tc.want)
		}
	}

	// A flipped byte in the database copy: verify and restore fail.
	db := filepath.Join(dest, "yubin.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 0x01
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "", nil, "backup", "verify", dest); r.code != 1 || !strings.Contains(r.stderr, "yubin.db: content differs") {
		t.Errorf("backup verify of a damaged backup: exit %d, stderr %q", r.code, r.stderr)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if r := runCLI(t, "", nil, "restore", dest, "--data", restored); r.code != 1 || !strings.Contains(r.stderr, "differs") {
		t.Errorf("restore of a damaged backup: exit %d, stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(restored); len(entries) != 0 {
		t.Errorf("a refused restore left %d files", len(entries))
	}
	// Without its manifest the backup counts as incomplete.
	os.Remove(filepath.Join(dest, "manifest.json"))
	if r := runCLI(t, "", nil, "restore", dest, "--data", restored); r.code != 1 || !strings.Contains(r.stderr, "incomplete") {
		t.Errorf("restore of an incomplete backup: exit %d, stderr %q", r.code, r.stderr)
	}
}
