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
