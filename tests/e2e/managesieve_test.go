package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSieveConnect manages a user's Sieve scripts on the running binary
// with sieve-connect (Debian package sieve-connect): STARTTLS verified
// against the server's certificate, AUTHENTICATE PLAIN, then upload, list,
// activate, download, a check that fails with the line of the error, and
// delete (refused for the active script); and the uploaded rule files the
// next message that matches it, as a user who sets it up in Thunderbird
// expects. The scripts land in the store behind the service layer.
func TestSieveConnect(t *testing.T) {
	bin := needPeer(t, "sieve-connect", "sieve-connect")
	srv := startPeerServer(t)
	work := t.TempDir()
	pwFile := filepath.Join(work, "password")
	if err := os.WriteFile(pwFile, []byte(peerClientPw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// run runs sieve-connect with an action, its password on descriptor
	// 0 (a shell redirect, as its manual suggests).
	run := func(okCodes []int, action ...string) string {
		t.Helper()
		args := []string{"--server", "127.0.0.1", "--port", srv.port("managesieve"), "--nosrv",
			"--user", peerClientUser, "--passwordfd", "0", "--authmech", "PLAIN", "--noclearauth",
			"--tlscafile", srv.certFile(), "--tlshostname", testHostname}
		quoted := make([]string, 0, len(args)+len(action))
		for _, a := range append(args, action...) {
			quoted = append(quoted, "'"+a+"'")
		}
		return runPeer(t, work, okCodes, "sh", "-c", "exec '"+bin+"' "+strings.Join(quoted, " ")+" < '"+pwFile+"'")
	}

	script := "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"invoice\" {\n  fileinto :create \"Invoices\";\n}\n"
	if err := os.WriteFile(filepath.Join(work, "invoices.sieve"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	run(nil, "--upload", "--localsieve", "invoices.sieve", "--remotesieve", "invoices")
	run(nil, "--activate", "--remotesieve", "invoices")
	if out := run(nil, "--list"); !strings.Contains(out, "invoices") || !strings.Contains(strings.ToUpper(out), "ACTIVE") {
		t.Errorf("--list does not show the active script:\n%s", out)
	}
	run(nil, "--download", "--remotesieve", "invoices", "--localsieve", "copy.sieve")
	if got, err := os.ReadFile(filepath.Join(work, "copy.sieve")); err != nil || strings.ReplaceAll(string(got), "\r\n", "\n") != script {
		t.Errorf("downloaded %q (%v), want %q", got, err, script)
	}
	if err := os.WriteFile(filepath.Join(work, "bad.sieve"), []byte("require \"fileinto\";\nfileinto;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run([]int{1, 2}, "--checkscript", "--localsieve", "bad.sieve"); !strings.Contains(out, "line 2") {
		t.Errorf("--checkscript of a bad script does not name line 2:\n%s", out)
	}

	// The rule uploaded with sieve-connect files the next invoice.
	invoice := "From: <billing@remote.test>\r\nTo: <" + peerClientUser + ">\r\nSubject: Invoice 42\r\nMessage-ID: <inv42@remote.test>\r\n\r\nPlease pay.\r\n"
	if err := smtpSend(srv, peerClientUser, invoice, 0); err != nil {
		t.Fatal(err)
	}
	if err := smtpSend(srv, peerClientUser, strings.Replace(invoice, "Invoice 42", "Lunch", 1), 0); err != nil {
		t.Fatal(err)
	}
	mail := imapMail(t, srv)
	if len(mail["Invoices"]) != 1 || !strings.Contains(mail["Invoices"][0].body, "Subject: Invoice 42") || len(mail["INBOX"]) != 1 {
		t.Errorf("after the rule: Invoices %d, INBOX %d messages; want 1 and 1", len(mail["Invoices"]), len(mail["INBOX"]))
	}

	if !strings.Contains(srv.log.String(), "ManageSieve login") || !strings.Contains(srv.log.String(), "tls=true") {
		t.Errorf("no ManageSieve login over TLS in the log:\n%s", tail(srv.log.String(), 20))
	}

	run(nil, "--upload", "--localsieve", "invoices.sieve", "--remotesieve", "old")
	run([]int{1, 2}, "--delete", "--remotesieve", "invoices") // the active one
	run(nil, "--delete", "--remotesieve", "old")
	if out := run(nil, "--list"); strings.Contains(out, "old") || !strings.Contains(out, "invoices") {
		t.Errorf("after deleting old:\n%s", out)
	}

	srv.stop()
	st := openStore(t, srv.dataDir)
	defer st.Close()
	u, err := st.GetUser(t.Context(), peerClientUser)
	if err != nil {
		t.Fatal(err)
	}
	active, err := st.ActiveSieveScript(t.Context(), u.ID)
	if err != nil || active == nil || active.Name != "invoices" || strings.ReplaceAll(active.Content, "\r\n", "\n") != script {
		t.Errorf("active script in the store: %+v, %v", active, err)
	}
}
