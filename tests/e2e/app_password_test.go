package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAppPasswordsWithRealClients gives ann's mail clients their own app
// passwords (one through the REST API, one through the CLI), makes her
// domain require two-factor sign-in, and then logs in with swaks (SMTP
// submission over STARTTLS), mbsync (IMAP over STARTTLS) and fetchmail
// (POP3 over STARTTLS) over real sockets: the account password is refused
// on every mail protocol, each app password works on the protocols it is
// for and nowhere else, its last use is recorded, and a revoked one opens
// nothing.
func TestAppPasswordsWithRealClients(t *testing.T) {
	swaks := needPeer(t, "swaks", "swaks")
	mbsync := needPeer(t, "mbsync", "isync")
	fetchmail := needPeer(t, "fetchmail", "fetchmail")

	dir := filepath.Join(t.TempDir(), "data")
	subPort := freePorts(t, 1)[0]
	srv := newServer(t, dir, fmt.Sprintf("YUBIN_SUBMISSION_ADDR=127.0.0.1:%d", subPort),
		"YUBIN_ADMIN_EMAIL=admin@example.com", "YUBIN_ADMIN_PASSWORD=admin-password-1")
	srv.addrs["submission"] = fmt.Sprintf("127.0.0.1:%d", subPort)
	srv.start()
	mustCLI(t, "", nil, "domain", "add", peerClientDomain, "--data", dir)
	mustCLI(t, peerClientPw+"\n", nil, "user", "add", peerClientUser, "--data", dir)
	work := t.TempDir()
	ann := apiLogin(t, srv, peerClientUser, peerClientPw)
	var created map[string]any
	ann.must("POST", "/api/v1/me/app-passwords", map[string]any{"name": "laptop", "protocols": []string{"imap", "submission"}}, http.StatusCreated, &created)
	laptopPw, _ := created["password"].(string)
	laptopID := fmt.Sprint(created["app_password"].(map[string]any)["id"])
	out := mustCLI(t, "", nil, "user", "app-password", "add", peerClientUser, "--name", "old phone", "--protocols", "pop3", "--data", dir)
	phonePw := regexp.MustCompile(`(?m)^[a-z2-7]{4}(-[a-z2-7]{4}){5}$`).FindString(out)
	if laptopPw == "" || phonePw == "" {
		t.Fatalf("no app passwords: API %v, CLI %q", created, out)
	}

	admin := apiLogin(t, srv, "admin@example.com", "admin-password-1")
	admin.must("PATCH", "/api/v1/domains/"+peerClientDomain, map[string]any{"require_two_factor": true}, http.StatusOK, nil)

	send := func(password string) (string, int) {
		return runPeerCode(t, work, swaks, "--server", "127.0.0.1", "--port", fmt.Sprint(subPort), "--tls",
			"--auth", "PLAIN", "--auth-user", peerClientUser, "--auth-password", password,
			"--from", peerClientUser, "--to", peerClientUser, "--header", "Subject: sent with an app password",
			"--body", "Hello from swaks.")
	}
	if out, code := send(peerClientPw); code == 0 || !strings.Contains(out, "535") {
		t.Errorf("swaks with the account password: exit %d, want a 535:\n%s", code, out)
	}
	if out, code := send(phonePw); code == 0 {
		t.Errorf("swaks with the POP3-only app password: exit 0\n%s", out)
	}
	if out, code := send(laptopPw); code != 0 {
		t.Fatalf("swaks with the app password: exit %d\n%s", code, out)
	}

	maildir := filepath.Join(work, "mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	mbsyncRC := func(password string) string {
		cfg := filepath.Join(work, "mbsyncrc")
		writeFile(t, cfg, fmt.Sprintf("IMAPAccount yubin\nHost 127.0.0.1\nPort %s\nUser %s\nPass %s\nSSLType STARTTLS\nCertificateFile %s\n\n"+
			"IMAPStore far\nAccount yubin\n\nMaildirStore near\nPath %s/\nInbox %s/INBOX\n\nChannel yubin\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Near\nSyncState *\n",
			srv.port("imap"), peerClientUser, password, srv.certFile(), maildir, maildir))
		return cfg
	}
	if out, code := runPeerCode(t, work, mbsync, "-c", mbsyncRC(peerClientPw), "-a"); code == 0 || !strings.Contains(out, "AUTHENTICATIONFAILED") {
		t.Errorf("mbsync with the account password: exit %d, want an authentication failure\n%s", code, out)
	}
	if out, code := runPeerCode(t, work, mbsync, "-c", mbsyncRC(phonePw), "-a"); code == 0 {
		t.Errorf("mbsync with the POP3-only app password: exit 0\n%s", out)
	}
	if out, code := runPeerCode(t, work, mbsync, "-c", mbsyncRC(laptopPw), "-a"); code != 0 {
		t.Fatalf("mbsync with the app password: exit %d\n%s", code, out)
	}
	if got := grepDir(t, filepath.Join(maildir, "INBOX"), "Hello from swaks."); got != 1 {
		t.Errorf("mbsync fetched %d copies of the message swaks sent, want 1", got)
	}

	fetch := func(name, password string) (string, int) {
		dest := filepath.Join(work, name)
		if err := os.MkdirAll(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		rc := filepath.Join(work, name+".rc")
		writeFile(t, rc, fmt.Sprintf(`set no syslog
set invisible
poll %s via 127.0.0.1 service %s protocol POP3 auth password
  user '%s' there with password '%s' is 'ann' here
  sslproto 'tls1.2+' sslcertck sslcommonname '%s' sslcertfile '%s'
  fetchall keep no rewrite
  mda "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXX)'"
`, testHostname, srv.port("pop3"), peerClientUser, password, testHostname, srv.certFile(), dest))
		out, code := runPeerCode(t, work, fetchmail, "--fetchmailrc", rc, "--pidfile", filepath.Join(work, name+".pid"),
			"--idfile", filepath.Join(work, name+".ids"), "-v")
		return out + fmt.Sprintf("\n(%d messages)", grepDir(t, dest, "Hello from swaks.")), code
	}
	// fetchmail exits 3 for an authentication failure.
	if out, code := fetch("account", peerClientPw); code != 3 {
		t.Errorf("fetchmail with the account password: exit %d, want 3\n%s", code, out)
	}
	if out, code := fetch("laptop", laptopPw); code != 3 {
		t.Errorf("fetchmail with the IMAP/submission app password over POP3: exit %d, want 3\n%s", code, out)
	}
	if out, code := fetch("phone", phonePw); code != 0 || !strings.HasSuffix(out, "(1 messages)") {
		t.Errorf("fetchmail with the POP3 app password: exit %d\n%s", code, out)
	}

	// The list shows where and how each was last used.
	var list map[string]any
	admin.must("GET", "/api/v1/users/"+peerClientUser+"/app-passwords", nil, http.StatusOK, &list)
	for _, it := range list["items"].([]any) {
		ap := it.(map[string]any)
		want := map[string]string{"laptop": "imap", "old phone": "pop3"}[fmt.Sprint(ap["name"])]
		if ap["last_used_from"] != "127.0.0.1" || ap["last_used_protocol"] != want || ap["last_used_at"] == nil {
			t.Errorf("app password %v: last use not recorded (want 127.0.0.1 over %s)", ap, want)
		}
	}

	// Revoked (by the domain's admin here): the laptop is locked out.
	admin.must("DELETE", "/api/v1/users/"+peerClientUser+"/app-passwords/"+laptopID, nil, http.StatusNoContent, nil)
	if out, code := runPeerCode(t, work, mbsync, "-c", mbsyncRC(laptopPw), "-a"); code == 0 {
		t.Errorf("mbsync with a revoked app password: exit 0\n%s", out)
	}
	if out, code := send(laptopPw); code == 0 {
		t.Errorf("swaks with a revoked app password: exit 0\n%s", out)
	}
}

// runPeerCode runs a client program like runPeer and returns its output
// and exit code, whatever the code.
func runPeerCode(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), "HOME="+dir, "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s hung:\n%s", name, out.String())
	}
	if cmd.ProcessState == nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// grepDir counts the files under dir that contain s.
func grepDir(t *testing.T, dir, s string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
		return nil
	})
	return n
}
