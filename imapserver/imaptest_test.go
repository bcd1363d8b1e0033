package imapserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// Dovecot's imaptest (https://imapwiki.org/ImapTest) is a conformance and
// stress tester that nobody here wrote. These tests run it against a real
// server when it is installed: the imaptest binary on PATH, and
// YUBIN_IMAPTEST_DIR naming the folder of its scripted tests (src/tests of
// its source tree). Without them they skip and say why; CI does not have
// imaptest (see docs/conformance.md for how to build and run it).

// imaptestSecondUser is the second account scripted tests that need two
// users (user2=) log in as.
const imaptestSecondUser = "bob@example.test"

// imaptestSetup finds imaptest and its tests folder, or skips.
func imaptestSetup(t *testing.T) (bin, dir string) {
	t.Helper()
	bin, err := exec.LookPath("imaptest")
	if err != nil {
		t.Skip("imaptest is not on PATH (Dovecot's conformance tester; docs/conformance.md says how to build it)")
	}
	dir = os.Getenv("YUBIN_IMAPTEST_DIR")
	if dir == "" {
		t.Skip("YUBIN_IMAPTEST_DIR is not set (the folder of imaptest's scripted tests, src/tests in its source)")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("YUBIN_IMAPTEST_DIR=%s is not a folder: %v", dir, err)
	}
	return bin, dir
}

// imaptestEnv starts a server configured as yubin serve configures its
// own (COMPRESS on) with a second user, and returns its port.
func imaptestEnv(t *testing.T) (*testEnv, int) {
	t.Helper()
	env := newTestEnv(t, func(o *Options) { o.Compress = true })
	if _, err := env.store.CreateUser(context.Background(), mailstore.NewUser{Address: imaptestSecondUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	_, portText, err := net.SplitHostPort(env.addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	return env, port
}

// runImaptest runs imaptest with args in a fresh working folder (it writes
// rawlog files there when asked) and returns what it printed and its exit
// error.
func runImaptest(t *testing.T, bin string, limit time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("imaptest %s did not finish within %s:\n%s", strings.Join(args, " "), limit, out.String())
	}
	return out.String(), err
}

// imaptestSummary is the closing report of imaptest's scripted mode.
type imaptestSummary struct {
	groups, failedGroups, skippedGroups int
	baseFailed, baseRun                 int
	extFailed, extRun                   int
}

var (
	imaptestGroupsLine = regexp.MustCompile(`(?m)^(\d+) test groups: (\d+) failed, (\d+) skipped due to missing capabilities$`)
	imaptestBaseLine   = regexp.MustCompile(`(?m)^base protocol: (\d+)/(\d+) individual commands failed$`)
	imaptestExtLine    = regexp.MustCompile(`(?m)^extensions: (\d+)/(\d+) individual commands failed$`)
)

// parseImaptestSummary reads the three closing lines of a scripted run.
func parseImaptestSummary(out string) (imaptestSummary, error) {
	var s imaptestSummary
	g := imaptestGroupsLine.FindStringSubmatch(out)
	b := imaptestBaseLine.FindStringSubmatch(out)
	e := imaptestExtLine.FindStringSubmatch(out)
	if g == nil || b == nil || e == nil {
		return s, fmt.Errorf("imaptest printed no summary")
	}
	atoi := func(v string) int { n, _ := strconv.Atoi(v); return n }
	s = imaptestSummary{
		groups: atoi(g[1]), failedGroups: atoi(g[2]), skippedGroups: atoi(g[3]),
		baseFailed: atoi(b[1]), baseRun: atoi(b[2]),
		extFailed: atoi(e[1]), extRun: atoi(e[2]),
	}
	return s, nil
}

func TestParseImaptestSummary(t *testing.T) {
	out := "*** Test list command 3/9 (line 12)\n - failed: x\n\n71 test groups: 2 failed, 1 skipped due to missing capabilities\n" +
		"base protocol: 3/457 individual commands failed\nextensions: 4/330 individual commands failed\n"
	got, err := parseImaptestSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	want := imaptestSummary{groups: 71, failedGroups: 2, skippedGroups: 1, baseFailed: 3, baseRun: 457, extFailed: 4, extRun: 330}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseImaptestSummary("Error: connect() failed\n"); err == nil {
		t.Fatal("a run without a summary parsed")
	}
}

// TestImaptestScripted runs imaptest's scripted suite: every group must
// pass. Groups skipped for a capability the server does not announce are
// logged, not failed: some test drafts that no RFC settled.
func TestImaptestScripted(t *testing.T) {
	bin, dir := imaptestSetup(t)
	_, port := imaptestEnv(t)
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, runErr := runImaptest(t, bin, 10*time.Minute,
		"host=127.0.0.1", "port="+strconv.Itoa(port),
		"user="+testAddr, "user2="+imaptestSecondUser, "pass="+testPass,
		"box=imaptest", "test="+abs)
	s, err := parseImaptestSummary(out)
	if err != nil {
		t.Fatalf("%v (exit: %v):\n%s", err, runErr, out)
	}
	t.Logf("%d test groups: %d failed, %d skipped; base %d/%d and extension %d/%d commands failed",
		s.groups, s.failedGroups, s.skippedGroups, s.baseFailed, s.baseRun, s.extFailed, s.extRun)
	if s.failedGroups > 0 || s.baseFailed > 0 || s.extFailed > 0 || runErr != nil {
		t.Fatalf("imaptest found failures (exit: %v):\n%s", runErr, out)
	}
}

// TestImaptestStress runs imaptest's stress mode (random commands from
// several clients on one mailbox, with state tracking) for a bounded time
// and fails on any error it reports: a protocol or state violation.
func TestImaptestStress(t *testing.T) {
	bin, dir := imaptestSetup(t)
	if testing.Short() {
		t.Skip("stress run skipped in -short mode")
	}
	_, port := imaptestEnv(t)
	mbox := filepath.Join(dir, "default.mbox")
	if _, err := os.Stat(mbox); err != nil {
		t.Fatalf("imaptest's stress mode appends from %s: %v", mbox, err)
	}
	out, runErr := runImaptest(t, bin, 3*time.Minute,
		"host=127.0.0.1", "port="+strconv.Itoa(port),
		"user="+testAddr, "pass="+testPass, "mbox="+mbox,
		"clients=5", "secs=10")
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Error:") || strings.Contains(l, "Panic:") || strings.Contains(l, "Fatal:") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 || runErr != nil {
		t.Fatalf("imaptest stress reported %d errors (exit: %v):\n%s\n\nfull output:\n%s", len(errs), runErr, strings.Join(errs, "\n"), out)
	}
}
