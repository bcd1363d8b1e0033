package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// runIn returns a function that runs the CLI in-process on the data
// folder dir with the given standard input, returning the exit status,
// standard output and standard error.
func runIn(dir string) func(stdin string, args ...string) (int, string, string) {
	return func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := &env{
			stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
			lookupEnv: func(k string) (string, bool) {
				if k == "YUBIN_DATA" {
					return dir, true
				}
				return "", false
			},
			notify: func() (<-chan os.Signal, func()) { return make(chan os.Signal), func() {} },
		}
		code := run(context.Background(), args, e)
		return code, out.String(), errb.String()
	}
}

// TestImportCommand runs yubin import from an mbox file (dry, then for
// real, then again) and from Dovecot over IMAP with the password on
// standard input.
func TestImportCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	runIt := runIn(dir)
	if code, _, errs := runIt("", "domain", "add", "example.com"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runIt("ann-password\n", "user", "add", "ann@example.com"); code != 0 {
		t.Fatal(errs)
	}
	mbox := filepath.Join(t.TempDir(), "saved.mbox")
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, "From x Mon Feb  3 04:05:06 2020\nSubject: %d\nStatus: RO\n\nbody\n\n", i)
	}
	if err := os.WriteFile(mbox, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIt("", "import", "--dry-run", "ann@example.com", "mbox:"+mbox); code != 0 || !strings.Contains(out, "dry run: 3 messages to import") {
		t.Fatalf("dry run: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "user", "set", "ann@example.com", "--quota", "50"); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := runIt("", "import", "ann@example.com", "mbox:"+mbox, "--dry-run"); code != 0 || !strings.Contains(out, "do not fit in the quota of ann@example.com") {
		t.Fatalf("dry run over quota: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "import", "ann@example.com", "mbox:"+mbox); code != 1 || !strings.Contains(errs, "raise the quota and run the import again") {
		t.Fatalf("import over quota: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "user", "set", "ann@example.com", "--quota", "0"); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := runIt("", "import", "ann@example.com", "mbox:"+mbox); code != 0 || !strings.Contains(out, "(0 already there)") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	if code, out, errs := runIt("", "import", "ann@example.com", "mbox:"+mbox, "--data", dir); code != 0 || !strings.Contains(out, "imported 0 messages (3 already there)") {
		t.Fatalf("import again: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("", "import", "ann@example.com", "ftp://old.example.org"); code != 2 || !strings.Contains(errs, "imap://") {
		t.Errorf("bad source: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "import", "ann@example.com", "imaps://old:secret@old.example.org"); code != 2 || !strings.Contains(errs, "--password") {
		t.Errorf("password in the URL: %d %q", code, errs)
	}
	if code, _, errs := runIt("", "import", "nobody@example.com", "mbox:"+mbox); code != 1 || !strings.Contains(errs, "nobody@example.com") {
		t.Errorf("unknown user: %d %q", code, errs)
	}

	dovecot := testpeer.Dovecot(t, testpeer.DovecotAccount{User: "old", Password: "old-password"})
	addr := dovecot.Addr
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("old", "old-password").Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: from dovecot\r\n\r\nhello\r\n"
	cmd := c.Append("Sent Items", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runIt("old-password\n", "import", "ann@example.com", "imap://old@"+addr)
	if code != 0 || !strings.Contains(out, "imported 1 message (0 already there)") || !strings.Contains(out, "Sent Items") || !strings.Contains(errs, "Sent Items -> Sent: 1 imported") {
		t.Fatalf("import from Dovecot: %d %q %q", code, out, errs)
	}
	if code, _, errs := runIt("wrong\n", "import", "ann@example.com", "imap://old@"+addr); code != 1 || !strings.Contains(errs, "log in") {
		t.Errorf("wrong password: %d %q", code, errs)
	}
}
