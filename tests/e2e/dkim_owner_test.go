package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// nobodyUID is the service user of the ownership tests.
const nobodyUID = 65534

// TestUnreadableDKIMKeysRefuseUnsigned runs the server as a service user
// whose domain's DKIM keys were written by root (0600, as `yubin domain add`
// run as root used to leave them): the server must say so loudly, report
// not ready, and answer 451 to the domain's submissions rather than send
// them unsigned; once the keys are readable again, mail goes out signed
// (issue 11).
func TestUnreadableDKIMKeysRefuseUnsigned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it runs the server as another user")
	}
	t.Parallel()
	base, err := os.MkdirTemp("", "yubin-dkim-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// A copy of the binary the service user may run.
	bin := filepath.Join(base, "yubin")
	data, err := os.ReadFile(yubinBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	cred := &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}
	asNobody := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data="+dir)...)
		cmd.Env = baseEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("yubin %s as uid %d: %v\n%s", strings.Join(args, " "), nobodyUID, err, out)
		}
	}
	asNobody("domain", "add", "dk.test")
	for _, u := range []string{"ann@dk.test", "bob@dk.test"} {
		asNobody("user", "add", u, "--password="+sendPassword)
	}
	// The keys as root's CLI wrote them.
	keyDir := filepath.Join(dir, "dkim", "dk.test")
	entries, err := os.ReadDir(keyDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no DKIM keys in %s: %v", keyDir, err)
	}
	setOwner := func(uid int) {
		t.Helper()
		for _, e := range entries {
			p := filepath.Join(keyDir, e.Name())
			if err := os.Chown(p, uid, uid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	setOwner(0)

	srv := newServer(t, dir, "YUBIN_SUBMISSION_ADDR=127.0.0.1:0")
	srv.bin, srv.cred = bin, cred
	srv.startNoWait()
	srv.waitLog("yubin is ready", 30*time.Second)
	m := submissionRE.FindStringSubmatch(srv.log.String())
	if m == nil {
		t.Fatalf("no submission listener in the log:\n%s", tail(srv.log.String(), 40))
	}
	srv.addrs["submission"] = m[1]
	if !strings.Contains(srv.log.String(), "DKIM KEYS UNREADABLE") {
		t.Errorf("no loud error about the unreadable keys at start:\n%s", tail(srv.log.String(), 40))
	}
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"dkim":"unavailable"`) {
		t.Errorf("with unreadable DKIM keys: /readyz %d %s, want 503 naming dkim", code, body)
	}
	msg := "From: Ann <ann@dk.test>\r\nTo: bob@dk.test\r\nSubject: signed or nothing\r\nMessage-ID: <dk.1@dk.test>\r\n\r\nhello\r\n"
	err = submit(srv, "ann@dk.test", "ann@dk.test", []string{"bob@dk.test"}, msg)
	wantSMTPCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})

	// The admin fixes the owner: mail goes out, signed.
	setOwner(nobodyUID)
	waitReadyz(t, srv, http.StatusOK, 30*time.Second)
	if err := submit(srv, "ann@dk.test", "ann@dk.test", []string{"bob@dk.test"}, msg); err != nil {
		t.Fatalf("submission with readable keys: %v", err)
	}
	got := imapInbox(t, srv, "bob@dk.test", sendPassword)
	if len(got) != 1 {
		t.Fatalf("%d messages in Bob's INBOX, want 1 (the second submission)", len(got))
	}
	if !bytes.Contains(got[0], []byte("DKIM-Signature:")) {
		t.Errorf("delivered without a DKIM signature:\n%s", got[0])
	}
	srv.stop()
}
