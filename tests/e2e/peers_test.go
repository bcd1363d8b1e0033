package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// This file holds what the tests with mail clients nobody here wrote
// (mbsync, fetchmail, neomutt) share: finding the client, running it with a
// bound on its run time, and reading a user's whole mail over IMAP to
// compare with what the client has.

// peerClientUser and peerClientPw are the account the client tests use.
const (
	peerClientDomain = "example.com"
	peerClientUser   = "ann@example.com"
	peerClientPw     = "peer-client-pw"
)

// needPeer returns the path of a client program, or skips the test with
// the reason when it is not installed. With YUBIN_TEST_PEERS=required a
// missing client fails the test instead.
func needPeer(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testpeer.Missing(t, "%s not installed (Debian package %s): %v", name, debianPackage, err)
	}
	return path
}

// runPeer runs a client program in dir with HOME=dir and returns its
// combined output; it fails the test when the program exits non-zero
// (unless okCodes lists the code) or runs longer than two minutes, which
// only a hang does.
func runPeer(t *testing.T, dir string, okCodes []int, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), "HOME="+dir, "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil {
		for _, ok := range okCodes {
			if code == ok {
				return out.String()
			}
		}
		t.Fatalf("%s %s: %v (exit %d)\n%s", name, strings.Join(args, " "), err, code, out.String())
	}
	return out.String()
}

// startPeerServer starts a server with one domain and one user for the
// client tests and returns it with its data folder.
func startPeerServer(t *testing.T) *server {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir)
	srv.start()
	mustCLI(t, "", nil, "domain", "add", peerClientDomain, "--data", dir)
	mustCLI(t, peerClientPw+"\n", nil, "user", "add", peerClientUser, "--data", dir)
	return srv
}

// certFile is the path of the server's self-signed certificate, which the
// clients are told to trust.
func (s *server) certFile() string {
	return filepath.Join(s.dataDir, "tls", "selfsigned-cert.pem")
}

// port returns the port number of a protocol's listener.
func (s *server) port(proto string) string {
	_, port, _ := strings.Cut(s.addrs[proto], ":")
	return port
}

// storedMsg is one message as a mailbox holds it: its bytes and its system
// flags (without \Recent), sorted.
type storedMsg struct {
	flags string
	body  string
}

// imapDial logs in over IMAP with STARTTLS, trusting the server's
// certificate.
func imapDial(t *testing.T, srv *server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(srv.addrs["imap"], &imapclient.Options{TLSConfig: srv.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(peerClientUser, peerClientPw).Wait(); err != nil {
		c.Close()
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	return c
}

// imapMail reads every mailbox of the user over IMAP (EXAMINE, so nothing
// changes) and returns mailbox name → messages sorted by body.
func imapMail(t *testing.T, srv *server) map[string][]storedMsg {
	t.Helper()
	c := imapDial(t, srv)
	defer c.Close()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("IMAP LIST: %v", err)
	}
	out := map[string][]storedMsg{}
	for _, box := range boxes {
		sel, err := c.Select(box.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("IMAP EXAMINE %s: %v", box.Mailbox, err)
		}
		msgs := []storedMsg{}
		if sel.NumMessages > 0 {
			section := &imap.FetchItemBodySection{Peek: true}
			bufs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil {
				t.Fatalf("IMAP FETCH %s: %v", box.Mailbox, err)
			}
			for _, b := range bufs {
				var flags []string
				for _, f := range b.Flags {
					if f != "\\Recent" {
						flags = append(flags, string(f))
					}
				}
				msgs = append(msgs, storedMsg{flags: sortedFlags(flags), body: string(b.FindBodySection(section))})
			}
		}
		sortMsgs(msgs)
		out[box.Mailbox] = msgs
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("IMAP LOGOUT: %v", err)
	}
	return out
}

// imapAppend appends raw to mailbox with flags, creating the mailbox first
// when create is set.
func imapAppend(t *testing.T, c *imapclient.Client, mailbox string, flags []imap.Flag, raw string) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("IMAP APPEND to %s: %v", mailbox, err)
	}
}

func sortedFlags(flags []string) string {
	sort.Strings(flags)
	return strings.Join(flags, " ")
}

func sortMsgs(msgs []storedMsg) {
	sort.Slice(msgs, func(i, j int) bool {
		if msgs[i].body != msgs[j].body {
			return msgs[i].body < msgs[j].body
		}
		return msgs[i].flags < msgs[j].flags
	})
}

// diffMail describes how two mail snapshots differ, or returns "".
func diffMail(got, want map[string][]storedMsg) string {
	var b strings.Builder
	names := map[string]bool{}
	for n := range got {
		names[n] = true
	}
	for n := range want {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		g, okg := got[n]
		w, okw := want[n]
		switch {
		case !okg:
			fmt.Fprintf(&b, "mailbox %q missing\n", n)
		case !okw:
			fmt.Fprintf(&b, "mailbox %q unexpected (%d messages)\n", n, len(g))
		case len(g) != len(w):
			fmt.Fprintf(&b, "mailbox %q: %d messages, want %d\n got: %q\nwant: %q\n", n, len(g), len(w), g, w)
		default:
			for i := range g {
				if g[i] != w[i] {
					fmt.Fprintf(&b, "mailbox %q message %d:\n got flags %q body %q\nwant flags %q body %q\n", n, i, g[i].flags, g[i].body, w[i].flags, w[i].body)
				}
			}
		}
	}
	return b.String()
}
