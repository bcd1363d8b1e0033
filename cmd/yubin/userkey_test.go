package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

// apiJSON sends a JSON request to the server's REST API and decodes the
// answer into out (if not nil); it returns the status.
func apiJSON(t *testing.T, httpAddr, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// apiToken signs in to the REST API and returns the access token.
func apiToken(t *testing.T, httpAddr, email, password string) string {
	t.Helper()
	var tr struct{ Token string }
	if code := apiJSON(t, httpAddr, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tr); code != http.StatusOK {
		t.Fatalf("sign in as %s: %d", email, code)
	}
	return tr.Token
}

// TestUserKeyEncryptionOverSockets (issue 17 §2, user-key mode): with
// YUBIN_ENCRYPTION_MODE=user, mail delivered over SMTP and appended over
// IMAP is sealed to the user's own key: no blob holds its text; the store
// opened with the server key alone cannot read it; IMAP (BODY[], a
// partial fetch, SEARCH BODY, SORT) and POP3 read it byte for byte after
// login; the user's own password change (REST API) re-seals the key and
// the mail still reads; a flipped byte gives IMAP NO [CORRUPTION]; an
// admin's reset without the recovery key is refused until asked for, and
// then leaves the old mail unreadable: IMAP NO [UNAVAILABLE], not garbage.
func TestUserKeyEncryptionOverSockets(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	keyPath := filepath.Join(base, "server.key")
	env := map[string]string{"YUBIN_DATA": dir, "YUBIN_ENCRYPTION_KEY_FILE": keyPath, "YUBIN_ENCRYPTION_MODE": "user"}
	if code, out := runCLI(env, "encryption", "keygen", keyPath); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	if code, out := runCLI(env, "domain", "add", "example.test"); code != 0 {
		t.Fatalf("domain add: %d %s", code, out)
	}
	if code, out := runCLI(env, "user", "add", "ann@example.test", "--password", "ann-password-1"); code != 0 {
		t.Fatalf("user add: %d %s", code, out)
	}

	smtpAddr, imapAddr, pop3Addr := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	rs := startServe(t, dir, map[string]string{
		"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_LOG_LEVEL": "info", "YUBIN_FILTERS": "none",
		"YUBIN_ENCRYPTION_KEY_FILE": keyPath, "YUBIN_ENCRYPTION_MODE": "user",
		"YUBIN_ADMIN_EMAIL": "admin@example.test", "YUBIN_ADMIN_PASSWORD": "admin-password-1",
		"YUBIN_SMTP_ADDR": smtpAddr, "YUBIN_IMAP_ADDR": imapAddr, "YUBIN_POP3_ADDR": pop3Addr,
	})
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))

	// A message larger than one 64 KiB chunk, over SMTP.
	var nb strings.Builder
	nb.WriteString("From: sender@example.org\r\nTo: ann@example.test\r\nSubject: bravo\r\n\r\nUSERKEY-MARKER-4e2 first line\r\n")
	for i := 0; nb.Len() < 150_000; i++ {
		fmt.Fprintf(&nb, "line %05d of the private letter, with some text\r\n", i)
	}
	msg := nb.String()
	sendPlainSMTP(t, smtpAddr, "sender@example.org", "ann@example.test", msg)
	for _, marker := range []string{"USERKEY-MARKER-4e2", "line 00042 of the private letter"} {
		if hits := blobsContaining(t, dir, marker); len(hits) > 0 {
			t.Fatalf("%q in plaintext on disk: %v", marker, hits)
		}
	}

	// IMAP after login: byte for byte, APPEND sealed too.
	c := dialIMAPInbox(t, imapAddr, "ann@example.test", "ann-password-1")
	draft := "From: ann@example.test\r\nSubject: alpha\r\n\r\nAPPEND-MARKER-9b1 a draft\r\n"
	ap := c.Append("INBOX", int64(len(draft)), nil)
	ap.Write([]byte(draft))
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if hits := blobsContaining(t, dir, "APPEND-MARKER-9b1"); len(hits) > 0 {
		t.Fatalf("the appended message is in plaintext on disk: %v", hits)
	}
	whole := &goimap.FetchItemBodySection{Peek: true}
	partial := &goimap.FetchItemBodySection{Peek: true, Partial: &goimap.SectionPartial{Offset: 65_000, Size: 2_000}}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{RFC822Size: true, BodySection: []*goimap.FetchItemBodySection{whole, partial}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("FETCH: %d messages, %v", len(msgs), err)
	}
	full := msgs[0].FindBodySection(whole)
	if !bytes.HasSuffix(full, []byte(msg)) || msgs[0].RFC822Size != int64(len(full)) {
		t.Fatalf("delivered message over IMAP: %d bytes, RFC822.SIZE %d", len(full), msgs[0].RFC822Size)
	}
	if got := msgs[0].FindBodySection(partial); !bytes.Equal(got, full[65_000:67_000]) {
		t.Fatal("BODY[]<65000.2000> differs from the slice of BODY[]")
	}
	if got := string(msgs[1].FindBodySection(whole)); got != draft {
		t.Fatalf("appended message over IMAP: %q", got)
	}
	if sr, err := c.Search(&goimap.SearchCriteria{Body: []string{"line 00042 of the private"}}, nil).Wait(); err != nil || fmt.Sprint(sr.AllSeqNums()) != "[1]" {
		t.Fatalf("SEARCH BODY: %v %v", sr, err)
	}
	if sorted, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &goimap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}}).Wait(); err != nil || fmt.Sprint(sorted) != "[2 1]" {
		t.Fatalf("SORT SUBJECT: %v %v", sorted, err)
	}
	c.Close()

	// CATENATE reads the user's own mail through the session's key.
	cat := dialIMAPRaw(t, imapAddr, "ann@example.test", "ann-password-1")
	if lines := cat.cmd(t, "a1", `APPEND INBOX CATENATE (URL "/INBOX/;UID=2")`); !strings.HasPrefix(lines[len(lines)-1], "a1 OK") {
		t.Fatalf("CATENATE of an encrypted message: %q", lines)
	}
	cat.Close()
	c = dialIMAPInbox(t, imapAddr, "ann@example.test", "ann-password-1")
	if msgs, err := c.Fetch(goimap.SeqSetNum(3), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{whole}}).Collect(); err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(whole)) != draft {
		t.Fatalf("the catenated message: %v", err)
	}
	c.Close()

	// POP3 after login: the same bytes.
	p := dialPOP3(t, pop3Addr, "ann@example.test", "ann-password-1")
	if got := p.retr(t, 1); got != string(full) {
		t.Fatalf("POP3 RETR differs from IMAP's (%d vs %d bytes)", len(got), len(full))
	}
	p.cmd(t, "QUIT")
	p.Close()

	// Her own password change re-seals the key; the mail still reads.
	tok := apiToken(t, rs.http, "ann@example.test", "ann-password-1")
	if code := apiJSON(t, rs.http, "POST", "/api/v1/me/password", tok, map[string]string{"current_password": "ann-password-1", "new_password": "ann-password-2"}, nil); code != http.StatusNoContent {
		t.Fatalf("change password: %d", code)
	}
	c = dialIMAPInbox(t, imapAddr, "ann@example.test", "ann-password-2")
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].FindBodySection(whole), full) {
		t.Fatalf("FETCH after the password change: %v", err)
	}
	c.Close()

	// A flipped byte in the big body: IMAP NO [CORRUPTION], no bytes.
	flipByteInBiggestBody(t, dir)
	raw := dialIMAPRaw(t, imapAddr, "ann@example.test", "ann-password-2")
	lines := raw.cmd(t, "f1", "FETCH 1 BODY.PEEK[]")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "f1 NO [CORRUPTION] ") {
		t.Fatalf("FETCH of the tampered message: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "private letter") || strings.Contains(l, "{") {
			t.Fatalf("FETCH of the tampered message sent bytes: %q", lines)
		}
	}
	if lines := raw.cmd(t, "f2", "FETCH 2 BODY.PEEK[]"); !strings.HasPrefix(lines[len(lines)-1], "f2 OK") {
		t.Fatalf("FETCH of the other message: %q", lines)
	}
	raw.Close()

	// An admin's reset: what it would do is shown, it is refused until
	// agreed to, then the old mail is unreadable: NO, never bytes.
	admin := apiToken(t, rs.http, "admin@example.test", "admin-password-1")
	var ue mailstore.UserEncryption
	if code := apiJSON(t, rs.http, "GET", "/api/v1/users/ann@example.test/encryption", admin, nil, &ue); code != http.StatusOK || ue.ResetEffect != mailstore.ResetMailUnreadable {
		t.Fatalf("encryption of ann: %d %+v", code, ue)
	}
	if code := apiJSON(t, rs.http, "PATCH", "/api/v1/users/ann@example.test", admin, map[string]any{"password": "ann-password-3"}, nil); code != http.StatusConflict {
		t.Fatalf("reset without agreeing to lose the mail: %d", code)
	}
	if code := apiJSON(t, rs.http, "PATCH", "/api/v1/users/ann@example.test", admin, map[string]any{"password": "ann-password-3", "discard_encrypted_mail": true}, nil); code != http.StatusOK {
		t.Fatalf("reset discarding the key: %d", code)
	}
	raw = dialIMAPRaw(t, imapAddr, "ann@example.test", "ann-password-3")
	lines = raw.cmd(t, "f3", "FETCH 2 BODY.PEEK[]")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "f3 NO [UNAVAILABLE] ") || strings.Contains(strings.Join(lines, ""), "APPEND-MARKER") {
		t.Fatalf("FETCH of mail sealed to the discarded key: %q", lines)
	}
	if lines := raw.cmd(t, "s1", "SEARCH BODY draft"); !strings.HasPrefix(lines[len(lines)-1], "s1 NO [UNAVAILABLE] ") {
		t.Fatalf("SEARCH BODY over mail sealed to the discarded key: %q", lines)
	}
	raw.Close()
	p = dialPOP3(t, pop3Addr, "ann@example.test", "ann-password-3")
	if line := p.cmd(t, "RETR 2"); !strings.HasPrefix(line, "-ERR [SYS/PERM] ") {
		t.Fatalf("POP3 RETR of mail sealed to the discarded key: %q", line)
	}
	p.cmd(t, "QUIT")
	p.Close()
	rs.stop(t)

	// The CLI's reset says what it needs for a user-key account.
	if code, out := runCLI(env, "user", "passwd", "ann@example.test", "--password", "ann-password-5"); code == 0 || !strings.Contains(out, "--discard-encrypted-mail") {
		t.Fatalf("yubin user passwd of a user-key account: %d %s", code, out)
	}
	if code, out := runCLI(env, "user", "passwd", "ann@example.test", "--password", "ann-password-5", "--discard-encrypted-mail"); code != 0 {
		t.Fatalf("yubin user passwd --discard-encrypted-mail: %d %s", code, out)
	}

	// The store opened with the server key alone cannot read her mail.
	st := openStoreWithKey(t, dir, keyPath)
	defer st.Close()
	u, _ := st.GetUser(ctx, "ann@example.test")
	mb, _ := st.GetMailbox(ctx, u.ID, mailstore.Inbox)
	metas, _ := st.ListMessages(ctx, mb.ID, nil)
	for i := range metas {
		if _, err := st.OpenMessage(ctx, &metas[i]); !errors.Is(err, mailstore.ErrBodyLocked) {
			t.Fatalf("the server key opened user-key mail (message %d): %v", metas[i].UID, err)
		}
	}
}
