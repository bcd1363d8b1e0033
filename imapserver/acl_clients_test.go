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
// account info@'s INBOX at once. Its \Seen is private (the default): what
// alice reads stays unread for bob (FETCH, NOOP, SEARCH, STATUS, CONDSTORE
// CHANGEDSINCE) while her \Answered reaches him; bob's own reading gets a
// MODSEQ he sees and alice is not told of. Alice (with the a right) makes
// \Seen shared (METADATA /shared/vendor/yubin/private-seen), bob may not,
// and then what she marks \Seen bob sees. Bob's \Deleted and EXPUNGE reach
// alice, and info@ itself cannot log in.
const sharedScript = `
import imaplib, os, re, sys

imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))

def check(what, res, want="OK"):
    typ, data = res
    if typ != want:
        sys.exit("%s: %s %r" % (what, typ, data))
    return data

def told(c, what):
    """The FETCH responses c gets unasked during a NOOP, joined."""
    c.response("FETCH")
    check(what, c.noop())
    typ, data = c.response("FETCH")
    return b" ".join(d for d in data if d is not None)

def modseq(c, n):
    data = check("fetch modseq", c.fetch(n, "(MODSEQ)"))
    m = re.search(rb"MODSEQ \((\d+)\)", data[-1])
    if not m:
        sys.exit("no MODSEQ: %r" % (data,))
    return int(m.group(1))

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

# Bob is told of \Answered, not of alice's \Seen, and asked sees the same.
got = told(bob, "bob noop")
if b"\\Answered" not in got or b"\\Seen" in got:
    sys.exit("bob told of flags: %r" % (got,))
data = check("bob fetch flags", bob.fetch("1", "(FLAGS)"))
if b"\\Answered" not in data[-1] or b"\\Seen" in data[-1]:
    sys.exit("bob's flags: %r" % (data,))
for c, who, want in ((alice, "alice", b"2"), (bob, "bob", b"1 2")):
    data = check(who + " search", c.search(None, "UNSEEN"))
    if data[0] != want:
        sys.exit("%s SEARCH UNSEEN: %r, want %r" % (who, data, want))
for c, who, want in ((alice, "alice", b"UNSEEN 1"), (bob, "bob", b"UNSEEN 2")):
    data = check(who + " status", c.status(box, "(UNSEEN)"))
    if want not in data[0]:
        sys.exit("%s STATUS: %r, want %r" % (who, data, want))

# Bob reads message 1 himself: a new MODSEQ for him, nothing for alice.
a1, b1 = modseq(alice, "1"), modseq(bob, "1")
check("bob store seen", bob.store("1", "+FLAGS", "(\\Seen)"))
b2 = modseq(bob, "1")
if b2 <= b1:
    sys.exit("bob's MODSEQ did not move: %d then %d" % (b1, b2))
got = told(alice, "alice noop")
if got:
    sys.exit("alice told of bob's \\Seen: %r" % (got,))
data = check("alice changedsince", alice.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % a1))
if data != [None]:
    sys.exit("alice CHANGEDSINCE %d: %r" % (a1, data))
data = check("bob changedsince", bob.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % b1))
if len(data) != 1 or not data[0].startswith(b"1 ") or b"\\Seen" not in data[0]:
    sys.exit("bob CHANGEDSINCE %d: %r" % (b1, data))

# Only a user with the a right chooses; alice makes \Seen shared: then
# everyone sees the message's own, info@'s (none yet), and what alice
# marks \Seen bob is told of.
typ, data = bob._simple_command("SETMETADATA", box, '(/shared/vendor/yubin/private-seen "false")')
if typ != "NO":
    sys.exit("bob SETMETADATA without a: %s %r" % (typ, data))
typ, data = alice._simple_command("SETMETADATA", box, '(/shared/vendor/yubin/private-seen "false")')
if typ != "OK":
    sys.exit("alice SETMETADATA: %s %r" % (typ, data))
data = check("bob fetch shared", bob.fetch("1:*", "(FLAGS)"))
if any(b"\\Seen" in d for d in data):
    sys.exit("bob's flags once shared: %r" % (data,))
check("alice store shared", alice.store("2", "+FLAGS", "(\\Seen)"))
got = told(bob, "bob noop shared")
if not got.startswith(b"2 ") or b"\\Seen" not in got:
    sys.exit("bob told of shared \\Seen: %r" % (got,))

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
		rights := "lrswite"
		if m == testAddr {
			rights += "a"
		}
		if err := env.store.SetSharedMember(ctx, info.Address, m, rights); err != nil {
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
// own \Seen is kept when neomutt syncs, alice's stays unset) and quits. The test waits for what the
// screen shows or for neomutt to exit; the deadlines only catch a hang.
func TestNeomuttSharedMailbox(t *testing.T) {
	neomutt := testpeer.Need(t, "/usr/bin/neomutt", "neomutt")
	tmux := testpeer.Need(t, "/usr/bin/tmux", "tmux")
	env := newTestEnv(t, nil)
	ctx := context.Background()
	mb := env.shareProjects(t, "lrs", [2]string{"Kickoff agenda", "Agenda: budget, people, dates."})
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
		metas, err := env.store.ListMessagesAs(ctx, userID(t, env, bobAddr), mb.ID, nil)
		return err == nil && len(metas) == 1 && metas[0].HasFlag(`\Seen`)
	})
	// It is bob's own: alice has not read it (private \Seen).
	if metas, err := env.store.ListMessages(ctx, mb.ID, nil); err != nil || len(metas) != 1 || metas[0].HasFlag(`\Seen`) {
		t.Fatalf("alice's \\Seen after bob read it: %+v %v", metas, err)
	}
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
