// Package testpeer is for tests that talk to third-party programs
// (milters, scanners, mail clients, Chromium, unshare), installed from
// Debian packages: it starts them on loopback or Unix sockets, and decides
// what a test does when one is missing — it skips with the reason, unless
// YUBIN_TEST_PEERS=required (which .ci/run sets after installing them)
// makes it fail. Tests never install anything themselves.
package testpeer

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/netutil"
)

// Env is the environment variable that makes missing peers fail tests.
const Env = "YUBIN_TEST_PEERS"

// Required reports whether missing peers must fail the tests.
func Required() bool { return os.Getenv(Env) == "required" }

// Missing ends the test because a peer is missing: a skip that says why,
// or a failure when peers are required. The message names the peer and,
// ideally, the package that provides it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("missing test peer: %s (%s=required: install it, see .ci/install-test-deps.sh)", msg, Env)
	}
	tb.Skipf("missing test peer: %s (set %s=required to make this a failure)", msg, Env)
}

// Need returns path, ending the test through Missing when the program is
// not installed; pkg names the Debian package that has it.
func Need(t testing.TB, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s not installed (Debian package %s)", path, pkg)
	}
	return path
}

// lockedBuffer is a bytes.Buffer safe for a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start runs name with args in the foreground and waits until it accepts
// connections on network/addr (readiness, not a timed wait); the program is
// stopped (SIGTERM, then killed) when the test ends. logs are files whose
// contents are shown when it does not start, or when the test failed.
func Start(t testing.TB, network, addr string, logs []string, name string, args ...string) {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	report := func() string {
		s := out.String()
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s += "\n" + l + ":\n" + string(b)
		}
		return s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, report())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before listening: %v\n%s", name, err, report())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s: %v\n%s", name, addr, err, report())
		}
	}
}

// FreePorts returns n distinct loopback TCP ports free at the time of
// the call: all n are held open until every one is chosen, so that the
// system cannot hand the same port out twice (as n calls of FreePort
// can).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// FreePort returns a loopback TCP port free at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := netutil.FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// OpenDKIM starts opendkim (Debian package opendkim) as a verifying milter
// on a loopback port, with its own configuration in a temporary folder,
// adding an Authentication-Results field with authserv-id to every
// message (also one without a signature: "dkim=none"). It returns the
// milter's address, "127.0.0.1:port". Clients at 192.0.2.250 count as
// internal (opendkim would sign their mail); any other is verified.
func OpenDKIM(t testing.TB, authservID string) string {
	t.Helper()
	bin := Need(t, "/usr/sbin/opendkim", "opendkim")
	dir := t.TempDir()
	port := FreePort(t)
	conf := dir + "/opendkim.conf"
	text := "Socket inet:" + strconv.Itoa(port) + "@127.0.0.1\nMode v\nAuthservID " + authservID +
		"\nAlwaysAddARHeader yes\nSyslog no\nBackground no\nPidFile " + dir + "/opendkim.pid\nInternalHosts 192.0.2.250\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	Start(t, "tcp", addr, nil, bin, "-f", "-x", conf)
	return addr
}
