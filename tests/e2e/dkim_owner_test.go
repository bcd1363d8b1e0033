package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobodyUID is the service user of the ownership tests.
const nobodyUID = 65534

// TestUnreadableDKIMKeyFilesStopTheUpgrade upgrades a data folder of an
// older version, whose DKIM keys are files in DATA/dkim, written by root
// (0600, as `yubin domain add` run as root used to leave them), for a
// server that runs as a service user. The keys move into the database at
// the first start; unreadable ones stop the start with an error naming the
// domain, rather than the domain's mail being signed with new keys its DNS
// does not publish. Once the files are readable the server starts, takes
// the keys over (the files are removed), and signs with the very key the
// DNS publishes (issues 11 and 16).
func TestUnreadableDKIMKeyFilesStopTheUpgrade(t *testing.T) {
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
		cmd.Env = append(baseEnv(), databaseEnv(t, dir)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("yubin %s as uid %d: %v\n%s", strings.Join(args, " "), nobodyUID, err, out)
		}
	}
	// The key files of the older version, as root wrote them.
	keyDir := filepath.Join(dir, "dkim", "dk.test")
	selector := writeLegacyDKIMKeys(t, keyDir)
	for _, d := range []string{filepath.Join(dir, "dkim"), keyDir} {
		if err := os.Chown(d, nobodyUID, nobodyUID); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(keyDir)
	if err != nil || len(entries) != 3 {
		t.Fatalf("key files %v, %v", entries, err)
	}
	setOwner := func(uid int) {
		t.Helper()
		for _, e := range entries {
			if err := os.Chown(filepath.Join(keyDir, e.Name()), uid, uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	setOwner(0)
	// The admin commands work meanwhile (without the keys: they warn).
	asNobody("domain", "add", "dk.test")
	for _, u := range []string{"ann@dk.test", "bob@dk.test"} {
		asNobody("user", "add", u, "--password="+sendPassword)
	}

	srv := newServer(t, dir, "YUBIN_SUBMISSION_ADDR=127.0.0.1:0")
	srv.bin, srv.cred = bin, cred
	srv.startNoWait()
	if code := srv.wait(30 * time.Second); code == 0 {
		t.Fatalf("yubin serve started with unreadable DKIM key files:\n%s", tail(srv.log.String(), 40))
	}
	if out := srv.log.String(); !strings.Contains(out, "dk.test") || !strings.Contains(out, "make the files readable") {
		t.Errorf("the start-up error does not name the domain and the fix:\n%s", tail(out, 20))
	}

	// The admin fixes the owner: the keys move into the database, the
	// files go, and mail is signed with the published key.
	setOwner(nobodyUID)
	srv.startNoWait()
	srv.waitLog("yubin is ready", 30*time.Second)
	if !strings.Contains(srv.log.String(), "DKIM key files imported") {
		t.Errorf("no log of the import:\n%s", tail(srv.log.String(), 40))
	}
	if _, err := os.Stat(filepath.Join(dir, "dkim")); !os.IsNotExist(err) {
		t.Errorf("the key files are still there after the import: %v", err)
	}
	m := submissionRE.FindStringSubmatch(srv.log.String())
	if m == nil {
		t.Fatalf("no submission listener in the log:\n%s", tail(srv.log.String(), 40))
	}
	srv.addrs["submission"] = m[1]
	waitReadyz(t, srv, http.StatusOK, 30*time.Second)
	msg := "From: Ann <ann@dk.test>\r\nTo: bob@dk.test\r\nSubject: signed\r\nMessage-ID: <dk.1@dk.test>\r\n\r\nhello\r\n"
	if err := submit(srv, "ann@dk.test", "ann@dk.test", []string{"bob@dk.test"}, msg); err != nil {
		t.Fatalf("submission: %v", err)
	}
	got := imapInbox(t, srv, "bob@dk.test", sendPassword)
	if len(got) != 1 {
		t.Fatalf("%d messages in Bob's INBOX, want 1", len(got))
	}
	if !bytes.Contains(got[0], []byte("DKIM-Signature:")) || !bytes.Contains(got[0], []byte("s="+selector)) {
		t.Errorf("not signed with the imported key %s:\n%s", selector, got[0])
	}
	srv.stop()
}

// writeLegacyDKIMKeys writes an RSA and an Ed25519 key in dir as older
// versions kept them (PKCS #8 PEM files and keys.json) and returns the RSA
// key's selector.
func writeLegacyDKIMKeys(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	type keyState struct {
		Selector  string    `json:"selector"`
		Algorithm string    `json:"algorithm"`
		CreatedAt time.Time `json:"created_at"`
	}
	var state struct {
		Keys []keyState `json:"keys"`
	}
	for _, k := range []struct {
		sel, alg string
		key      any
	}{{"yb202601r", "rsa", rsaKey}, {"yb202601e", "ed25519", edKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			t.Fatal(err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, k.sel+"."+k.alg+".pem"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		state.Keys = append(state.Keys, keyState{k.sel, k.alg, created})
	}
	data, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return "yb202601r"
}
