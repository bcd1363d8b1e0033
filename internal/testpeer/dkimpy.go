package testpeer

import (
	_ "embed" // the verifier script
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed dkimpy_verify.py
var dkimpyScript string

// dkimpyPython is Debian's Python, which has python3-dkim (a python3 first
// in PATH may be another one).
const dkimpyPython = "/usr/bin/python3"

// VerifyDKIMARC checks msg's DKIM signatures and ARC chain with dkimpy
// (Debian package python3-dkim), an independent verifier, the keys taken
// from records ("selector._domainkey.domain." → TXT value) instead of DNS.
// It returns the verifier's verdict line, "dkim=pass|fail dkims=N
// arc=pass|fail|none", and its reason; the test ends through Missing
// without dkimpy. msg may have LF line ends (they are made CRLF).
func VerifyDKIMARC(t testing.TB, records map[string]string, msg string) string {
	t.Helper()
	if err := exec.Command(dkimpyPython, "-c", "import dkim").Run(); err != nil {
		Missing(t, "python3-dkim not installed (Debian package python3-dkim): %v", err)
	}
	dir := t.TempDir()
	keys, script := filepath.Join(dir, "keys.json"), filepath.Join(dir, "verify.py")
	b, err := json.Marshal(records)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(dkimpyScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dkimpyPython, script, keys)
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	return string(out)
}
