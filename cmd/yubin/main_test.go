package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/dkimkeys"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		data string
		casc bool
	}{
		{[]string{"a.example"}, []string{"a.example"}, "", false},
		{[]string{"--data", "/d", "a.example"}, []string{"a.example"}, "/d", false},
		{[]string{"a.example", "--data", "/d"}, []string{"a.example"}, "/d", false},
		{[]string{"a.example", "--cascade", "b.example", "-data=/d"}, []string{"a.example", "b.example"}, "/d", true},
		{[]string{"--", "--data", "x"}, []string{"--data", "x"}, "", false},
		{[]string{"a", "--", "-b"}, []string{"a", "-b"}, "", false},
		{[]string{"--data", "--", "a"}, []string{"a"}, "--", false}, // "--" as a flag's value
		{[]string{"-"}, []string{"-"}, "", false},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		data := fs.String("data", "", "")
		casc := fs.Bool("cascade", false, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(pos, tt.pos) || *data != tt.data || *casc != tt.casc {
			t.Errorf("%q: positional %q data %q cascade %v; want %q %q %v", tt.args, pos, *data, *casc, tt.pos, tt.data, tt.casc)
		}
	}
}

func TestSplitLeadingFlags(t *testing.T) {
	tests := []struct{ args, leading, rest []string }{
		{[]string{"user", "list"}, []string{}, []string{"user", "list"}},
		{[]string{"--data", "/d", "user", "list"}, []string{"--data", "/d"}, []string{"user", "list"}},
		{[]string{"--data=/d", "--cascade", "domain", "remove", "x"}, []string{"--data=/d", "--cascade"}, []string{"domain", "remove", "x"}},
		{[]string{"--data"}, []string{"--data"}, []string{}},
		{[]string{"--", "user"}, []string{}, []string{"user"}},
	}
	for _, tt := range tests {
		l, r := splitLeadingFlags(tt.args)
		if len(l) != len(tt.leading) || len(r) != len(tt.rest) || (len(l) > 0 && !reflect.DeepEqual(l, tt.leading)) || (len(r) > 0 && !reflect.DeepEqual(r, tt.rest)) {
			t.Errorf("%q: %q %q, want %q %q", tt.args, l, r, tt.leading, tt.rest)
		}
	}
}

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{
		"pw\n": "pw", "pw\r\n": "pw", "pw": "pw", "": "", "\n": "", "first\nsecond\n": "first", " spaced pw \n": " spaced pw ",
	} {
		got, err := readLine(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := readLine(strings.NewReader(strings.Repeat("x", maxPasswordLine+1))); err == nil {
		t.Error("overlong line accepted")
	}
	if _, err := readPassword(strings.NewReader("\n"), io.Discard, true); err != errNoPassword {
		t.Errorf("empty line: %v, want errNoPassword", err)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1536: "1.5K", 20 << 20: "20M", 3 << 30: "3.0G"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRunInProcess runs a few commands through run() with a fake
// environment: exit codes and where the output goes.
func TestRunInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	runIt := runIn(dir)
	if code, out, _ := runIt("", "domain", "add", "example.com"); code != 0 || !strings.Contains(out, "added domain example.com") {
		t.Fatalf("domain add: %d %q", code, out)
	}
	if recs := dkimRecordsIn(t, dir, "example.com"); len(recs) != 2 {
		t.Errorf("domain add made DKIM keys with the records %v, want two", recs)
	}
	if code, out, errs := runIt("", "domain", "dkim-rotate", "example.com"); code != 0 || !strings.Contains(out, "._domainkey.example.com\tv=DKIM1; k=ed25519; p=") {
		t.Errorf("dkim-rotate: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "domain", "dkim-rotate", "nowhere.example"); code != 1 || !strings.Contains(errs, "no domain nowhere.example") {
		t.Errorf("dkim-rotate of an unknown domain: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "domain", "add", "example.com"); code != 1 || !strings.HasPrefix(errs, "yubin: ") {
		t.Errorf("duplicate domain: %d %q", code, errs)
	}
	if code, out, _ := runIt("pw-from-stdin\n", "user", "add", "ann@example.com"); code != 0 || !strings.Contains(out, "added user ann@example.com") {
		t.Errorf("user add: %d %q", code, out)
	}
	if code, out, errs := runIt("", "shared", "add", "info@example.com", "ann@example.com"); code != 0 || !strings.Contains(out, "added shared account info@example.com for ann@example.com (lrswipkxte)") {
		t.Errorf("shared add: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("", "shared", "grant", "--rights", "lrs", "info@example.com", "ann@example.com"); code != 0 || !strings.Contains(out, "ann@example.com (lrs)") {
		t.Errorf("shared grant: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("", "shared", "seen", "--mailbox", "INBOX", "info@example.com", "shared"); code != 0 || !strings.Contains(out, "info@example.com INBOX: read state shared") || !strings.Contains(out, "info@example.com Sent: read state private") {
		t.Errorf("shared seen: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "shared", "seen", "info@example.com", "sometimes"); code == 0 || !strings.Contains(errs, "private or shared") {
		t.Errorf("shared seen sometimes: %d %q", code, errs)
	}
	if code, out, errs := runIt("", "shared", "list"); code != 0 || !strings.Contains(out, "info@example.com") || !strings.Contains(out, "1 shared account") {
		t.Errorf("shared list: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "shared", "grant", "info@example.com", "nobody@example.com"); code != 1 || !strings.Contains(errs, "not a user here") {
		t.Errorf("shared grant to nobody: %d %q", code, errs)
	}
	if code, out, errs := runIt("", "shared", "revoke", "info@example.com", "ann@example.com"); code != 0 || !strings.Contains(out, "removed ann@example.com from info@example.com") {
		t.Errorf("shared revoke: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("", "shared", "remove", "info@example.com"); code != 0 || !strings.Contains(out, "removed shared account info@example.com") {
		t.Errorf("shared remove: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("pw-from-stdin\n", "user", "add", "info@example.com"); code != 0 {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("", "user", "send-as", "add", "ann@example.com", "Info@example.com"); code != 0 || out != "ann@example.com may send as info@example.com\n" {
		t.Errorf("user send-as add: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "user", "send-as", "add", "ann@example.com", "nobody@example.com"); code != 1 || !strings.Contains(errs, "neither an account nor an alias") {
		t.Errorf("user send-as add of an unknown address: %d %q", code, errs)
	}
	if code, out, _ := runIt("", "user", "send-as", "list", "ann@example.com"); code != 0 || !strings.Contains(out, "info@example.com") || !strings.Contains(out, "1 address\n") {
		t.Errorf("user send-as list: %d %q", code, out)
	}
	if code, out, _ := runIt("", "user", "send-as", "remove", "ann@example.com", "info@example.com"); code != 0 || !strings.Contains(out, "no longer") {
		t.Errorf("user send-as remove: %d %q", code, out)
	}
	if code, _, errs := runIt("", "user", "send-as", "remove", "ann@example.com", "info@example.com"); code != 1 || !strings.Contains(errs, "may not send as") {
		t.Errorf("user send-as remove again: %d %q", code, errs)
	}
	if code, out, errs := runIt("", "user", "set", "ann@example.com", "--language", "ja"); code != 0 || !strings.Contains(out, `language "ja"`) {
		t.Errorf("user set --language: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "user", "set", "ann@example.com", "--language", "fr"); code != 1 || !strings.Contains(errs, "language") {
		t.Errorf("user set --language fr: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "user", "frob"); code != 2 || !strings.Contains(errs, "yubin help user") {
		t.Errorf("unknown subcommand: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "serve", "--smtp-addr", "nonsense"); code != 1 || !strings.Contains(errs, "--smtp-addr") {
		t.Errorf("bad serve config: %d %q", code, errs)
	}
	if code, out, _ := runIt("", "help", "serve"); code != 0 || !strings.Contains(out, "YUBIN_HOSTNAME") {
		t.Errorf("help serve: %d %q", code, out)
	}
}

// TestREADMEDocumentsSettings keeps the README's configuration table in
// step with the settings the server reads.
func TestREADMEDocumentsSettings(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, s := range config.Settings() {
		if !bytes.Contains(readme, []byte("`"+s.Env+"`")) {
			t.Errorf("README.md does not document %s", s.Env)
		}
		if s.Flag != "" && !bytes.Contains(readme, []byte("--"+s.Flag)) {
			t.Errorf("README.md does not mention the flag --%s", s.Flag)
		}
		if s.Default != "" && !bytes.Contains(readme, []byte("`"+s.Default+"`")) {
			t.Errorf("README.md does not give the default %q of %s", s.Default, s.Env)
		}
	}
	for _, c := range commands() {
		if !bytes.Contains(readme, []byte("yubin "+c.name)) {
			t.Errorf("README.md does not mention the command %q", "yubin "+c.name)
		}
	}
}

// TestCIRunsREADMETestCommand: .ci/run runs exactly the test command the
// README gives.
func TestCIRunsREADMETestCommand(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "**Test:** `")
	if !ok {
		t.Fatal("README.md has no **Test:** command")
	}
	cmd, _, _ := strings.Cut(after, "`")
	script, err := os.ReadFile(filepath.Join("..", "..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(script), "\n") {
		if strings.TrimSpace(line) == cmd {
			found = true
		}
	}
	if !found {
		t.Errorf(".ci/run does not run the README's test command %q", cmd)
	}
}

// dkimRecordsIn returns the DKIM records of domain in the data folder dir,
// which the command line (on SQLite: these tests do not set
// YUBIN_DATABASE) filled.
func dkimRecordsIn(t *testing.T, dir, domain string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := dkimkeys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := keys.Records(ctx, domain)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
