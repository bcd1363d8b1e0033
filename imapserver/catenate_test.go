package imapserver

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// partsMessage is a two-part message the CATENATE tests take parts from.
const partsMessage = "From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n" +
	"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n" +
	"--XX--\r\n"

// nonSync is a non-synchronizing literal (LITERAL+) of s.
func nonSync(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// storedMessage returns the bytes of the message with uid in a mailbox of
// the test user, as the store keeps them.
func (e *testEnv) storedMessage(t *testing.T, userID int64, mailbox string, uid uint32) string {
	t.Helper()
	ctx := context.Background()
	metas, err := e.store.ListMessages(ctx, e.mailbox(t, userID, mailbox).ID, mailstore.UIDs(uid))
	if err != nil || len(metas) != 1 {
		t.Fatalf("message %d in %s: %v %v", uid, mailbox, metas, err)
	}
	rc, err := e.store.OpenMessage(ctx, &metas[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// addUserWithMessage creates another user of example.test and delivers msg
// to their INBOX.
func (e *testEnv) addUserWithMessage(t *testing.T, addr, msg string) *mailstore.User {
	t.Helper()
	ctx := context.Background()
	u := e.addUser(t, addr)
	res, err := e.store.Deliver(ctx, mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: u.ID, Mailbox: "INBOX"}},
		Body:    strings.NewReader(msg),
	})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	return u
}

// mailbox returns a mailbox of a user from the store.
func (e *testEnv) mailbox(t *testing.T, userID int64, name string) *mailstore.Mailbox {
	t.Helper()
	mb, err := e.store.GetMailbox(context.Background(), userID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// CATENATE (RFC 4469) builds a message from literal text and parts of a
// stored message named by relative and absolute IMAP URLs, byte for byte.
func TestCatenateFromURLs(t *testing.T) {
	env := newTestEnv(t, nil)
	uid := env.deliver(t, partsMessage)
	v := env.mailbox(t, env.user.ID, "INBOX").UIDValidity
	rel := fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=%d", v, uid)
	abs := fmt.Sprintf("imap://alice%%40example.test@mail.test/INBOX/;UID=%d", uid)
	hdr := "From: alice@example.test\r\nTo: carol@example.org\r\nSubject: Fwd: parts\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=YY\r\n\r\n--YY\r\n"
	mid := "\r\n--YY\r\n"
	end := "\r\n--YY--\r\n"
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	runScript(t, r, []exchange{
		{"c0 CAPABILITY", []string{`\* CAPABILITY .* CATENATE URLAUTH .*`, `c0 OK .*`}},
		{"c1 APPEND Drafts (\\Draft) CATENATE (TEXT " + nonSync(hdr) +
			` URL "` + rel + `/;SECTION=1.MIME" URL ` + rel + `/;SECTION=1 TEXT ` + nonSync(mid) +
			` URL "` + abs + `/;SECTION=2.MIME" URL ` + nonSync(abs+"/;SECTION=2") + ` TEXT ` + nonSync(end) + ")",
			[]string{`c1 OK \[APPENDUID \d+ 1\] APPEND completed`}},
		// PARTIAL, HEADER.FIELDS, and a whole message as the only part.
		{`c2 APPEND Drafts CATENATE (URL "` + rel + `/;SECTION=1/;PARTIAL=0.5" TEXT {1+}` + "\r\n" + `/ URL "` + rel + `/;SECTION=HEADER.FIELDS%20(Subject)")`,
			[]string{`c2 OK \[APPENDUID \d+ 2\] .*`}},
		{`c3 APPEND Drafts CATENATE (URL "` + strings.Replace(abs, "mail.test", "127.0.0.1", 1) + `")`, []string{`c3 OK \[APPENDUID \d+ 3\] .*`}},
	})
	want := hdr + "Content-Type: text/plain\r\n\r\n" + "first part" + mid +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + "AAECAw==" + end
	if got := env.storedMessage(t, env.user.ID, "Drafts", 1); got != want {
		t.Errorf("catenated message:\n%q\nwant\n%q", got, want)
	}
	if got, want := env.storedMessage(t, env.user.ID, "Drafts", 2), "first/Subject: parts\r\n\r\n"; got != want {
		t.Errorf("second message %q, want %q", got, want)
	}
	if got := env.storedMessage(t, env.user.ID, "Drafts", 3); got != partsMessage {
		t.Errorf("whole-message URL stored %q", got)
	}

	// A synchronizing TEXT literal gets its continuation request.
	r.send("c4 APPEND Drafts CATENATE (URL \"" + rel + "/;SECTION=1\" TEXT {4}")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	r.send("\r\nX!)")
	if l := r.line(); !regexp.MustCompile(`^c4 OK \[APPENDUID \d+ 4\]`).MatchString(l) {
		t.Fatalf("c4: %q", l)
	}
	if got := env.storedMessage(t, env.user.ID, "Drafts", 4); got != "first part\r\nX!" {
		t.Errorf("fourth message %q", got)
	}

	// UTF-8 headers (RFC 6855) once enabled, and binary text as literal8.
	utf := "Subject: Grüße\r\n\r\n"
	if _, tagged := r.cmd("u0", "APPEND Drafts CATENATE (UTF8 (~"+nonSync(utf)+"))"); !strings.HasPrefix(tagged, "u0 BAD ") {
		t.Errorf("UTF8 part before ENABLE: %q", tagged)
	}
	r.cmd("e", "ENABLE UTF8=ACCEPT")
	bin := "\x00\x01\r\n"
	if _, tagged := r.cmd("u1", "APPEND Drafts CATENATE (UTF8 (~"+nonSync(utf)+") TEXT ~"+nonSync(bin)+")"); !strings.HasPrefix(tagged, "u1 OK [APPENDUID ") {
		t.Fatalf("UTF8 and literal8 parts: %q", tagged)
	}
	if got := env.storedMessage(t, env.user.ID, "Drafts", 5); got != utf+bin {
		t.Errorf("fifth message %q", got)
	}
}

// URLs that do not resolve for the user are refused with BADURL, and a
// MULTIAPPEND with one of them appends nothing; TOOBIG and TRYCREATE are
// answered as for APPEND.
func TestCatenateRefusals(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.AppendLimit = 300 })
	uid := env.deliver(t, partsMessage)
	env.addUserWithMessage(t, "bob@example.test", partsMessage)
	v := env.mailbox(t, env.user.ID, "INBOX").UIDValidity
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	bob := "imap://bob%40example.test@mail.test/INBOX/;UID=1/;SECTION=1"
	bad := []string{
		bob,              // another user's mailbox
		"/INBOX/;UID=99", // no such message
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=%d", v+1, uid),                        // stale UIDVALIDITY
		fmt.Sprintf("/INBOX/;UID=%d/;SECTION=7", uid),                                 // no such part
		fmt.Sprintf("imap://alice%%40example.test@elsewhere.test/INBOX/;UID=%d", uid), // another server
		"/Nonexistent/;UID=1", "imap://[::1/INBOX/;UID=1", "/INBOX/;UID=1/;SECTION=BOGUS",
	}
	for i, u := range bad {
		tag := fmt.Sprintf("b%d", i)
		_, tagged := r.cmd(tag, `APPEND Drafts CATENATE (TEXT {2+}`+"\r\nhi"+` URL "`+u+`" TEXT {2+}`+"\r\nho)")
		if want := tag + " NO [BADURL " + strings.ReplaceAll(u, "]", "%5D") + "] "; !strings.HasPrefix(tagged, want) {
			t.Errorf("%s: %q, want %q...", u, tagged, want)
		}
	}
	// All or nothing: the first message is fine, the second is not.
	_, tagged := r.cmd("m", "APPEND Drafts "+nonSync("Subject: ok\r\n\r\nok\r\n")+` CATENATE (URL "`+bob+`")`)
	if !strings.HasPrefix(tagged, "m NO [BADURL ") {
		t.Errorf("MULTIAPPEND with a bad URL: %q", tagged)
	}
	if got := env.uids(t, env.mailbox(t, env.user.ID, "Drafts").ID); len(got) != 0 {
		t.Errorf("Drafts has %v after refused APPENDs", got)
	}
	for _, c := range []struct{ cmd, want string }{
		{fmt.Sprintf(`APPEND Drafts CATENATE (URL "/INBOX/;UID=%d" URL "/INBOX/;UID=%d")`, uid, uid), "NO [TOOBIG] "},
		{"APPEND Drafts CATENATE (TEXT {301+}\r\n" + strings.Repeat("x", 301) + ")", "NO [TOOBIG] "},
		{"APPEND Nowhere CATENATE (TEXT {2+}\r\nhi)", "NO [TRYCREATE] "},
		{"APPEND Drafts CATENATE (TEXT {3+}\r\na\x00b)", "BAD "},
		{"APPEND Drafts CATENATE (TEXT {2+}\r\nhi FOO)", "BAD "},
		{"APPEND Drafts CATENATE ()", "BAD "},
	} {
		if _, tagged := r.cmd("t", c.cmd); !strings.HasPrefix(tagged, "t "+c.want) {
			t.Errorf("%.60q: %q, want %q", c.cmd, tagged, c.want)
		}
		if _, tagged := r.cmd("n", "NOOP"); tagged != "n NOOP completed" && !strings.HasPrefix(tagged, "n OK") {
			t.Fatalf("NOOP after %.60q: %q", c.cmd, tagged)
		}
	}
	if got := env.uids(t, env.mailbox(t, env.user.ID, "Drafts").ID); len(got) != 0 {
		t.Errorf("Drafts has %v after refused APPENDs", got)
	}
}

// URLAUTH (RFC 4467): GENURLAUTH signs a URL for another user, who
// fetches it with URLFETCH (and may CATENATE it); others, expired URLs and
// URLs signed with a key since reset get NIL.
func TestURLAuth(t *testing.T) {
	env := newTestEnv(t, nil)
	uid := env.deliver(t, partsMessage)
	env.addUserWithMessage(t, "bob@example.test", testMessage("bobs", "x@example.org", "bob's own"))
	v := env.mailbox(t, env.user.ID, "INBOX").UIDValidity
	base := fmt.Sprintf("imap://alice%%40example.test@mail.test/INBOX;UIDVALIDITY=%d/;UID=%d/;SECTION=1", v, uid)
	alice := dialRaw(t, env.addr)
	alice.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	bob := dialRaw(t, env.addr)
	bob.cmd("l", "LOGIN bob@example.test \""+testPass+"\"")

	sign := func(rump string) string {
		t.Helper()
		untagged, tagged := alice.cmd("g", `GENURLAUTH "`+rump+`" INTERNAL`)
		if !strings.HasPrefix(tagged, "g OK") || len(untagged) != 1 {
			t.Fatalf("GENURLAUTH %s: %q %q", rump, untagged, tagged)
		}
		m := regexp.MustCompile(`^\* GENURLAUTH "(.*:INTERNAL:[0-9a-f]{64})"$`).FindStringSubmatch(untagged[0])
		if m == nil || !strings.HasPrefix(m[1], rump+":") {
			t.Fatalf("GENURLAUTH answer %q", untagged[0])
		}
		return m[1]
	}
	fetch := func(r *rawConn, url string) string {
		t.Helper()
		untagged, tagged := r.cmd("f", `URLFETCH "`+url+`"`)
		if !strings.HasPrefix(tagged, "f OK") {
			t.Fatalf("URLFETCH: %q", tagged)
		}
		return strings.Join(untagged, "|")
	}
	forBob := sign(base + ";URLAUTH=user+bob%40example.test")
	gotData := `* URLFETCH "` + forBob + `" {10}|first part`
	if got := fetch(bob, forBob); got != gotData {
		t.Errorf("bob's URLFETCH: %q, want %q", got, gotData)
	}
	if got := fetch(alice, forBob); got != `* URLFETCH "`+forBob+`" NIL` {
		t.Errorf("alice fetching bob's URL: %q", got)
	}
	// A changed URL (another UID) does not verify.
	forged := strings.Replace(forBob, fmt.Sprintf("UID=%d", uid), fmt.Sprintf("UID=%d", uid+1), 1)
	if got := fetch(bob, forged); !strings.HasSuffix(got, " NIL") {
		t.Errorf("forged URL: %q", got)
	}
	// Bob may CATENATE what the URL names into his own Drafts.
	if _, tagged := bob.cmd("c", `APPEND Drafts CATENATE (URL "`+forBob+`")`); !strings.HasPrefix(tagged, "c OK [APPENDUID") {
		t.Errorf("CATENATE of a URLAUTH URL: %q", tagged)
	}
	// Expiry.
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := fetch(bob, sign(base+";EXPIRE="+past+";URLAUTH=authuser")); !strings.HasSuffix(got, " NIL") {
		t.Errorf("expired URL: %q", got)
	}
	live := sign(base + ";EXPIRE=" + future + ";URLAUTH=authuser")
	if got := fetch(bob, live); !strings.HasSuffix(got, "|first part") {
		t.Errorf("unexpired authuser URL: %q", got)
	}
	// submit+ URLs are for the submission server, not IMAP sessions.
	if got := fetch(bob, sign(base+";URLAUTH=submit+bob%40example.test")); !strings.HasSuffix(got, " NIL") {
		t.Errorf("submit URL over IMAP: %q", got)
	}
	// RESETKEY invalidates every URL signed before; new ones work.
	if _, tagged := alice.cmd("r", "RESETKEY INBOX INTERNAL"); !strings.HasPrefix(tagged, "r OK") {
		t.Fatalf("RESETKEY: %q", tagged)
	}
	if got := fetch(bob, forBob); !strings.HasSuffix(got, " NIL") {
		t.Errorf("URL after RESETKEY: %q", got)
	}
	again := sign(base + ";URLAUTH=user+bob%40example.test")
	if again == forBob {
		t.Errorf("RESETKEY did not change the key")
	}
	if got := fetch(bob, again); !strings.HasSuffix(got, "|first part") {
		t.Errorf("URL signed after RESETKEY: %q", got)
	}
	if _, tagged := alice.cmd("r", "RESETKEY"); !strings.HasPrefix(tagged, "r OK") {
		t.Fatalf("RESETKEY: %q", tagged)
	}
	if got := fetch(bob, again); !strings.HasSuffix(got, " NIL") {
		t.Errorf("URL after RESETKEY of all keys: %q", got)
	}
	// What cannot be signed.
	for _, c := range []struct{ cmd, want string }{
		{`GENURLAUTH "imap://bob%40example.test@mail.test/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL`, "NO [BADURL "},
		{`GENURLAUTH "/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL`, "NO [BADURL "},
		{`GENURLAUTH "` + base + `" INTERNAL`, "NO [BADURL "},
		{`GENURLAUTH "` + live + `" INTERNAL`, "NO [BADURL "},
		{`GENURLAUTH "` + base + `;URLAUTH=anonymous" HMAC`, "NO "},
		{`GENURLAUTH`, "BAD "},
		{`RESETKEY Nowhere`, "NO [NONEXISTENT] "},
		{`URLFETCH`, "BAD "},
	} {
		if _, tagged := alice.cmd("x", c.cmd); !strings.HasPrefix(tagged, "x "+c.want) {
			t.Errorf("%s: %q, want %q", c.cmd, tagged, c.want)
		}
	}
	// URLFETCH of a URL without URLAUTH, or of nonsense, is NIL.
	if got := fetch(alice, "/INBOX/;UID=1"); got != `* URLFETCH "/INBOX/;UID=1" NIL` {
		t.Errorf("plain URL: %q", got)
	}
}
