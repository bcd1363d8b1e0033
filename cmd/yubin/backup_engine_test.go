package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRefusesOtherStorage: yubin backup and restore copy a SQLite
// data folder with its bodies in DATA/blobs; with the database or the
// bodies elsewhere they refuse and say what to do instead (and never print
// the database URL, which may hold a password).
func TestBackupRefusesOtherStorage(t *testing.T) {
	dir := t.TempDir()
	for _, vars := range []map[string]string{
		{"YUBIN_DATA": dir, "YUBIN_DATABASE": "postgres://yubin:secret@127.0.0.1:1/yubin"},
		{"YUBIN_DATA": dir, "YUBIN_BLOBS": filepath.Join(dir, "shared")},
	} {
		for _, args := range [][]string{{"backup", filepath.Join(dir, "b")}, {"restore", filepath.Join(dir, "b")}} {
			name := args[0]
			code, out := runCLI(vars, args...)
			if code == 0 || !strings.Contains(out, "yubin "+name+" copies") {
				t.Errorf("%s with %v: exit %d, %q; want a refusal", name, vars, code, out)
			}
			if strings.Contains(out, "secret") {
				t.Errorf("%s: the output shows the database password: %q", name, out)
			}
		}
	}
}
