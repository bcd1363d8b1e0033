package imapserver

import (
	"fmt"
	"testing"
)

// PREVIEW (RFC 8970): FETCH PREVIEW and PREVIEW (LAZY) over a real
// socket, from plain text, HTML, ISO-2022-JP and attachment-only mail,
// as a literal for non-ASCII text unless UTF8=ACCEPT is on.
func TestPreviewScript(t *testing.T) {
	env := newTestEnv(t, nil)
	msgs := []string{
		"From: bob@x.test\r\nSubject: plain\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
			"Hello Alice,\r\n\r\nsee  you\ttomorrow.\r\n> what you wrote\r\n-- \r\nBob's signature\r\n",
		"From: bob@x.test\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
			"<html><head><style>p {color: red}</style></head><body><p>Hi <b>there</b> &amp; welcome</p></body></html>\r\n",
		"From: bob@x.test\r\nSubject: jp\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
			"\x1b$B$3$s$K$A$O!\"@$3&\x1b(B\r\n",
		"From: bob@x.test\r\nSubject: pdf\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n",
		"From: bob@x.test\r\nSubject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/html\r\n\r\n<p>the html one</p>\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nthe plain=20one\r\n--b--\r\n",
	}
	for _, m := range msgs {
		env.deliver(t, m)
	}
	jp := "こんにちは、世界"
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.cmd("s", "SELECT INBOX")
	runScript(t, r, []exchange{
		{"p1 FETCH 1 (PREVIEW)", []string{`\* 1 FETCH \(PREVIEW "Hello Alice, see you tomorrow."\)`, `p1 OK .*`}},
		{"p2 FETCH 2 PREVIEW", []string{`\* 2 FETCH \(PREVIEW "Hi there & welcome"\)`, `p2 OK .*`}},
		{"p3 FETCH 3 (UID PREVIEW (LAZY))", []string{fmt.Sprintf(`\* 3 FETCH \(UID 3 PREVIEW \{%d\}`, len(jp)), jp + `\)`, `p3 OK .*`}},
		{"p4 UID FETCH 4 PREVIEW (lazy)", []string{`\* 4 FETCH \(UID 4 PREVIEW ""\)`, `p4 OK .*`}},
		{"p5 FETCH 5 (PREVIEW (LAZY) FLAGS)", []string{`\* 5 FETCH \(FLAGS \(\\Recent\) PREVIEW "the plain one"\)`, `p5 OK .*`}},
		{"p6 FETCH 1 PREVIEW (FOO)", []string{`p6 BAD .*`}},
		{"p7 FETCH 1 (PREVIEW (LAZY FOO))", []string{`p7 BAD .*PREVIEW modifier.*`}},
		{"p8 FETCH 1 (PREVIEW (LAZY)", []string{`p8 BAD .*`}},
		{"p9 FETCH 1 FLAGS", []string{`\* 1 FETCH \(FLAGS \(\\Recent\)\)`, `p9 OK .*`}},
	})
	// PREVIEW does not set \Seen (RFC 8970 §3); the FETCH p9 above shows it.
	u := dialRaw(t, env.addr)
	u.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, u, []exchange{{"u1 ENABLE UTF8=ACCEPT", []string{`\* ENABLED UTF8=ACCEPT`, `u1 OK .*`}}})
	u.cmd("s", "EXAMINE INBOX")
	runScript(t, u, []exchange{
		{"u2 FETCH 3 PREVIEW", []string{`\* 3 FETCH \(PREVIEW "` + jp + `"\)`, `u2 OK .*`}},
	})
}
