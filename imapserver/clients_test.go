package imapserver

import (
	"testing"
)

// pythonScript drives the server with Python's imaplib, a client nobody
// here wrote. It exits non-zero on the first unexpected answer.
const pythonScript = `
import imaplib, os, sys

def check(what, res, want="OK"):
    typ, data = res
    if typ != want:
        sys.exit("%s: %s %r" % (what, typ, data))
    return data

host, port = os.environ["IMAP_HOST"], int(os.environ["IMAP_PORT"])
m = imaplib.IMAP4(host, port)
if "IMAP4REV1" not in m.capabilities:
    sys.exit("no IMAP4rev1 in %r" % (m.capabilities,))
check("login", m.login(os.environ["IMAP_USER"], os.environ["IMAP_PASS"]))
check("create", m.create("Python/Test"))
data = check("list", m.list('""', "Python*"))
if len(data) != 2:
    sys.exit("list: %r" % (data,))
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nline one\r\nline two\r\n"
check("append", m.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg))
typ, data = m.select("INBOX")
if typ != "OK" or data != [b"2"]:
    sys.exit("select: %s %r" % (typ, data))
data = check("search", m.search(None, "FROM", '"py@example.org"'))
if data != [b"2"]:
    sys.exit("search: %r" % (data,))
data = check("sort", m.sort("(ARRIVAL)", "UTF-8", "ALL"))
if data != [b"2 1"]:
    sys.exit("sort: %r" % (data,))
data = check("thread", m.thread("REFERENCES", "UTF-8", "ALL"))
if data != [b"(1)(2)"]:
    sys.exit("thread: %r" % (data,))
data = check("fetch", m.fetch("2", "(RFC822 FLAGS)"))
if data[0][1] != msg:
    sys.exit("fetch body: %r" % (data,))
if b"\\Seen" not in data[0][0] and b"\\Seen" not in data[1]:
    sys.exit("fetch did not set \\Seen: %r" % (data,))
data = check("uid fetch", m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
if len([d for d in data if isinstance(d, tuple)]) != 2:
    sys.exit("uid fetch: %r" % (data,))
check("store", m.store("1", "+FLAGS", "(\\Deleted)"))
check("copy", m.copy("2", "Python/Test"))
check("status", m.status("Python/Test", "(MESSAGES)"))
check("expunge", m.expunge())
typ, data = m.select("Python/Test", readonly=True)
if typ != "OK" or data != [b"1"]:
    sys.exit("examine: %s %r" % (typ, data))
check("store read-only", m.store("1", "+FLAGS", "(\\Deleted)"), "NO")
check("close", m.close())
check("delete", m.delete("Python/Test"))
check("logout", m.logout(), "BYE")
print("ok")
`

// TestPythonImaplib runs the script against a real server over TCP.
func TestPythonImaplib(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver(t, testMessage("one", "bob@example.org", "x"))
	runImaplib(t, env, pythonScript)
}
