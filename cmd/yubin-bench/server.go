package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildYubin builds ./cmd/yubin into dir and returns the binary's path.
func buildYubin(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "yubin")
	// -buildvcs=auto over a GOFLAGS=-buildvcs=false: the binary records
	// its commit, which names it in a report of --against yubin:PATH.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=auto", "-o", out, "./cmd/yubin")
	cmd.Dir = moduleRoot()
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/yubin: %w", err)
	}
	return out, nil
}

// moduleRoot finds the folder with go.mod, walking up from the working
// directory (go run and go test start in different folders).
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// admin runs `yubin ARGS... --data DIR` with env (VAR=value) added to the
// clean environment, and fails with its output.
func admin(ctx context.Context, bin, data string, env []string, args ...string) error {
	args = append(args, "--data", data)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("yubin %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// cleanEnv is the environment without any YUBIN_* variable of the caller,
// so that nothing outside decides what is measured; only YUBIN_PPROF_ADDR
// passes, so that the server measured can be profiled (issue 15 item 5).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YUBIN_") || strings.HasPrefix(kv, "YUBIN_PPROF_ADDR=") {
			env = append(env, kv)
		}
	}
	return env
}

// server is a running `yubin serve` child process.
type server struct {
	cmd   *exec.Cmd
	pid   int
	addrs map[string]string // protocol → host:port, from the "listening" log lines
	done  chan struct{}     // closed when the process has exited
	err   error             // its exit status, after done

	mu       sync.Mutex
	problems []string // WARN and ERROR log lines
	nLog     int
	logFile  *os.File
}

// startServer starts `yubin serve` on data with every listener on
// 127.0.0.1 and a free port, except those not in protocols (off), and
// waits for "yubin is ready". extra are more VAR=value settings.
func startServer(ctx context.Context, bin, data, logPath string, protocols []string, extra ...string) (*server, error) {
	on := map[string]bool{}
	for _, p := range protocols {
		on[p] = true
	}
	env := cleanEnv()
	for _, p := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https", "managesieve"} {
		v := ""
		if on[p] {
			v = "127.0.0.1:0"
		}
		env = append(env, "YUBIN_"+strings.ToUpper(p)+"_ADDR="+v)
	}
	env = append(env,
		"YUBIN_DATA="+data,
		"YUBIN_HOSTNAME="+benchHostname,
		"YUBIN_LOG_FORMAT=json",
		"YUBIN_LOG_LEVEL=info",
		"YUBIN_MAX_CONNECTIONS=0",        // no cap: 1,000 IMAP connections
		"YUBIN_MAX_CONNECTIONS_PER_IP=0", // every client is 127.0.0.1
		"YUBIN_INSECURE_AUTH=true",       // plain IMAP/POP3 logins (loopback would be allowed anyway)
	)
	// The first API admin, created at the first start of the server on
	// data whether the HTTP listener is on or not (else one with a
	// generated password, and a warning); the api scenario logs in with
	// it. Later starts leave the variables out: the server warns that they
	// are ignored once an admin exists. A file beside the data folder
	// (never in it) remembers the first start.
	adminMade := filepath.Clean(data) + ".admin-made"
	if _, err := os.Stat(adminMade); errors.Is(err, fs.ErrNotExist) {
		env = append(env, "YUBIN_ADMIN_EMAIL="+apiAdmin, "YUBIN_ADMIN_PASSWORD="+apiAdminPassword)
	}
	env = append(env, extra...)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout = lf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start yubin serve: %w", err)
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, addrs: map[string]string{}, done: make(chan struct{}), logFile: lf}
	ready := make(chan struct{})
	go s.readLog(stderr, ready)
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
		if err := os.WriteFile(adminMade, nil, 0o600); err != nil {
			s.kill()
			return nil, fmt.Errorf("remember the first start: %w", err)
		}
		return s, nil
	case <-s.done:
		lf.Close()
		return nil, fmt.Errorf("yubin serve exited at start (%v); log in %s:\n%s", s.err, logPath, tail(logPath, 20))
	case <-time.After(60 * time.Second):
		s.kill()
		return nil, fmt.Errorf("yubin serve not ready after 60s; log in %s", logPath)
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
}

// readLog copies the server's log to its file, picks up the listening
// addresses and readiness, and keeps warnings and errors.
func (s *server) readLog(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	isReady := false
	for sc.Scan() {
		line := sc.Bytes()
		s.mu.Lock()
		s.logFile.Write(line)
		s.logFile.Write([]byte{'\n'})
		s.nLog++
		s.mu.Unlock()
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			s.addProblem("unparsable log line: " + string(line))
			continue
		}
		msg, _ := rec["msg"].(string)
		level, _ := rec["level"].(string)
		if level == "WARN" || level == "ERROR" {
			s.addProblem(string(line))
		}
		if msg == "listening" && !isReady {
			p, _ := rec["protocol"].(string)
			a, _ := rec["addr"].(string)
			s.mu.Lock()
			s.addrs[p] = a
			s.mu.Unlock()
		}
		if msg == "yubin is ready" && !isReady {
			isReady = true
			close(ready)
		}
	}
}

func (s *server) addProblem(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 200 {
		s.problems = append(s.problems, line)
	}
}

// Problems returns the WARN and ERROR lines logged so far.
func (s *server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// Addr returns the address of protocol's listener, or "".
func (s *server) Addr(protocol string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[protocol]
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 60s).
func (s *server) Stop() error {
	defer func() {
		s.mu.Lock()
		s.logFile.Close()
		s.mu.Unlock()
	}()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.kill()
		return errors.New("yubin serve did not stop within 60s of SIGTERM; killed")
	}
	if s.err != nil {
		return fmt.Errorf("yubin serve exited with %v after SIGTERM", s.err)
	}
	return nil
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// procCPU returns the user+system CPU time the process has used.
func procCPU(pid int) (time.Duration, error) {
	u, s, err := procCPUSplit(pid)
	return u + s, err
}

// procCPUSplit returns the user and the system CPU time of the process.
func procCPUSplit(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain spaces: parse after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, errors.New("bad /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("bad utime/stime in /proc/PID/stat")
	}
	return time.Duration(ut) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports (sysconf(_SC_CLK_TCK) without cgo).
const clockTicks = 100

// procRSS returns VmRSS of the process in KiB.
func procRSS(pid int) (int64, error) {
	return procStatusField(pid, "VmRSS:")
}

func procStatusField(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line[len(field):])
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// selfCPU returns the CPU time used by this process (the load generator).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitGreeting reports whether something answers on addr with a line
// within d (an IMAP or POP3 listener that is bound but not served yet
// accepts and stays silent).
func waitGreeting(addr string, d time.Duration) bool {
	if addr == "" {
		return false
	}
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && len(line) > 0
}

// raiseNoFile raises this process's open-file limit to the hard limit;
// the server inherits it.
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
