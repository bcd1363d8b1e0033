package imapserver

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzSession sends arbitrary bytes after a login and SELECT to a real
// server over TCP: the session must end cleanly when the client hangs up,
// and the server must go on serving others.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)] BINARY[1]<0.10>)\r\n",
		"a SORT RETURN (MIN ALL SAVE) (REVERSE SUBJECT DISPLAYFROM) UTF-8 OR $ NOT 1\r\nb THREAD REFERENCES UTF-8 ALL\r\n",
		"a FETCH 1 (PREVIEW (LAZY) UID)\r\nb UID THREAD ORDEREDSUBJECT US-ASCII SUBJECT x\r\n",
		"a UID SEARCH RETURN (SAVE) OR FROM a TO b\r\nb UID FETCH $ FLAGS\r\n",
		"a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n",
		"a APPEND INBOX {99999999+}\r\nshort",
		"a STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen kw)\r\n",
		"a IDLE\r\nDONE\r\na2 IDLE\r\nnot done\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" \"%\") RETURN (STATUS (MESSAGES))\r\n",
		"a CREATE \"&AGQ-\"\r\nb SELECT {3}\r\n",
		"a ENABLE QRESYNC UTF8=ACCEPT\r\nb SELECT INBOX (QRESYNC (1 1 1:*))\r\n",
		"a COPY 1 INBOX\r\nb MOVE 1:* Junk\r\nc EXPUNGE\r\nd CLOSE\r\n",
		"a APPEND Drafts CATENATE (TEXT {3+}\r\nhi\n URL \"/INBOX/;UID=1/;SECTION=1.MIME/;PARTIAL=0.5\" TEXT {2}\r\n\r\n)\r\n",
		"a GENURLAUTH \"imap://alice%40example.test@mail.test/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL\r\nb URLFETCH /INBOX/;UID=1\r\nc RESETKEY\r\n",
		"\x00\xff{}\r\n* * *\r\n",
		"a SETACL INBOX anyone +lrcd\r\nb GETACL INBOX\r\nc LISTRIGHTS INBOX anyone\r\nd MYRIGHTS \"Other Users/x@y/INBOX\"\r\ne DELETEACL INBOX -anyone\r\n",
	} {
		f.Add(s)
	}
	env := newTestEnv(f, nil)
	env.deliver(f, testMessage("fuzz", "bob@example.org", "body"))
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		pre := "l LOGIN " + testAddr + " \"" + testPass + "\"\r\ns SELECT INBOX\r\n"
		go func() {
			_, _ = io.WriteString(c, pre+input)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		// The server ends the session at the end of the input (or earlier):
		// reading must reach EOF, not the deadline.
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("session did not end at the end of the input: %v", err)
		}
		r := dialRaw(t, env.addr)
		if _, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") {
			t.Fatalf("server unwell after the input: %q", tagged)
		}
	})
}
