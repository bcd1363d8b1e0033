package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
)

// fetchAll returns the bytes of every INBOX message of user over IMAP.
func fetchAll(t *testing.T, imapAddr, user, password string) [][]byte {
	t.Helper()
	c := dialIMAPInbox(t, imapAddr, user, password)
	defer c.Close()
	whole := &goimap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{RFC822Size: true, BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		t.Fatalf("FETCH as %s: %v", user, err)
	}
	var out [][]byte
	for _, m := range msgs {
		b := m.FindBodySection(whole)
		if int64(len(b)) != m.RFC822Size {
			t.Fatalf("FETCH as %s: %d bytes, RFC822.SIZE %d", user, len(b), m.RFC822Size)
		}
		out = append(out, b)
	}
	return out
}

// TestEncryptedBackupRestoresAndReads (issue 17 §2): a store encrypted at
// rest, with a server-key domain and a user-key domain, is backed up while
// the server runs (yubin backup) with no message text in the backup;
// restored (yubin restore) with the key file, a server started on it reads
// every message byte for byte over IMAP; restored without the key, restore
// says the bodies need it and the server answers NO naming the missing key
// (the user-key mail still opens with the user's password); restored with
// another key file, restore fails with a clear error.
func TestEncryptedBackupRestoresAndReads(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	keyPath := filepath.Join(base, "server.key")
	env := map[string]string{"YUBIN_DATA": dir, "YUBIN_ENCRYPTION_KEY_FILE": keyPath}
	if code, out := runCLI(env, "encryption", "keygen", keyPath); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	st := openStoreWithKey(t, dir, keyPath)
	for _, d := range []string{"server.test", "user.test"} {
		if _, err := st.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mode := mailstore.EncryptionUser
	if _, err := st.UpdateDomain(ctx, "user.test", mailstore.DomainUpdate{EncryptionMode: &mode}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann@server.test", "bob@user.test"} {
		if _, err := st.CreateUser(ctx, mailstore.NewUser{Address: u, Password: u + "-password"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	serve := func(data string, key string) (*runningServe, string, string) {
		smtpAddr, imapAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
		rs := startServe(t, data, map[string]string{
			"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_FILTERS": "none", "YUBIN_ENCRYPTION_KEY_FILE": key,
			"YUBIN_SMTP_ADDR": smtpAddr, "YUBIN_IMAP_ADDR": imapAddr,
		})
		rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
		return rs, smtpAddr, imapAddr
	}
	rs, smtpAddr, imapAddr := serve(dir, keyPath)
	users := []string{"ann@server.test", "bob@user.test"}
	for _, u := range users {
		for i := range 3 {
			var b strings.Builder
			fmt.Fprintf(&b, "From: sender@example.org\r\nTo: %s\r\nSubject: note %d\r\n\r\nBACKUP-MARKER-%d for %s\r\n", u, i, i, u)
			for j := 0; i == 2 && b.Len() < 140_000; j++ {
				fmt.Fprintf(&b, "line %05d of a long letter\r\n", j)
			}
			sendPlainSMTP(t, smtpAddr, "sender@example.org", u, b.String())
		}
	}
	want := map[string][][]byte{}
	for _, u := range users {
		if want[u] = fetchAll(t, imapAddr, u, u+"-password"); len(want[u]) != 3 {
			t.Fatalf("%s has %d messages, want 3", u, len(want[u]))
		}
	}

	// The backup, taken while the server runs, holds no message text.
	dest := filepath.Join(base, "backup")
	if code, out := runCLI(env, "backup", dest, "--copy", "--verify"); code != 0 {
		t.Fatalf("backup: %d %s", code, out)
	}
	rs.stop(t)
	for _, marker := range []string{"BACKUP-MARKER-", "of a long letter"} {
		if hits := filesContaining(dest, marker); len(hits) > 0 {
			t.Fatalf("%q in plaintext in the backup: %v", marker, hits)
		}
	}

	// Restored with the key: every message byte for byte.
	restored := filepath.Join(base, "restored")
	renv := map[string]string{"YUBIN_DATA": restored, "YUBIN_ENCRYPTION_KEY_FILE": keyPath}
	if code, out := runCLI(renv, "restore", dest); code != 0 || !strings.Contains(out, "the key file opens them") {
		t.Fatalf("restore with the key: %d %s", code, out)
	}
	rs, _, imapAddr = serve(restored, keyPath)
	for _, u := range users {
		got := fetchAll(t, imapAddr, u, u+"-password")
		if len(got) != len(want[u]) {
			t.Fatalf("%s: %d messages restored, want %d", u, len(got), len(want[u]))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[u][i]) {
				t.Fatalf("%s message %d differs after the restore (%d vs %d bytes)", u, i+1, len(got[i]), len(want[u][i]))
			}
		}
	}
	rs.stop(t)

	// Restored with another key file: a clear error.
	otherKey := filepath.Join(base, "other.key")
	if code, out := runCLI(env, "encryption", "keygen", otherKey); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	wrong := filepath.Join(base, "wrong")
	if code, out := runCLI(map[string]string{"YUBIN_DATA": wrong, "YUBIN_ENCRYPTION_KEY_FILE": otherKey}, "restore", dest); code == 0 || !strings.Contains(out, "does not open the message bodies") {
		t.Fatalf("restore with another key: %d %s", code, out)
	}

	// Restored without the key: restore says so; the server answers NO
	// naming the key for server-key mail, never bytes.
	nokey := filepath.Join(base, "nokey")
	if code, out := runCLI(map[string]string{"YUBIN_DATA": nokey}, "restore", dest); code != 0 || !strings.Contains(out, "are encrypted: start the server with YUBIN_ENCRYPTION_KEY_FILE") {
		t.Fatalf("restore without the key: %d %s", code, out)
	}
	rs, _, imapAddr = serve(nokey, "")
	raw := dialIMAPRaw(t, imapAddr, "ann@server.test", "ann@server.test-password")
	lines := raw.cmd(t, "f1", "FETCH 1 BODY.PEEK[]")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "f1 NO [UNAVAILABLE] ") || !strings.Contains(last, "YUBIN_ENCRYPTION_KEY_FILE") || strings.Contains(strings.Join(lines, ""), "BACKUP-MARKER") {
		t.Fatalf("FETCH without the key: %q", lines)
	}
	raw.Close()
	// Mail sealed to a user's own key needs only their password.
	if got := fetchAll(t, imapAddr, "bob@user.test", "bob@user.test-password"); len(got) != 3 || !bytes.Equal(got[2], want["bob@user.test"][2]) {
		t.Fatal("bob's user-key mail does not read without the server key")
	}
	rs.stop(t)
}
