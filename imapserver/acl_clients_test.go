package imapserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testpeer"
	"github.com/yubinmail/yubin/mailstore"
)

// sharedScript has two imaplib clients, alice and bob, work on the shared
// account info@'s INBOX at once: what one marks \Seen and \Answered the
// other sees, bob's \Deleted and EXPUNGE reach alice, and info@ itself
// cannot log in.
const sharedScript = `
import imaplib, os, sys

def check(what, res, want="OK"):
    typ, data = res
    if typ != want:
        sys.exit("%s: %s %r" % (what, typ, data))
    return data

host, port = os.environ["IMAP_HOST"], int(os.environ["IMAP_PORT"])
pw = os.environ["IMAP_PASS"]
box = '"Other Users/info@example.test/INBOX"'

info = imaplib.IMAP4(host, port)
try:
    info.login("info@example.test", pw)
    sys.exit("info@ logged in")
except imaplib.IMAP4.error:
    pass

alice = imaplib.IMAP4(host, port)
check("alice login", alice.login(os.environ["IMAP_USER"], pw))
bob = imaplib.IMAP4(host, port)
check("bob login", bob.login("bob@example.test", pw))

typ, ns = bob.namespace()
if typ != "OK" or b'"Other Users/"' not in ns[0]:
    sys.exit("namespace: %r" % (ns,))
names = check("bob list", bob.list('"Other Users/"', "*"))
if not any(b"info@example.test/INBOX" in n for n in names):
    sys.exit("bob's LIST lacks info@'s INBOX: %r" % (names,))
check("bob subscribe", bob.subscribe(box))
subs = check("bob lsub", bob.lsub('""', "*"))
if not any(b"info@example.test/INBOX" in n for n in subs):
    sys.exit("bob's LSUB lacks info@'s INBOX: %r" % (subs,))

typ, data = bob.select(box)
if typ != "OK" or data != [b"2"]:
    sys.exit("bob select: %s %r" % (typ, data))
typ, data = alice.select(box)
if typ != "OK" or data != [b"2"]:
    sys.exit("alice select: %s %r" % (typ, data))

# Alice reads message 1 and answers it.
data = check("alice fetch", alice.fetch("1", "(RFC822)"))
if b"Hello info" not in data[0][1]:
    sys.exit("alice fetch: %r" % (data,))
check("alice store", alice.store("1", "+FLAGS", "(\\Answered)"))

# Bob sees both flags, unasked (NOOP) and asked (FETCH).
check("bob noop", bob.noop())
data = check("bob fetch flags", bob.fetch("1", "(FLAGS)"))
flags = data[-1]
if b"\\Seen" not in flags or b"\\Answered" not in flags:
    sys.exit("bob does not see alice's flags: %r" % (data,))

# Bob throws message 2 away; alice sees it go.
check("bob delete", bob.store("2", "+FLAGS", "(\\Deleted)"))
check("bob expunge", bob.expunge())
check("alice noop", alice.noop())
typ, data = alice.status(box, "(MESSAGES)")
if typ != "OK" or b"MESSAGES 1" not in data[0]:
    sys.exit("alice status: %s %r" % (typ, data))
typ, data = alice.getquotaroot(box)
if typ != "OK" or b"info@example.test" not in data[0][0]:
    sys.exit("alice getquotaroot: %s %r" % (typ, data))

for c in (alice, bob):
    check("logout", c.logout(), "BYE")
print("ok")
`

// TestPythonSharedAccount runs sharedScript against a shared account
// alice and bob are members of.
func TestPythonSharedAccount(t *testing.T) {
	python := testpeer.Need(t, "/usr/bin/python3", "python3")
	env := newTestEnv(t, nil)
	ctx := context.Background()
	env.addUser(t, bobAddr)
	info, err := env.store.CreateSharedAccount(ctx, mailstore.NewUser{Address: "info@example.test", DisplayName: "Info"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{testAddr, bobAddr} {
		if err := env.store.SetSharedMember(ctx, info.Address, m, "lrswite"); err != nil {
			t.Fatal(err)
		}
	}
	for _, subj := range []string{"Hello info", "Spam for info"} {
		res, err := env.store.Deliver(ctx, mailstore.Delivery{
			Targets: []mailstore.DeliveryTarget{{UserID: info.ID, Mailbox: "INBOX"}},
			Body:    strings.NewReader(testMessage(subj, "customer@example.org", subj)),
		})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	host, port, _ := strings.Cut(env.addr, ":")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", sharedScript)
	cmd.Env = append(os.Environ(), "IMAP_HOST="+host, "IMAP_PORT="+port, "IMAP_USER="+testAddr, "IMAP_PASS="+testPass)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// TestNeomuttSharedMailbox: bob opens alice's shared Projects in neomutt
// (in tmux) through the other users' namespace, reads the message (his
// \Seen reaches alice's mailbox when neomutt syncs) and quits. The test waits for what the
// screen shows or for neomutt to exit; the deadlines only catch a hang.
func TestNeomuttSharedMailbox(t *testing.T) {
	neomutt := testpeer.Need(t, "/usr/bin/neomutt", "neomutt")
	tmux := testpeer.Need(t, "/usr/bin/tmux", "tmux")
	env := newTestEnv(t, nil)
	ctx := context.Background()
	env.addUser(t, bobAddr)
	mb, err := env.store.CreateMailbox(ctx, env.user.ID, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	env.deliverTo(t, "Projects", testMessage("Kickoff agenda", "carol@example.org", "Agenda: budget, people, dates."))
	if err := env.store.SetMailboxRights(ctx, mb.ID, bobAddr, "lrs"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	host, port, _ := strings.Cut(env.addr, ":")
	muttrc := work + "/muttrc"
	rc := "set folder=\"imap://" + host + ":" + port + "/\"\n" +
		"set spoolfile=\"+" + sharedBox + "\"\n" +
		"set imap_user=\"" + bobAddr + "\"\nset imap_pass=\"" + testPass + "\"\n" +
		"set ssl_starttls=no\nset ssl_force_tls=no\n" +
		"set header_cache=\"\"\nset message_cachedir=\"\"\nset record=\"\"\n" +
		"set mark_old=no\nset wait_key=no\nset sleep_time=0\nset charset=\"utf-8\"\n"
	if err := os.WriteFile(muttrc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	socket := "yubin-acl-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + port
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	cmdline := "env HOME=" + work + " LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen " + neomutt + " -n -F " + muttrc
	if out, err := tm("new-session", "-d", "-s", "mutt", "-x", "160", "-y", "40", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	screen := func() string {
		out, _ := tm("capture-pane", "-p", "-t", "mutt")
		return out
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s; neomutt shows:\n%s", what, screen())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	keys := func(k ...string) {
		t.Helper()
		if out, err := tm(append([]string{"send-keys", "-t", "mutt"}, k...)...); err != nil {
			t.Fatalf("tmux send-keys: %v\n%s", err, out)
		}
	}
	waitFor("index of the shared mailbox", func() bool {
		s := screen()
		return strings.Contains(s, "Kickoff agenda") && strings.Contains(s, "Msgs:1")
	})
	keys("Enter")
	waitFor("the message in the pager", func() bool { return strings.Contains(screen(), "Agenda: budget, people, dates.") })
	keys("q")
	keys("$") // neomutt writes flags when it syncs
	waitFor("bob's \\Seen in alice's mailbox", func() bool {
		metas, err := env.store.ListMessages(ctx, mb.ID, nil)
		return err == nil && len(metas) == 1 && metas[0].HasFlag(`\Seen`)
	})
	// Bob may not delete: neomutt knows from MYRIGHTS (no "t") and
	// leaves the message alone, and so does the server.
	keys("d", "$")
	waitFor("neomutt's sync", func() bool { return strings.Contains(screen(), "Mailbox is unchanged") })
	if metas, err := env.store.ListMessages(ctx, mb.ID, nil); err != nil || len(metas) != 1 || metas[0].HasFlag(`\Deleted`) {
		t.Fatalf("after bob's delete: %+v %v", metas, err)
	}
	keys("q")
	waitFor("neomutt to quit", func() bool {
		_, err := tm("has-session", "-t", "mutt")
		return err != nil
	})
}
