package milter

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// The tests in this file run the real milters Debian packages
// (clamav-milter with clamd, opendkim), each started by the test with its
// own configuration in a temporary folder and listening on a Unix socket
// or a loopback port. A missing program skips the test, unless
// YUBIN_TEST_PEERS=required.

// eicarString is the EICAR anti-virus test file, assembled so that this
// source file itself does not trip scanners.
func eicarString() string {
	return strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}, "")
}

// realMessage is a message from an outside client for the real milters.
func realMessage(raw string) *filters.Message {
	return filters.NewMessage(
		filters.ConnInfo{
			RemoteAddr: netip.MustParseAddrPort("198.51.100.7:40000"),
			HELO:       "client.example.org",
			Hostname:   "mx.example.com",
		},
		filters.Envelope{MailFrom: "alice@example.org", Recipients: []string{"bob@example.com"}},
		strings.NewReader(raw), int64(len(raw)),
	)
}

// startClamavMilter starts clamd with a database holding only the EICAR
// signature, and clamav-milter in front of it rejecting infected mail; it
// returns the milter's address.
func startClamavMilter(t *testing.T) string {
	clamd := testpeer.Need(t, "/usr/sbin/clamd", "clamav-daemon")
	sigtool := testpeer.Need(t, "/usr/bin/sigtool", "clamav")
	milterBin := testpeer.Need(t, "/usr/sbin/clamav-milter", "clamav-milter")
	// Unix socket paths are short: not under the test's long temp path.
	dir, err := os.MkdirTemp("", "yubin-clamav")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sample := filepath.Join(dir, "eicar.com")
	if err := os.WriteFile(sample, []byte(eicarString()), 0o644); err != nil {
		t.Fatal(err)
	}
	sig, err := exec.Command(sigtool, "--md5", sample).Output()
	if err != nil {
		t.Fatalf("sigtool --md5: %v", err)
	}
	sig = bytes.ReplaceAll(sig, []byte(sample), []byte("eicar.com"))
	if err := os.WriteFile(filepath.Join(db, "test.hdb"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	clamdSock := filepath.Join(dir, "clamd.sock")
	clamdConf := filepath.Join(dir, "clamd.conf")
	clamdLog := filepath.Join(dir, "clamd.log")
	writeFile(t, clamdConf, fmt.Sprintf("LocalSocket %s\nDatabaseDirectory %s\nTemporaryDirectory %s\nLogFile %s\nPidFile %s\nForeground yes\nScanMail yes\n",
		clamdSock, db, dir, clamdLog, filepath.Join(dir, "clamd.pid")))
	testpeer.Start(t, "unix", clamdSock, []string{clamdLog}, clamd, "--config-file="+clamdConf, "--foreground")

	waitPong(t, clamdSock)

	milterSock := filepath.Join(dir, "milter.sock")
	milterConf := filepath.Join(dir, "clamav-milter.conf")
	milterLog := filepath.Join(dir, "milter.log")
	writeFile(t, milterConf, fmt.Sprintf(`MilterSocket unix:%s
ClamdSocket unix:%s
Foreground yes
PidFile %s
LogFile %s
LogVerbose yes
OnInfected Reject
OnFail Defer
AddHeader Replace
RejectMsg Virus found: %%v
LogInfected Full
LogClean Full
`, milterSock, clamdSock, filepath.Join(dir, "milter.pid"), milterLog))
	testpeer.Start(t, "unix", milterSock, []string{milterLog}, milterBin, "--config-file="+milterConf)
	return "unix:" + milterSock
}

// waitPong waits until clamd answers PING on its socket: its database is
// loaded and it serves.
func waitPong(t *testing.T, sock string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Write([]byte("zPING\x00"))
			buf := make([]byte, 16)
			n, rerr := c.Read(buf)
			c.Close()
			if err == nil && rerr == nil && strings.HasPrefix(string(buf[:n]), "PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd does not answer PING on %s", sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestClamavMilter runs messages through the real clamav-milter (a
// libmilter milter that needs SMFIF_CHGFROM-era negotiation): the EICAR
// file is rejected, clean mail passes with its header.
func TestClamavMilter(t *testing.T) {
	addr := startClamavMilter(t)
	f := &Filter{Addr: addr, Timeout: time.Minute}
	ctx := context.Background()

	clean := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: lunch\r\nMessage-ID: <1@example.org>\r\n\r\nSee you at noon.\r\n"
	v, err := f.Check(ctx, realMessage(clean))
	if err != nil {
		t.Fatalf("clean message: %v", err)
	}
	if v.Action != filters.Accept {
		t.Errorf("clean message: %v %q, want accept (%+v)", v.Action, v.Reason, v.Evidence)
	}
	status := ""
	for _, h := range v.AddHeaders {
		if strings.EqualFold(h.Key, "X-Virus-Status") {
			status = h.Value
		}
	}
	if status != "Clean" {
		t.Errorf("clean message: X-Virus-Status %q, want Clean (added %v)", status, v.AddHeaders)
	}

	infected := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: test\r\nMessage-ID: <2@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=eicar.com\r\nContent-Disposition: attachment; filename=eicar.com\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(eicarString())) + "\r\n--b--\r\n"
	v, err = f.Check(ctx, realMessage(infected))
	if err != nil {
		t.Fatalf("infected message: %v", err)
	}
	if v.Action != filters.Reject || v.Code/100 != 5 {
		t.Errorf("infected message: %v %d %q, want a 5xx reject (%+v)", v.Action, v.Code, v.Reason, v.Evidence)
	}
}

// TestOpenDKIMMilter runs a message through the real opendkim in verifying
// mode, over loopback TCP: its Authentication-Results field is added.
func TestOpenDKIMMilter(t *testing.T) {
	addr := testpeer.OpenDKIM(t, "opendkim.test")
	f := &Filter{Addr: addr, Timeout: time.Minute}
	raw := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hello\r\nDate: Mon, 7 Dec 2026 06:00:00 +0000\r\nMessage-ID: <3@example.org>\r\n\r\nHello.\r\n"
	v, err := f.Check(context.Background(), realMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != filters.Accept {
		t.Errorf("verdict %v %q, want accept", v.Action, v.Reason)
	}
	ar := ""
	for _, h := range v.AddHeaders {
		if strings.EqualFold(h.Key, "Authentication-Results") {
			ar = h.Value
		}
	}
	if v.Rewrite != nil {
		for _, e := range v.Rewrite.HeaderEdits {
			if strings.EqualFold(e.Key, "Authentication-Results") {
				ar = e.Value
			}
		}
	}
	if !strings.Contains(ar, "opendkim.test") || !strings.Contains(ar, "dkim=none") {
		t.Errorf("opendkim's Authentication-Results = %q, want opendkim.test; dkim=none (verdict %+v)", ar, v)
	}
}
