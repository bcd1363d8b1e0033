package testpeer

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingSkipsOrFails runs a test that calls Missing with and without
// the environment variable, in child processes.
func TestMissingSkipsOrFails(t *testing.T) {
	if os.Getenv("TESTPEERS_CHILD") != "" {
		Missing(t, "frobnicator (package frob)")
		return
	}
	for _, tt := range []struct {
		env      string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP"},
		{Env + "=required", true, "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingSkipsOrFails$", "-test.v", "-test.count=1")
		cmd.Env = append(environWithout(Env), "TESTPEERS_CHILD=1")
		if tt.env != "" {
			cmd.Env = append(cmd.Env, tt.env)
		}
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "frobnicator") {
			t.Errorf("with %q: err %v, output:\n%s", tt.env, err, out)
		}
	}
}

// environWithout returns the process environment without the variable name,
// so a child sees only what the test case sets (CI runs with it set).
func environWithout(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}
