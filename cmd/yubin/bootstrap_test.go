package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for a server writing and a test
// reading.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningServe is `yubin serve` run in-process with only HTTP on.
type runningServe struct {
	stderr *lockedBuffer
	http   string
	cancel context.CancelFunc
	done   chan int
	opened bool // it printed what waitFor waited for: its store is open
}

// startServe runs serve on dir with HTTP on a free loopback port and the
// other listeners off, with the given extra settings.
func startServe(t testing.TB, dir string, settings map[string]string) *runningServe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{"YUBIN_DATA": dir, "YUBIN_HTTP_ADDR": addr}
	for _, k := range []string{"SMTP", "SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "HTTPS", "MANAGESIEVE"} {
		vars["YUBIN_"+k+"_ADDR"] = ""
	}
	for k, v := range settings {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServe{stderr: &lockedBuffer{}, http: addr, cancel: cancel, done: make(chan int, 1)}
	e := &env{
		stdin: strings.NewReader(""), stdout: rs.stderr, stderr: rs.stderr,
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		notify:    func() (<-chan os.Signal, func()) { return make(chan os.Signal), func() {} },
	}
	go func() { rs.done <- run(ctx, []string{"serve"}, e) }()
	t.Cleanup(func() {
		// Only once it has started: a cancelled context while the store
		// opens is not what these tests are about.
		if rs.opened {
			rs.stop(t)
		} else {
			rs.wait(t)
		}
	})
	return rs
}

// stop ends the server and returns its exit status.
func (rs *runningServe) stop(t testing.TB) int {
	rs.cancel()
	return rs.wait(t)
}

// wait waits for the server to end and returns its exit status.
func (rs *runningServe) wait(t testing.TB) int {
	select {
	case code := <-rs.done:
		rs.done <- code
		return code
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop:\n%s", rs.stderr.String())
	}
	return -1
}

// waitFor waits until the server's output matches re or the server ends.
func (rs *runningServe) waitFor(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(rs.stderr.String()); m != nil {
			rs.opened = true
			return m
		}
		select {
		case code := <-rs.done:
			rs.done <- code
			t.Fatalf("serve ended (%d) before printing %v:\n%s", code, re, rs.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve never printed %v:\n%s", re, rs.stderr.String())
	return nil
}

// loginStatus logs in over HTTP and returns the status.
func loginStatus(t *testing.T, addr, email, password string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	for i := 0; ; i++ {
		resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if i == 3000 {
			t.Fatalf("login: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the listener is not up yet
	}
}

// TestFirstStartOneLabelHostname: on a host whose name has one label and
// with YUBIN_LOG_LEVEL=error, serve starts, makes the first admin
// admin@vm.localdomain, shows its generated password on standard error,
// and that password logs in over HTTP (issue 13 items 1 and 6, issue 11
// item 20).
func TestFirstStartOneLabelHostname(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	rs := startServe(t, dir, map[string]string{"YUBIN_HOSTNAME": "vm", "YUBIN_LOG_LEVEL": "error"})
	m := rs.waitFor(t, regexp.MustCompile(`created the server admin (admin@vm\.localdomain) with the password (\S+) `))
	if code := loginStatus(t, rs.http, m[1], m[2]); code != http.StatusOK {
		t.Fatalf("login with the shown password: %d\n%s", code, rs.stderr.String())
	}
	if code := rs.stop(t); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, rs.stderr.String())
	}

	// On the next start, YUBIN_ADMIN_PASSWORD is ignored, and it says so.
	rs = startServe(t, dir, map[string]string{"YUBIN_HOSTNAME": "vm", "YUBIN_ADMIN_PASSWORD": "a-new-password", "YUBIN_LOG_LEVEL": "warn"})
	rs.waitFor(t, regexp.MustCompile(`YUBIN_ADMIN_EMAIL and YUBIN_ADMIN_PASSWORD only create the first server admin.*ignored`))
	if code := loginStatus(t, rs.http, m[1], "a-new-password"); code != http.StatusUnauthorized {
		t.Errorf("login with the ignored YUBIN_ADMIN_PASSWORD: %d", code)
	}
	if code := loginStatus(t, rs.http, m[1], m[2]); code != http.StatusOK {
		t.Errorf("login with the first password: %d", code)
	}
}

// TestSettingsCheckedBeforeListening: the one-label warning comes before
// the first "listening" line, and a first admin address that cannot work
// stops the start before any listener is opened (issue 13 item 6).
func TestSettingsCheckedBeforeListening(t *testing.T) {
	rs := startServe(t, filepath.Join(t.TempDir(), "data"), map[string]string{"YUBIN_HOSTNAME": "vm", "YUBIN_LOG_LEVEL": "info"})
	rs.waitFor(t, regexp.MustCompile(`msg=listening`))
	out := rs.stderr.String()
	if w, l := strings.Index(out, "has one label"), strings.Index(out, "msg=listening"); w < 0 || w > l {
		t.Errorf("no one-label warning before the first listening line:\n%s", out)
	}
	rs.stop(t)

	rs = startServe(t, filepath.Join(t.TempDir(), "data"), map[string]string{"YUBIN_HOSTNAME": "mail.example.com", "YUBIN_ADMIN_EMAIL": "admin@vm", "YUBIN_LOG_LEVEL": "info"})
	if code := rs.wait(t); code != 1 {
		t.Errorf("serve with YUBIN_ADMIN_EMAIL=admin@vm exited %d, want 1", code)
	}
	out = rs.stderr.String()
	if !strings.Contains(out, "YUBIN_ADMIN_EMAIL") || strings.Contains(out, "msg=listening") {
		t.Errorf("want an error naming YUBIN_ADMIN_EMAIL before any listening line:\n%s", out)
	}

	// An API signing key that cannot be used stops the start before any
	// listener opens, too.
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "api"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api", "jwt.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs = startServe(t, dir, map[string]string{"YUBIN_HOSTNAME": "mail.example.com", "YUBIN_LOG_LEVEL": "info"})
	if code := rs.wait(t); code != 1 {
		t.Errorf("serve with a broken jwt.key exited %d, want 1", code)
	}
	out = rs.stderr.String()
	if !strings.Contains(out, "jwt.key") || strings.Contains(out, "msg=listening") {
		t.Errorf("want an error naming jwt.key before any listening line:\n%s", out)
	}
}

// TestAdminCommands runs `yubin admin add|list|passwd|remove` on the data
// folder of a running server and checks the effect over HTTP: the way back
// in for an admin who is locked out (issue 13 item 1).
func TestAdminCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	rs := startServe(t, dir, map[string]string{"YUBIN_HOSTNAME": "mail.example.com", "YUBIN_ADMIN_PASSWORD": "first-password", "YUBIN_LOG_LEVEL": "info"})
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
	cli := func(stdin string, args ...string) (int, string) {
		var out bytes.Buffer
		e := &env{
			stdin: strings.NewReader(stdin), stdout: &out, stderr: &out,
			lookupEnv: func(k string) (string, bool) {
				if k == "YUBIN_DATA" {
					return dir, true
				}
				return "", false
			},
			notify: func() (<-chan os.Signal, func()) { return make(chan os.Signal), func() {} },
		}
		return run(context.Background(), args, e), out.String()
	}
	const first = "admin@mail.example.com"
	if code, out := cli("", "admin", "add", "second@example.com", "--password", "second-password"); code != 0 || !strings.Contains(out, "added server admin second@example.com") {
		t.Fatalf("admin add: %d %q", code, out)
	}
	if code := loginStatus(t, rs.http, "second@example.com", "second-password"); code != http.StatusOK {
		t.Errorf("login as the added admin: %d", code)
	}
	if code, out := cli("", "admin", "add", "second@example.com", "--password", "second-password"); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("admin add twice: %d %q", code, out)
	}
	if code, out := cli("", "admin", "list"); code != 0 || !strings.Contains(out, first) || !strings.Contains(out, "second@example.com") || !strings.Contains(out, "2 admins") {
		t.Errorf("admin list: %d %q", code, out)
	}
	// The password from standard input, as a locked-out admin would.
	if code, out := cli("recovered-password\n", "admin", "passwd", first); code != 0 {
		t.Fatalf("admin passwd: %d %q", code, out)
	}
	if code := loginStatus(t, rs.http, first, "first-password"); code != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d", code)
	}
	if code := loginStatus(t, rs.http, first, "recovered-password"); code != http.StatusOK {
		t.Errorf("login with the new password: %d", code)
	}
	if code, out := cli("", "admin", "passwd", "nobody@example.com", "--password", "long-enough"); code != 1 || !strings.Contains(out, "no admin nobody@example.com") {
		t.Errorf("admin passwd of an unknown admin: %d %q", code, out)
	}
	if code, out := cli("", "admin", "remove", "second@example.com"); code != 0 || !strings.Contains(out, "removed server admin second@example.com") {
		t.Errorf("admin remove: %d %q", code, out)
	}
	if code := loginStatus(t, rs.http, "second@example.com", "second-password"); code != http.StatusUnauthorized {
		t.Errorf("login as the removed admin: %d", code)
	}
	if code, out := cli("", "admin", "remove", first); code != 1 || !strings.Contains(out, "last server admin") {
		t.Errorf("admin remove of the last admin: %d %q", code, out)
	}
}
