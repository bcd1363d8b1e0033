package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// netnsEnv marks the run of TestIPv6ConnCapPerPrefix inside its own
// network namespace.
const netnsEnv = "YUBIN_E2E_NETNS"

// TestIPv6ConnCapPerPrefix connects to the SMTP port from several IPv6
// addresses of one /64, as one client holding a /64 can: together they
// must not get more connections than the per-IP cap, while another /64
// still gets in (issue 11). The test runs itself again in a new network
// namespace, where it may give the loopback interface the addresses.
func TestIPv6ConnCapPerPrefix(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		if os.Geteuid() != 0 {
			testpeer.Missing(t, "root (to make a network namespace with IPv6 addresses)")
		}
		for _, tool := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				testpeer.Missing(t, "%s (util-linux, iproute2)", tool)
			}
		}
		cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestIPv6ConnCapPerPrefix$", "-test.count=1", "-test.v")
		// SQLite in there: the namespace has its own loopback, without
		// the test run's PostgreSQL (the test is about connections).
		cmd.Env = append(os.Environ(), netnsEnv+"=1", prebuiltEnv+"="+yubinBin, testdb.EnvServer+"=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the test in its network namespace failed: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "--- SKIP") {
			t.Skipf("skipped in its network namespace:\n%s", out)
		}
		return
	}

	// In the namespace: loopback up, with addresses of two /64s.
	const prefix, other = "2001:db8:5::", "2001:db8:6::"
	ipCmds := [][]string{{"link", "set", "lo", "up"}}
	for i := 1; i <= 6; i++ {
		ipCmds = append(ipCmds, []string{"-6", "addr", "add", fmt.Sprintf("%s%d/64", prefix, i), "dev", "lo", "nodad"})
	}
	ipCmds = append(ipCmds, []string{"-6", "addr", "add", other + "1/64", "dev", "lo", "nodad"})
	for _, args := range ipCmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	const perIP = 3
	dir := filepath.Join(t.TempDir(), "data")
	smtpAddr := "[" + prefix + "1]:2525"
	srv := newServer(t, dir, "YUBIN_SMTP_ADDR="+smtpAddr, fmt.Sprintf("YUBIN_MAX_CONNECTIONS_PER_IP=%d", perIP))
	srv.start()

	greet := func(from string) (net.Conn, string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", smtpAddr)
		if err != nil {
			t.Fatalf("connect from %s: %v", from, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("greeting for %s: %v", from, err)
		}
		return c, line
	}
	// perIP connections from perIP different addresses of the /64.
	for i := 2; i < 2+perIP; i++ {
		c, line := greet(fmt.Sprintf("%s%d", prefix, i))
		defer c.Close()
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d of the /64: %q, want 220", i-1, line)
		}
	}
	// One more address of the same /64: refused.
	c, line := greet(prefix + "6")
	c.Close()
	if !strings.HasPrefix(line, "421 ") {
		t.Errorf("connection %d from the same /64: %q, want 421 (the cap is %d per /64)", perIP+1, line, perIP)
	}
	// Another /64 is another client.
	c, line = greet(other + "1")
	c.Close()
	if !strings.HasPrefix(line, "220 ") {
		t.Errorf("connection from another /64: %q, want 220", line)
	}
}
