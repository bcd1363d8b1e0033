package clamd

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/testpeer"
)

const (
	clamdPath   = "/usr/sbin/clamd"
	sigtoolPath = "/usr/bin/sigtool"
)

// eicar returns the 68-byte EICAR anti-virus test string, assembled from
// parts so that this source file does not itself look like the test file
// to scanners.
func eicar() []byte {
	parts := []string{
		`X5O!P%@AP[4\PZX54(P^)7CC)7}$`,
		"EICAR-STANDARD-",
		"ANTIVIRUS-TEST-",
		"FILE!$H+H*",
	}
	return []byte(strings.Join(parts, ""))
}

func TestEICARString(t *testing.T) {
	if n := len(eicar()); n != 68 {
		t.Fatalf("EICAR string has %d bytes, want 68", n)
	}
}

// ensureClamd returns the paths of clamd and sigtool (Debian packages
// clamav-daemon and clamav, installed by .ci/install-test-deps.sh). When
// they are missing the test skips with the reason, or fails when the tests
// run with YUBIN_TEST_PEERS=required (as .ci/run does). Tests never
// install anything.
func ensureClamd(t *testing.T) (clamd, sigtool string) {
	t.Helper()
	for _, p := range []string{clamdPath, sigtoolPath} {
		if _, err := os.Stat(p); err != nil {
			testpeer.Missing(t, "%s not found (Debian packages clamav-daemon and clamav)", p)
		}
	}
	return clamdPath, sigtoolPath
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startClamd starts clamd with a database holding only the EICAR test
// signature, waits until it answers PING and returns a client for it. clamd
// is stopped when the test ends.
func startClamd(t *testing.T, clamd, sigtool string) *Client {
	t.Helper()
	return startClamdWith(t, clamd, sigtool, clamdOptions{}).client
}

// clamdOptions configures a clamd started by startClamdWith.
type clamdOptions struct {
	// tmpDir is clamd's TemporaryDirectory; "" means the test's
	// temporary directory.
	tmpDir string
	// tcp also makes clamd listen on a loopback TCP port.
	tcp bool
	// extra is appended to clamd.conf.
	extra string
}

// realClamd is a clamd started for a test.
type realClamd struct {
	client  *Client // over the Unix socket
	tcpAddr string  // "127.0.0.1:port" if started with tcp
	pid     int
	logFile string
}

// startClamdWith is startClamd with options.
func startClamdWith(t *testing.T, clamd, sigtool string, opts clamdOptions) *realClamd {
	t.Helper()
	dir := t.TempDir()
	dbDir := filepath.Join(dir, "db")
	if err := os.Mkdir(dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sample := filepath.Join(dir, "eicar.com")
	if err := os.WriteFile(sample, eicar(), 0o644); err != nil {
		t.Fatal(err)
	}
	sig, err := exec.Command(sigtool, "--md5", sample).Output()
	if err != nil {
		testpeer.Missing(t, "sigtool --md5 failed: %v", err)
	}
	// sigtool names the signature after the file given: use its base name.
	sig = bytes.ReplaceAll(sig, []byte(sample), []byte("eicar.com"))
	if err := os.WriteFile(filepath.Join(dbDir, "test.hdb"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(sample)

	rc := &realClamd{logFile: filepath.Join(dir, "clamd.log")}
	tmpDir := opts.tmpDir
	if tmpDir == "" {
		tmpDir = dir
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := filepath.Join(dir, "clamd.conf")
	confText := fmt.Sprintf(`LocalSocket %s
DatabaseDirectory %s
TemporaryDirectory %s
LogFile %s
PidFile %s
Foreground yes
ScanMail yes
`, sock, dbDir, tmpDir, rc.logFile, filepath.Join(dir, "clamd.pid"))
	if opts.tcp {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rc.tcpAddr = ln.Addr().String()
		ln.Close()
		confText += fmt.Sprintf("TCPAddr 127.0.0.1\nTCPSocket %d\n", ln.Addr().(*net.TCPAddr).Port)
	}
	confText += opts.extra
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	cmd := exec.Command(clamd, "--config-file="+conf, "--foreground")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		testpeer.Missing(t, "starting clamd: %v", err)
	}
	rc.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	c := &Client{Addr: "unix:" + sock, Timeout: 10 * time.Second}
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			logText, _ := os.ReadFile(rc.logFile)
			testpeer.Missing(t, "clamd exited before answering PING: %v\n%s\n%s", err, tail([]byte(out.String()), 2000), tail(logText, 2000))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
		if err == nil {
			rc.client = c
			return rc
		}
		if time.Now().After(deadline) {
			logText, _ := os.ReadFile(rc.logFile)
			testpeer.Missing(t, "clamd did not answer PING within 60s: %v\n%s", err, tail(logText, 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mimeMessage returns a message with a text part and an attachment.
func mimeMessage(subject, attachName string, attachment []byte) string {
	enc := base64.StdEncoding.EncodeToString(attachment)
	return "From: Alice <alice@example.org>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <test-" + attachName + "@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
		"\r\n" +
		"--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Please see the attachment.\r\n" +
		"--b1\r\n" +
		"Content-Type: application/octet-stream; name=\"" + attachName + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + attachName + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		enc + "\r\n" +
		"--b1--\r\n"
}

func TestRealClamd(t *testing.T) {
	clamd, sigtool := ensureClamd(t)
	start := time.Now()
	c := startClamd(t, clamd, sigtool)
	t.Logf("clamd ready after %v", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	t.Logf("clamd version: %s", v)

	// The raw test file.
	res, err := c.Scan(ctx, bytes.NewReader(eicar()))
	if err != nil || !res.Infected {
		t.Fatalf("Scan(EICAR) = %+v, %v; want infected", res, err)
	}
	t.Logf("EICAR detected as %q", res.Signature)

	flt := NewFilter(c)
	// EICAR as a MIME attachment is rejected.
	verdict, err := flt.Check(ctx, testMessage(mimeMessage("virus", "eicar.com", eicar())))
	if err != nil {
		t.Fatalf("Check(EICAR message): %v", err)
	}
	if verdict.Action != filters.Reject || verdict.Code != 554 || !strings.Contains(verdict.Reason, "virus") {
		t.Errorf("EICAR message: verdict %+v, want 554 reject", verdict)
	}
	if len(verdict.Evidence) != 1 || verdict.Evidence[0].Result != "infected" ||
		!strings.Contains(strings.ToLower(verdict.Evidence[0].Detail), "eicar") {
		t.Errorf("EICAR message: evidence %+v", verdict.Evidence)
	}

	// A clean message with an attachment passes.
	verdict, err = flt.Check(ctx, testMessage(mimeMessage("report", "report.txt", []byte("quarterly numbers\n"))))
	if err != nil || verdict.Action != filters.Accept {
		t.Errorf("clean message: verdict %+v, %v; want accept", verdict, err)
	}

	// Through a chain.
	chain := filters.NewChain(nil, filters.Stage{Filter: flt, Enabled: true, Timeout: 30 * time.Second})
	if cv := chain.Check(ctx, testMessage(mimeMessage("virus", "eicar.com", eicar()))); cv.Action != filters.Reject || cv.Code != 554 {
		t.Errorf("chain verdict on EICAR: %+v", cv)
	}
}
