package imapserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pythonNotifyScript has Python's imaplib, a client nobody here wrote,
// watch with NOTIFY and a live SEARCH while a second imaplib connection
// makes changes; imaplib has no NOTIFY of its own, so the command goes
// out as an extension command, and the reports are the untagged responses
// imaplib collected by the end of the next NOOP.
const pythonNotifyScript = `
import imaplib, os, re, sys

def check(what, res, want="OK"):
    typ, data = res
    if typ != want:
        sys.exit("%s: %s %r" % (what, typ, data))
    return data

def collected(m, name):
    typ, data = m.response(name)
    return [d for d in data if d is not None]

host, port = os.environ["IMAP_HOST"], int(os.environ["IMAP_PORT"])
m = imaplib.IMAP4(host, port)
for cap in ("NOTIFY", "CONTEXT=SEARCH", "CONTEXT=SORT"):
    if cap not in m.capabilities:
        sys.exit("no %s in %r" % (cap, m.capabilities))
check("login", m.login(os.environ["IMAP_USER"], os.environ["IMAP_PASS"]))
check("select", m.select("INBOX"))
collected(m, "EXISTS")
check("notify", m.xatom("NOTIFY", "SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (subtree Archive (MessageNew MessageExpunge MailboxName))"))
status = collected(m, "STATUS")
if len(status) != 1 or not re.match(rb'"Archive" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)$', status[0]):
    sys.exit("NOTIFY SET STATUS: %r" % (status,))
check("search", m.uid("SEARCH", "RETURN", "(UPDATE)", "UNSEEN"))
esearch = collected(m, "ESEARCH")
if len(esearch) != 1 or not esearch[0].endswith(b" UID ALL 1"):
    sys.exit("SEARCH RETURN (UPDATE): %r" % (esearch,))

n = imaplib.IMAP4(host, port)
check("login 2", n.login(os.environ["IMAP_USER"], os.environ["IMAP_PASS"]))
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nhello\r\n"
check("append", n.append("INBOX", None, None, msg))
check("append archive", n.append("Archive", None, None, msg))
check("rename", n.rename("Archive", "Old"))
check("logout 2", n.logout(), "BYE")

check("noop", m.noop())
exists = collected(m, "EXISTS")
if exists != [b"2"]:
    sys.exit("EXISTS: %r" % (exists,))
fetch = collected(m, "FETCH")
if len(fetch) != 1 or not re.match(rb'2 \(UID 2 FLAGS \((\\Recent)?\)\)$', fetch[0]):
    sys.exit("FETCH: %r" % (fetch,))
esearch = collected(m, "ESEARCH")
if len(esearch) != 1 or not esearch[0].endswith(b" UID ADDTO (0 2)"):
    sys.exit("ESEARCH update: %r" % (esearch,))
status = collected(m, "STATUS")
if len(status) != 1 or not re.match(rb'"Archive" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)$', status[0]):
    sys.exit("STATUS: %r" % (status,))
lists = collected(m, "LIST")
if lists != [b'(\\HasNoChildren \\Subscribed) "/" "Old" ("OLDNAME" ("Archive"))']:
    sys.exit("LIST: %r" % (lists,))
check("notify none", m.xatom("NOTIFY", "NONE"))
check("logout", m.logout(), "BYE")
print("ok")
`

// TestPythonImaplibNotify runs the NOTIFY and CONTEXT script against a
// real server over TCP.
func TestPythonImaplibNotify(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	runImaplib(t, env, pythonNotifyScript)
}

// runImaplib runs a Python imaplib script against env's server; it must
// print "ok". Without python3 the test is skipped.
func runImaplib(t *testing.T, env *testEnv, script string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: Python imaplib interoperability not tested")
	}
	host, port, _ := strings.Cut(env.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", script)
	cmd.Env = append(os.Environ(), "IMAP_HOST="+host, "IMAP_PORT="+port, "IMAP_USER="+testAddr, "IMAP_PASS="+testPass)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
