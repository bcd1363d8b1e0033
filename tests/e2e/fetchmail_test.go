package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fetchmailMessages are what the fetchmail test puts in INBOX: 8-bit
// Japanese text, lines that trip up naive transports ("." alone, "From "
// at a line start), and one large enough to span many reads.
func fetchmailMessages() []string {
	var big strings.Builder
	big.WriteString("From: bob@remote.test\r\nTo: ann@example.com\r\nSubject: large\r\nMessage-ID: <big@remote.test>\r\n\r\n")
	for i := range 3000 {
		fmt.Fprintf(&big, "line %04d of a large message, some padding to make it longer than one buffer\r\n", i)
	}
	return []string{
		mbsyncJapanese,
		"From: bob@remote.test\r\nTo: ann@example.com\r\nSubject: dots\r\nMessage-ID: <dots@remote.test>\r\n\r\nFrom the start of a line.\r\n.\r\n..two dots\r\n.\r\nend\r\n",
		big.String(),
	}
}

// TestFetchmail fetches a user's INBOX with fetchmail into an MDA that
// writes each message to its own file: over IMAP with STARTTLS keeping the
// messages, then over IMAP with implicit TLS deleting them, then the same
// over POP3 (STLS, then implicit TLS). The files must hold exactly the
// bytes the server stored; fetchmail is told not to add a Received field
// (invisible), rewrite addresses or strip CRs.
func TestFetchmail(t *testing.T) {
	fetchmail := needPeer(t, "fetchmail", "fetchmail")
	srv := startPeerServer(t)
	work := t.TempDir()

	fill := func(t *testing.T) []string {
		t.Helper()
		c := imapDial(t, srv)
		for _, m := range fetchmailMessages() {
			imapAppend(t, c, "INBOX", nil, m)
		}
		_ = c.Logout().Wait()
		c.Close()
		var want []string
		for _, m := range imapMail(t, srv)["INBOX"] {
			want = append(want, m.body)
		}
		if len(want) != len(fetchmailMessages()) {
			t.Fatalf("INBOX holds %d messages, want %d", len(want), len(fetchmailMessages()))
		}
		sort.Strings(want)
		return want
	}

	run := func(t *testing.T, name, protocol, proto string, implicitTLS, keep bool, want []string) {
		t.Helper()
		out := filepath.Join(work, name)
		if err := os.Mkdir(out, 0o700); err != nil {
			t.Fatal(err)
		}
		tlsOpts := "sslproto 'tls1.2+' sslcertck sslcommonname '" + testHostname + "' sslcertfile '" + srv.certFile() + "'"
		if implicitTLS {
			tlsOpts = "ssl " + tlsOpts
		}
		keepOpt := "nokeep"
		if keep {
			keepOpt = "keep"
		}
		rc := filepath.Join(work, name+".rc")
		writeFile(t, rc, fmt.Sprintf(`set no syslog
set invisible
poll %s via 127.0.0.1 service %s protocol %s auth password
  user '%s' there with password '%s' is 'ann' here
  %s
  fetchall %s no rewrite no stripcr
  mda "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXX)'"
`, testHostname, srv.port(proto), protocol, peerClientUser, peerClientPw, tlsOpts, keepOpt, out))
		log := runPeer(t, work, nil, fetchmail, "--fetchmailrc", rc, "--pidfile", filepath.Join(work, name+".pid"), "--idfile", filepath.Join(work, name+".ids"), "-v")
		t.Logf("fetchmail %s:\n%s", name, log)
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(out, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(data))
		}
		sort.Strings(got)
		if len(got) != len(want) {
			t.Fatalf("fetchmail delivered %d messages, want %d\n%s", len(got), len(want), log)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("message %d differs from what the server stored:\n got %q\nwant %q", i, clip(got[i]), clip(want[i]))
			}
		}
		left := len(imapMail(t, srv)["INBOX"])
		if keep && left != len(want) || !keep && left != 0 {
			t.Errorf("INBOX holds %d messages after fetchmail (%s), want %d", left, keepOpt, map[bool]int{true: len(want)}[keep])
		}
	}

	t.Run("imap", func(t *testing.T) {
		want := fill(t)
		run(t, "imap-keep", "IMAP", "imap", false, true, want)
		run(t, "imaps-delete", "IMAP", "imaps", true, false, want)
	})
	t.Run("pop3", func(t *testing.T) {
		want := fill(t)
		run(t, "pop3-keep", "POP3", "pop3", false, true, want)
		run(t, "pop3s-delete", "POP3", "pop3s", true, false, want)
	})
}

// clip shortens a message for an error text.
func clip(s string) string {
	if len(s) > 600 {
		return s[:300] + " … " + s[len(s)-300:]
	}
	return s
}
