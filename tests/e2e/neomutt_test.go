package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNeomutt drives neomutt in a tmux terminal against Yubin over IMAP
// with STARTTLS: the index must list the INBOX (Japanese subject decoded),
// the pager must show the 8-bit Japanese body, reading and flagging must
// reach the server, and saving a message to =Archive and syncing must move it there byte for
// byte. The test waits for what the screen shows or for neomutt to exit,
// never for a fixed time.
func TestNeomutt(t *testing.T) {
	neomutt := needPeer(t, "neomutt", "neomutt")
	tmux := needPeer(t, "tmux", "tmux")
	srv := startPeerServer(t)
	work := t.TempDir()

	c := imapDial(t, srv)
	msgs := []string{mbsyncJapanese, mbsyncPlain, mbsyncWork}
	for _, m := range msgs {
		imapAppend(t, c, "INBOX", nil, m)
	}
	_ = c.Logout().Wait()
	c.Close()
	before := imapMail(t, srv)

	muttrc := filepath.Join(work, "muttrc")
	writeFile(t, muttrc, fmt.Sprintf(`set folder="imap://127.0.0.1:%s/"
set spoolfile="+INBOX"
set imap_user="%s"
set imap_pass="%s"
set ssl_starttls=yes
set ssl_force_tls=yes
set certificate_file="%s"
set ssl_verify_host=no
set header_cache=""
set message_cachedir=""
set record=""
set postponed="+Drafts"
set confirmappend=no
set confirmcreate=no
set delete=yes
set move=no
set mark_old=no
set wait_key=no
set sleep_time=0
set sort=date-sent
set index_format="%%-12.12L | %%s"
set charset="utf-8"
`, srv.port("imap"), peerClientUser, peerClientPw, srv.certFile()))

	socket := fmt.Sprintf("yubin-e2e-%d", time.Now().UnixNano())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	cmdline := fmt.Sprintf("env HOME=%s LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen %s -n -F %s", work, neomutt, muttrc)
	if out, err := tm("new-session", "-d", "-s", "mutt", "-x", "160", "-y", "40", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	screen := func() string {
		out, _ := tm("capture-pane", "-p", "-t", "mutt")
		return out
	}
	// waitScreen polls the terminal until it shows every string; only a
	// hang reaches the deadline.
	waitScreen := func(t *testing.T, what ...string) string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			s := screen()
			ok := true
			for _, w := range what {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("neomutt's screen does not show %q:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	keys := func(t *testing.T, k ...string) {
		t.Helper()
		if out, err := tm(append([]string{"send-keys", "-t", "mutt"}, k...)...); err != nil {
			t.Fatalf("tmux send-keys: %v\n%s", err, out)
		}
	}

	t.Run("index lists INBOX", func(t *testing.T) {
		s := waitScreen(t, "休暇のお知らせ", "plain one", "quarterly report", "INBOX")
		t.Logf("index:\n%s", s)
	})
	if t.Failed() {
		return
	}

	t.Run("read and flag", func(t *testing.T) {
		keys(t, "/", "~i jp1@example.jp", "Enter")
		keys(t, "Enter")
		waitScreen(t, "山田です。来週の会議は火曜日に変更になりました。", "よろしくお願いします。")
		keys(t, "q")
		waitScreen(t, "Msgs:3 New:2")
		keys(t, "F", "$")
		waitScreen(t, "Msgs:3 New:2 Flag:1")
		// The $ (sync) above wrote the flags; read them back.
		deadline := time.Now().Add(time.Minute)
		for {
			var flags string
			for _, m := range imapMail(t, srv)["INBOX"] {
				if m.body == mbsyncJapanese {
					flags = m.flags
				}
			}
			if flags == `\Flagged \Seen` {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the message read and flagged in neomutt has flags %q on the server", flags)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("save to Archive and sync", func(t *testing.T) {
		keys(t, "/", "plain one", "Enter")
		keys(t, "s")
		waitScreen(t, "Save to mailbox")
		keys(t, "C-u", "=Archive", "Enter")
		// After the save the message is marked deleted; $ expunges it.
		waitScreen(t, "Msgs:3", "Del:1")
		keys(t, "$")
		waitScreen(t, "Msgs:2", "quarterly report")
		keys(t, "q")
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := tm("has-session", "-t", "mutt"); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("neomutt did not quit:\n%s", screen())
			}
			time.Sleep(50 * time.Millisecond)
		}
		after := imapMail(t, srv)
		var inbox []string
		for _, m := range after["INBOX"] {
			inbox = append(inbox, m.body)
		}
		if len(after["INBOX"]) != 2 || len(after["Archive"]) != 1 {
			t.Fatalf("after the move: INBOX %d messages, Archive %d; want 2 and 1", len(after["INBOX"]), len(after["Archive"]))
		}
		if got := after["Archive"][0].body; got != mbsyncPlain {
			t.Errorf("Archive holds %q, want %q", got, mbsyncPlain)
		}
		for _, m := range before["INBOX"] {
			if m.body == mbsyncPlain {
				continue
			}
			found := false
			for _, b := range inbox {
				found = found || b == m.body
			}
			if !found {
				t.Errorf("INBOX lost or changed %q", clip(m.body))
			}
		}
	})
}
