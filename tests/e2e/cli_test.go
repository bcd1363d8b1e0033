package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

// TestCLI runs every admin command against one data folder, in order:
// successes, the error cases with their exit codes, flags before and after
// the arguments, passwords from --password and from standard input.
func TestCLI(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	data := "--data=" + dir
	envData := []string{"YUBIN_DATA=" + dir}

	steps := []struct {
		name   string
		args   []string
		stdin  string
		env    []string
		code   int
		stdout []string // substrings of stdout
		stderr string   // substring of stderr (after "yubin: " for failures)
		check  func(t *testing.T)
	}{
		{name: "version", args: []string{"version"}, stdout: []string{"yubin "}},
		{name: "--version", args: []string{"--version"}, stdout: []string{"yubin "}},
		{name: "help", args: []string{"help"}, stdout: []string{"domain add", "user passwd", "serve"}},
		{name: "help command", args: []string{"help", "user", "add"}, stdout: []string{"quota", "password"}},
		{name: "help group", args: []string{"help", "domain"}, stdout: []string{"domain remove", "cascade"}},
		{name: "help serve", args: []string{"serve", "--help"}, stdout: []string{"YUBIN_SMTP_ADDR", ":2525", "YUBIN_MAX_CONNECTIONS_PER_IP"}},
		{name: "no command", args: nil, code: 2, stderr: "no command"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "unknown subcommand", args: []string{"domain", "rename"}, code: 2, stderr: `unknown subcommand "rename"`},
		{name: "group alone", args: []string{"user"}, code: 2, stderr: "add, list, remove, passwd, set, send-as, app-password or second-factor"},
		{name: "list before any data", args: []string{"domain", "list", data}, code: 1, stderr: "no Yubin data in"},

		{name: "domain add, flag after", args: []string{"domain", "add", "Example.COM", data}, stdout: []string{"added domain example.com"}},
		{name: "domain add, flag before command", args: []string{data, "domain", "add", "example.org"}, stdout: []string{"added domain example.org"}},
		{name: "domain add, data from env", args: []string{"domain", "add", "example.net"}, env: envData, stdout: []string{"added domain example.net"}},
		{name: "domain add duplicate", args: []string{"domain", "add", "EXAMPLE.com", data}, code: 1, stderr: "domain example.com already exists"},
		{name: "domain add invalid", args: []string{"domain", "add", "not_a_domain", data}, code: 1, stderr: "invalid"},
		{name: "domain add after --", args: []string{"domain", "add", data, "--", "-dash.example"}, code: 1, stderr: "invalid"},
		{name: "domain add missing name", args: []string{"domain", "add", data}, code: 2, stderr: "want NAME"},
		{name: "domain add two names", args: []string{"domain", "add", "a.example", "b.example", data}, code: 2, stderr: `unexpected argument "b.example"`},
		{name: "domain add unknown flag", args: []string{"domain", "add", "a.example", "--force", data}, code: 2, stderr: "-force"},
		{name: "domain add flag without value", args: []string{"domain", "add", "a.example", "--data"}, code: 2, stderr: "needs an argument"},
		{name: "domain list", args: []string{"domain", "list", data}, stdout: []string{"DOMAIN", "example.com", "example.net", "example.org", "3 domains"}},

		{name: "user add, flags after", args: []string{"user", "add", "Ann@Example.com", "--password", "secret-ann", "--quota", "500M", "--name", "Ann Example", data},
			stdout: []string{"added user ann@example.com", "500M"}},
		{name: "user add, flags before", args: []string{"user", "add", data, "--password=secret-bob", "--quota=2G", "bob@example.com"},
			stdout: []string{"added user bob@example.com", "2G"}},
		{name: "user add, password from stdin", args: []string{"user", "add", "carol@example.com", data}, stdin: "stdin-carol\n",
			stdout: []string{"added user carol@example.com"},
			check:  func(t *testing.T) { checkPassword(t, dir, "carol@example.com", "stdin-carol") }},
		{name: "user add, stdin without newline", args: []string{"user", "add", "dave@example.org", data}, stdin: "stdin-dave",
			stdout: []string{"added user dave@example.org"},
			check:  func(t *testing.T) { checkPassword(t, dir, "dave@example.org", "stdin-dave") }},
		{name: "user add, no password", args: []string{"user", "add", "erin@example.com", data}, code: 1, stderr: "no password given"},
		{name: "user add, empty password line", args: []string{"user", "add", "erin@example.com", data}, stdin: "\n", code: 1, stderr: "no password given"},
		{name: "user add duplicate", args: []string{"user", "add", "ANN@example.com", "--password", "whatever1", data}, code: 1, stderr: "user ann@example.com already exists"},
		{name: "user add unknown domain", args: []string{"user", "add", "ann@nowhere.example", "--password", "whatever1", data}, code: 1, stderr: "domain nowhere.example is not set up"},
		{name: "user add invalid address", args: []string{"user", "add", "not-an-address", "--password", "whatever1", data}, code: 1, stderr: "not-an-address"},
		{name: "user add short password", args: []string{"user", "add", "erin@example.com", "--password", "short", data}, code: 1, stderr: "at least 8 characters"},
		{name: "user add bad quota", args: []string{"user", "add", "erin@example.com", "--password", "whatever1", "--quota", "lots", data}, code: 1, stderr: "--quota"},
		{name: "user add unknown flag", args: []string{"user", "add", "erin@example.com", "--admin", data}, code: 2, stderr: "-admin"},
		{name: "user add no address", args: []string{"user", "add", "--password", "whatever1", data}, code: 2, stderr: "want ADDRESS"},
		{name: "user list", args: []string{"user", "list", data}, stdout: []string{"ADDRESS", "ann@example.com", "Ann Example", "500M", "bob@example.com", "2G", "carol@example.com", "dave@example.org", "4 users"}},
		{name: "user list domain", args: []string{data, "user", "list", "example.org"}, stdout: []string{"dave@example.org", "1 user"}},
		{name: "user list empty domain", args: []string{"user", "list", "example.net", data}, stdout: []string{"0 users"}},
		{name: "user list unknown domain", args: []string{"user", "list", "nowhere.example", data}, code: 1, stderr: "no domain nowhere.example"},
		{name: "user list two domains", args: []string{"user", "list", "example.com", "example.org", data}, code: 2, stderr: "unexpected argument"},

		{name: "user passwd from flag", args: []string{"user", "passwd", "ann@example.com", "--password", "new-secret-ann", data}, stdout: []string{"changed the password of ann@example.com"},
			check: func(t *testing.T) { checkPassword(t, dir, "ann@example.com", "new-secret-ann") }},
		{name: "user passwd from stdin", args: []string{"user", "passwd", data, "bob@example.com"}, stdin: "new-secret-bob\r\n",
			check: func(t *testing.T) { checkPassword(t, dir, "bob@example.com", "new-secret-bob") }},
		{name: "user passwd unknown user", args: []string{"user", "passwd", "nobody@example.com", "--password", "whatever1", data}, code: 1, stderr: "no user nobody@example.com"},
		{name: "user passwd short", args: []string{"user", "passwd", "ann@example.com", "--password", "short", data}, code: 1, stderr: "at least 8 characters",
			check: func(t *testing.T) { checkPassword(t, dir, "ann@example.com", "new-secret-ann") }},
		{name: "user passwd no password", args: []string{"user", "passwd", "ann@example.com", data}, code: 1, stderr: "no password given"},

		{name: "domain remove with users", args: []string{"domain", "remove", "example.com", data}, code: 1, stderr: "still has 3 users"},
		{name: "user remove", args: []string{"user", "remove", "bob@example.com", data}, stdout: []string{"removed user bob@example.com"}},
		{name: "user remove again", args: []string{"user", "remove", "bob@example.com", data}, code: 1, stderr: "no user bob@example.com"},
		{name: "domain remove cascade, flag first", args: []string{"domain", "remove", "--cascade", "example.com", data}, stdout: []string{"removed domain example.com and its 2 users"}},
		{name: "domain remove unknown", args: []string{"domain", "remove", "example.com", data}, code: 1, stderr: "no domain example.com"},
		{name: "domain remove empty", args: []string{"domain", "remove", "example.net", data}, stdout: []string{"removed domain example.net"}},
		{name: "domain list after removals", args: []string{"domain", "list", data}, stdout: []string{"example.org", "1 domain"},
			check: func(t *testing.T) {
				st := openStore(t, dir)
				defer st.Close()
				if _, err := st.GetUser(context.Background(), "ann@example.com"); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("ann@example.com after the cascade: %v, want not found", err)
				}
			}},
		{name: "user list after removals", args: []string{"user", "list", data}, stdout: []string{"dave@example.org", "1 user"}},
	}
	for _, s := range steps {
		if s.name == "list before any data" && testdb.Server(t) != "" {
			continue // a PostgreSQL database is not in the folder: any folder will do
		}
		r := runCLI(t, s.stdin, s.env, s.args...)
		if r.code != s.code {
			t.Errorf("%s: yubin %s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, strings.Join(s.args, " "), r.code, s.code, r.stdout, r.stderr)
			continue
		}
		for _, want := range s.stdout {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: stdout does not contain %q:\n%s", s.name, want, r.stdout)
			}
		}
		if s.code != 0 {
			if !strings.HasPrefix(r.stderr, "yubin: ") {
				t.Errorf("%s: stderr does not start with \"yubin: \": %q", s.name, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("%s: failed command printed on stdout: %q", s.name, r.stdout)
			}
		}
		if s.stderr != "" && !strings.Contains(r.stderr, s.stderr) {
			t.Errorf("%s: stderr does not contain %q: %q", s.name, s.stderr, r.stderr)
		}
		if s.check != nil && !t.Failed() {
			s.check(t)
		}
	}
}

// checkPassword checks that address logs in with password.
func checkPassword(t *testing.T, dir, address, password string) {
	t.Helper()
	st := openStore(t, dir)
	defer st.Close()
	if _, err := st.Authenticate(context.Background(), address, password); err != nil {
		t.Errorf("%s cannot log in with %q: %v", address, password, err)
	}
}
