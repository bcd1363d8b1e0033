package managesieve

import (
	"bytes"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestSieveConnect drives the server with sieve-connect (Debian package
// sieve-connect), a real ManageSieve client, over a loopback socket: it
// negotiates STARTTLS (verifying the certificate), logs in with PLAIN,
// uploads, lists, activates, downloads, checks, deactivates and deletes a
// script. Logins without TLS are refused, as off loopback.
func TestSieveConnect(t *testing.T) {
	bin := testpeer.Need(t, "/usr/bin/sieve-connect", "sieve-connect")
	env := startServer(t, func(o *Options) { o.InsecureAuth = func(net.Addr) bool { return false } })
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	cert := env.srv.opts.TLSConfig.Certificates[0].Certificate[0]
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(env.addr)
	run := func(wantOK bool, action ...string) string {
		t.Helper()
		args := append([]string{"--server", host, "--port", port, "--nosrv", "--user", testUser,
			"--passwordfd", "0", "--authmech", "PLAIN", "--noclearauth",
			"--tlscafile", caFile, "--tlshostname", "sieve.test"}, action...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(testPass + "\n")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if (err == nil) != wantOK {
			t.Fatalf("sieve-connect %s: err = %v, want ok = %v; output:\n%s", strings.Join(action, " "), err, wantOK, out.String())
		}
		return out.String()
	}

	script := "require [\"fileinto\", \"mailbox\"];\r\nif header :contains \"subject\" \"invoice\" {\r\n  fileinto :create \"Invoices\";\r\n}\r\n"
	if err := os.WriteFile(filepath.Join(dir, "invoices.sieve"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	run(true, "--upload", "--localsieve", "invoices.sieve", "--remotesieve", "invoices")
	if out := run(true, "--list"); !strings.Contains(out, "invoices") {
		t.Errorf("--list does not show the script:\n%s", out)
	}
	run(true, "--activate", "--remotesieve", "invoices")
	if out := run(true, "--list"); !strings.Contains(out, "invoices") || !strings.Contains(strings.ToUpper(out), "ACTIVE") {
		t.Errorf("--list does not show the script as active:\n%s", out)
	}
	if env.backend.active != "invoices" {
		t.Errorf("active script = %q", env.backend.active)
	}
	run(true, "--download", "--remotesieve", "invoices", "--localsieve", "copy.sieve")
	got, err := os.ReadFile(filepath.Join(dir, "copy.sieve"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll([]byte(script), []byte("\r\n"), []byte("\n"))) {
		t.Errorf("downloaded %q, want %q", got, script)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.sieve"), []byte("if true {\n  frobnicate;\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(false, "--checkscript", "--localsieve", "bad.sieve"); !strings.Contains(out, "line 2") {
		t.Errorf("--checkscript of a bad script does not say where:\n%s", out)
	}
	run(true, "--checkscript", "--localsieve", "invoices.sieve")
	out := run(false, "--delete", "--remotesieve", "invoices")
	if !strings.Contains(out, "active") {
		t.Errorf("deleting the active script: %s", out)
	}
	run(true, "--deactivate")
	run(true, "--delete", "--remotesieve", "invoices")
	if len(env.backend.scripts) != 0 {
		t.Errorf("scripts left: %v", env.backend.scripts)
	}
}
