// Package e2e tests the yubin binary as a user runs it: built with
// `go build`, started as a real process on loopback ports with a temporary
// data folder, and driven over SMTP, IMAP, POP3, HTTP and its command line.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// yubinBin is the binary under test, built once by TestMain.
var yubinBin string

// testHostname is YUBIN_HOSTNAME for every server the tests start.
const testHostname = "mail.test"

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

// prebuiltEnv, when set, names a yubin binary already built by the parent
// of a test that re-runs itself in another network namespace.
const prebuiltEnv = "YUBIN_E2E_BIN"

func buildAndRun(m *testing.M) int {
	if bin := os.Getenv(prebuiltEnv); bin != "" {
		yubinBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "yubin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	yubinBin = filepath.Join(dir, "yubin")
	// go test puts the go command of its own toolchain first on PATH.
	goTool := "go"
	args := []string{"build", "-o", yubinBin}
	if raceEnabled {
		// A server built with the race detector reports data races on its
		// standard error, which the tests check.
		args = append(args, "-race")
	}
	args = append(args, "github.com/yubinmail/yubin/cmd/yubin")
	cmd := exec.Command(goTool, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building yubin failed:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %s (race=%v)\n", yubinBin, time.Since(start).Round(time.Millisecond), raceEnabled)
	return m.Run()
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are found
// by listening on port 0 and closing again, so another process could take
// one in between; on loopback in a test run that is rare enough.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// baseEnv is the process environment without any YUBIN_* variable, so that
// the caller's settings do not leak into the tests.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YUBIN_") {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running `yubin serve` process.
type server struct {
	t       *testing.T
	dataDir string
	env     []string
	addrs   map[string]string // protocol → 127.0.0.1:port

	// bin is the binary to run (yubinBin if empty); cred, if set, the
	// user to run it as.
	bin  string
	cred *syscall.Credential

	cmd    *exec.Cmd
	log    *syncBuffer
	done   chan struct{} // closed when the process has exited
	waitMu sync.Mutex
	state  *os.ProcessState
}

// newServer prepares (without starting) a server on fresh loopback ports
// with data in dataDir; extra are additional VAR=value settings.
func newServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	protos := []string{"smtp", "imap", "imaps", "pop3", "pop3s", "http", "https", "managesieve"}
	ports := freePorts(t, len(protos))
	s := &server{t: t, dataDir: dataDir, addrs: map[string]string{}}
	env := append(baseEnv(),
		"YUBIN_DATA="+dataDir,
		"YUBIN_HOSTNAME="+testHostname,
		"YUBIN_SUBMISSION_ADDR=",
		"YUBIN_SUBMISSIONS_ADDR=",
		"YUBIN_LOG_LEVEL=info",
	)
	for i, p := range protos {
		s.addrs[p] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		env = append(env, fmt.Sprintf("YUBIN_%s_ADDR=%s", strings.ToUpper(p), s.addrs[p]))
	}
	env = append(env, databaseEnv(t, dataDir)...)
	s.env = append(env, extra...) // extra wins over what is above (os/exec keeps the last)
	return s
}

// start runs the process and waits until /readyz answers 200.
func (s *server) start() {
	s.t.Helper()
	s.startNoWait()
	s.waitReady()
}

// startNoWait runs the process.
func (s *server) startNoWait(args ...string) {
	s.t.Helper()
	s.log = &syncBuffer{}
	s.done = make(chan struct{})
	s.state = nil
	bin := yubinBin
	if s.bin != "" {
		bin = s.bin
	}
	s.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	s.cmd.Env = s.env
	if s.cred != nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start yubin serve: %v", err)
	}
	cmd, done, log, t := s.cmd, s.done, s.log, s.t
	go func() {
		_ = cmd.Wait()
		s.waitMu.Lock()
		s.state = cmd.ProcessState
		s.waitMu.Unlock()
		close(done)
	}()
	s.t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		out := log.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", out)
		} else if t.Failed() {
			t.Logf("server log:\n%s", tail(out, 60))
		}
	})
}

// waitReady polls /readyz until it answers 200, and fails the test if the
// process exits or 30 seconds pass.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			s.t.Fatalf("yubin serve exited during start-up: %v\n%s", s.exitState(), s.log.String())
		default:
		}
		resp, err := client.Get("http://" + s.addrs["http"] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("yubin serve not ready after 30s:\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the process.
func (s *server) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// code (-1 for a death by signal).
func (s *server) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("yubin serve still running %s after being told to stop\n%s", timeout, tail(s.log.String(), 40))
	}
	return s.exitState().ExitCode()
}

func (s *server) exitState() *os.ProcessState {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return s.state
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	if code := s.wait(40 * time.Second); code != 0 {
		s.t.Fatalf("yubin serve exited with %d after SIGTERM, want 0\n%s", code, tail(s.log.String(), 40))
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (s *server) kill9() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
	s.wait(10 * time.Second)
}

// waitLog waits until the server log contains substr.
func (s *server) waitLog(substr string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.log.String(), substr) {
		if time.Now().After(deadline) {
			s.t.Fatalf("server log has no %q after %s:\n%s", substr, timeout, tail(s.log.String(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsConfig trusts the self-signed certificate the server made in its
// data folder, and checks that it is valid for the test hostname.
func (s *server) tlsConfig() *tls.Config {
	s.t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(s.dataDir, "tls", "selfsigned-cert.pem"))
	if err != nil {
		s.t.Fatalf("read the generated certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		s.t.Fatal("the generated certificate is not PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: testHostname}
}

// cliResult is the outcome of one yubin command.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs yubin with args, stdin and env (VAR=value) and returns its
// exit code and output.
func runCLI(t *testing.T, stdin string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, yubinBin, args...)
	cmd.Env = append(append(baseEnv(), databaseEnv(t, dataDirOf(env, args))...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run yubin %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// mustCLI runs yubin and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin string, env []string, args ...string) string {
	t.Helper()
	r := runCLI(t, stdin, env, args...)
	if r.code != 0 {
		t.Fatalf("yubin %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// dataDirOf returns the data folder a command line with env and args
// works on ("" for the default): --data's value, or YUBIN_DATA's.
func dataDirOf(env, args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--data="); ok {
			return v
		}
		if a == "--data" && i+1 < len(args) {
			return args[i+1]
		}
	}
	dir := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "YUBIN_DATA="); ok {
			dir = v
		}
	}
	return dir
}

// databaseEnv is the YUBIN_DATABASE setting of the data folder dir on the
// test run's engine (mailstoretest.DSNIn): none on SQLite, the folder's
// PostgreSQL database otherwise, the same for every process on dir.
func databaseEnv(t *testing.T, dir string) []string {
	t.Helper()
	if dir == "" {
		return nil
	}
	if dsn := mailstoretest.DSNIn(t, dir); dsn != "" {
		return []string{"YUBIN_DATABASE=" + dsn}
	}
	return nil
}

// openStore opens the mailstore of a data folder in this process; the
// server must not be running on it.
func openStore(t *testing.T, dir string) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir)})
	if err != nil {
		t.Fatalf("open mailstore %s: %v", dir, err)
	}
	return st
}

// inbox returns the raw messages in a user's INBOX, in UID order.
func inbox(t *testing.T, st *mailstore.Store, address string) [][]byte {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUser(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	metas, err := st.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range metas {
		b, err := st.OpenMessage(ctx, &metas[i])
		if err != nil {
			t.Fatalf("open message UID %d: %v", metas[i].UID, err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatalf("read message UID %d: %v", metas[i].UID, err)
		}
		if int64(len(data)) != metas[i].Size {
			t.Errorf("message UID %d: %d bytes, metadata says %d", metas[i].UID, len(data), metas[i].Size)
		}
		out = append(out, data)
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
