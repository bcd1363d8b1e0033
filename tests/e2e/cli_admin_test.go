package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"golang.org/x/text/width"
)

// TestCLIAdminTools runs the alias, "user set" and "domain admin" commands
// of the real binary on the data folder of a running server, and checks
// their effect where users see it: over SMTP, IMAP and the REST API. It
// also checks the help of a group, the flags as the README writes them,
// and that tables stay aligned with Japanese display names.
func TestCLIAdminTools(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	data := "--data=" + dir
	srv := newServer(t, dir)
	srv.start()
	mustCLI(t, "", nil, "domain", "add", "example.com", data)
	mustCLI(t, "", nil, "user", "add", "ann@example.com", "--password", "ann-password", "--name", "山田 花子", data)
	mustCLI(t, "", nil, "user", "add", "bob@example.com", "--password", "bob-password", "--name", "Bob", data)

	// Help: every user command, flags as --flag VALUE.
	help := mustCLI(t, "", nil, "help", "user")
	for _, want := range []string{"user add", "user list", "user remove", "user passwd", "user set", "--data DIR", "--quota SIZE", "--enabled=true|false"} {
		if !strings.Contains(help, want) {
			t.Errorf("yubin help user lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "  -data") || strings.Contains(help, "-data string") {
		t.Errorf("yubin help user prints Go-style flags:\n%s", help)
	}
	for _, args := range [][]string{{"help", "alias"}, {"help", "domain", "admin"}} {
		out := mustCLI(t, "", nil, args...)
		if !strings.Contains(out, "add") || !strings.Contains(out, "remove") {
			t.Errorf("yubin %s:\n%s", strings.Join(args, " "), out)
		}
	}

	send := func(rcpt, subject string) error {
		t.Helper()
		c, err := smtp.Dial(srv.addrs["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.SendMail("joe@remote.test", []string{rcpt}, strings.NewReader("From: <joe@remote.test>\r\nSubject: "+subject+"\r\n\r\nhi\r\n"))
	}

	// Aliases: add, add more targets, list, remove a target, remove.
	out := mustCLI(t, "", nil, "alias", "add", "info@example.com", "ann@example.com", data)
	if !strings.Contains(out, "added alias info@example.com") {
		t.Errorf("alias add: %s", out)
	}
	out = mustCLI(t, "", nil, "alias", "add", "info@example.com", "bob@example.com", data)
	if !strings.Contains(out, "ann@example.com, bob@example.com") {
		t.Errorf("alias add to an existing alias: %s", out)
	}
	mustCLI(t, "", nil, "alias", "add", "@example.com", "bob@example.com", data)
	out = mustCLI(t, "", nil, "alias", "list", data)
	for _, want := range []string{"ALIAS", "info@example.com", "ann@example.com, bob@example.com", "@example.com", "2 aliases"} {
		if !strings.Contains(out, want) {
			t.Errorf("alias list lacks %q:\n%s", want, out)
		}
	}
	if err := send("info@example.com", "to info"); err != nil {
		t.Fatalf("mail to the alias: %v", err)
	}
	out = mustCLI(t, "", nil, "alias", "remove", "info@example.com", "bob@example.com", data)
	if !strings.Contains(out, "now delivers to ann@example.com") {
		t.Errorf("alias remove of a target: %s", out)
	}
	if r := runCLI(t, "", nil, "alias", "remove", "info@example.com", "carol@example.com", data); r.code != 1 || !strings.Contains(r.stderr, "does not deliver to carol@example.com") {
		t.Errorf("removing a target the alias lacks: %d %s", r.code, r.stderr)
	}
	mustCLI(t, "", nil, "alias", "remove", "info@example.com", data)
	mustCLI(t, "", nil, "alias", "remove", "@example.com", data)
	if r := runCLI(t, "", nil, "alias", "remove", "info@example.com", data); r.code != 1 || !strings.Contains(r.stderr, "no alias info@example.com") {
		t.Errorf("removing a removed alias: %d %s", r.code, r.stderr)
	}
	if err := send("info@example.com", "after removal"); err == nil {
		t.Error("mail to a removed alias was accepted")
	}
	if r := runCLI(t, "", nil, "alias", "add", "info@nowhere.test", "ann@example.com", data); r.code != 1 {
		t.Errorf("alias in an unknown domain: %d %s", r.code, r.stderr)
	}
	if got := imapSubjects(t, srv, "bob@example.com", "bob-password"); got["to info"] != 1 {
		t.Errorf("bob's INBOX: %v", got)
	}

	// user set: quota, message limit, name, disabled and enabled again.
	out = mustCLI(t, "", nil, "user", "set", "ann@example.com", "--quota", "1G", "--quota-messages", "5000", "--name", "山田 花子 (経理)", data)
	if !strings.Contains(out, "changed user ann@example.com") || !strings.Contains(out, "quota 1G") {
		t.Errorf("user set: %s", out)
	}
	if r := runCLI(t, "", nil, "user", "set", "ann@example.com", data); r.code != 2 || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("user set without flags: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", nil, "user", "set", "nobody@example.com", "--quota", "1G", data); r.code != 1 || !strings.Contains(r.stderr, "no user nobody@example.com") {
		t.Errorf("user set of an unknown user: %d %s", r.code, r.stderr)
	}
	mustCLI(t, "", nil, "user", "set", "bob@example.com", "--enabled=false", data)
	if err := send("bob@example.com", "while disabled"); err == nil {
		t.Error("a disabled user got mail")
	}
	mustCLI(t, "", nil, data, "user", "set", "--enabled", "bob@example.com")
	if err := send("bob@example.com", "enabled again"); err != nil {
		t.Errorf("mail to bob after --enabled: %v", err)
	}

	// The user table is aligned by display width: every row's QUOTA
	// column starts in the same terminal cell, Japanese names included.
	out = mustCLI(t, "", nil, "user", "list", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := -1
	for _, l := range lines[:len(lines)-1] { // the last line counts the users
		quota := "QUOTA"
		if !strings.HasPrefix(l, "ADDRESS") {
			quota = strings.Fields(l)[len(strings.Fields(l))-4]
		}
		at := cells(l[:strings.Index(l, " "+quota+" ")+1])
		if col == -1 {
			col = at
		} else if at != col {
			t.Errorf("user list is misaligned (QUOTA at cell %d, here %d):\n%s", col, at, out)
			break
		}
	}
	if !strings.Contains(out, "山田 花子 (経理)") || !strings.Contains(out, "1G") {
		t.Errorf("user list:\n%s", out)
	}

	// domain admin: ann manages example.com, signs in to the API as a
	// domain admin, and is withdrawn again.
	out = mustCLI(t, "", nil, "domain", "admin", "add", "example.com", "ann@example.com", data)
	if !strings.Contains(out, "ann@example.com now manages example.com") {
		t.Errorf("domain admin add: %s", out)
	}
	if r := runCLI(t, "", nil, "domain", "admin", "add", "example.com", "ann@example.com", data); r.code != 1 || !strings.Contains(r.stderr, "already manages") {
		t.Errorf("domain admin add twice: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", nil, "domain", "admin", "add", "example.com", "zed@example.com", data); r.code != 1 || !strings.Contains(r.stderr, "no user zed@example.com") {
		t.Errorf("domain admin add of an unknown user: %d %s", r.code, r.stderr)
	}
	api := apiLogin(t, srv, "ann@example.com", "ann-password")
	var me struct {
		Role    string   `json:"role"`
		Domains []string `json:"domains"`
	}
	api.must(http.MethodGet, "/api/v1/me", nil, http.StatusOK, &me)
	if me.Role != "domain_admin" || len(me.Domains) != 1 || me.Domains[0] != "example.com" {
		t.Errorf("ann after domain admin add: %+v", me)
	}
	mustCLI(t, "", nil, "domain", "admin", "remove", "example.com", "ann@example.com", data)
	if r := runCLI(t, "", nil, "domain", "admin", "remove", "example.com", "ann@example.com", data); r.code != 1 || !strings.Contains(r.stderr, "does not manage") {
		t.Errorf("domain admin remove twice: %d %s", r.code, r.stderr)
	}
	api = apiLogin(t, srv, "ann@example.com", "ann-password")
	api.must(http.MethodGet, "/api/v1/me", nil, http.StatusOK, &me)
	if me.Role != "user" {
		t.Errorf("ann after domain admin remove: %+v", me)
	}
}

// cells is the width of s on a terminal (East Asian wide characters take
// two cells).
func cells(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
