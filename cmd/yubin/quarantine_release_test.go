package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestQuarantineReleaseRunsSieve (issue 17): a message the filters held
// (a fake rspamd on loopback says "discard", which Yubin quarantines) and
// an administrator releases over the REST API is delivered as a delivery
// would have been: through the recipient's Sieve script, which files it
// into a folder it creates and flags it, as IMAP shows; a recipient without
// a script gets it in INBOX.
func TestQuarantineReleaseRunsSieve(t *testing.T) {
	rspamd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"action":"discard","score":25,"required_score":15,"symbols":{}}`)
	}))
	defer rspamd.Close()

	dir := t.TempDir()
	env := map[string]string{"YUBIN_DATA": dir}
	if code, out := runCLI(env, "domain", "add", "example.test"); code != 0 {
		t.Fatalf("domain add: %d %s", code, out)
	}
	for _, u := range []string{"ann@example.test", "bob@example.test"} {
		if code, out := runCLI(env, "user", "add", u, "--password", "password-of-"+u); code != 0 {
			t.Fatalf("user add: %d %s", code, out)
		}
	}
	smtpAddr, imapAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	rs := startServe(t, dir, map[string]string{
		"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_LOG_LEVEL": "info",
		"YUBIN_FILTERS": "rspamd", "YUBIN_RSPAMD": rspamd.URL,
		"YUBIN_ADMIN_EMAIL": "admin@example.test", "YUBIN_ADMIN_PASSWORD": "admin-password-1",
		"YUBIN_SMTP_ADDR": smtpAddr, "YUBIN_IMAP_ADDR": imapAddr,
	})
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
	token := apiToken(t, rs.http, "admin@example.test", "admin-password-1")

	script := "require [\"fileinto\", \"mailbox\", \"imap4flags\"];\r\n" +
		"if header :contains \"subject\" \"invoice\" { addflag \"\\\\Flagged\"; fileinto :create \"Invoices\"; stop; }\r\n"
	req, err := http.NewRequest("PUT", "http://"+rs.http+"/api/v1/users/ann@example.test/sieve/main", strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/sieve")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT script: %d %s", resp.StatusCode, b)
	}
	if code := apiJSON(t, rs.http, "POST", "/api/v1/users/ann@example.test/sieve/main/activate", token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("activate: %d", code)
	}

	for _, to := range []string{"ann@example.test", "bob@example.test"} {
		msg := "From: billing@remote.example\r\nTo: " + to + "\r\nSubject: invoice 42\r\nMessage-ID: <inv42-" + to + ">\r\n\r\nPlease pay.\r\n"
		sendPlainSMTP(t, smtpAddr, "billing@remote.example", to, msg)
	}
	var held struct {
		Items []struct {
			ID         int64    `json:"id"`
			Recipients []string `json:"recipients"`
		} `json:"items"`
	}
	if code := apiJSON(t, rs.http, "GET", "/api/v1/quarantine", token, nil, &held); code != http.StatusOK || len(held.Items) != 2 {
		t.Fatalf("quarantine: %d, %+v; want the two messages held", code, held)
	}
	for _, it := range held.Items {
		if code := apiJSON(t, rs.http, "POST", fmt.Sprintf("/api/v1/quarantine/%d/release", it.ID), token, nil, nil); code/100 != 2 {
			t.Fatalf("release %d (%v): %d", it.ID, it.Recipients, code)
		}
	}

	// Ann's script filed hers into Invoices, flagged; her INBOX is empty.
	c := dialIMAPInbox(t, imapAddr, "ann@example.test", "password-of-ann@example.test")
	defer c.Close()
	if n := inboxMessages(t, c); n != 0 {
		t.Errorf("ann's INBOX holds %d messages, want 0", n)
	}
	sel, err := c.Select("Invoices", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT Invoices: %v", err)
	}
	if sel.NumMessages != 1 {
		t.Fatalf("Invoices holds %d messages, want 1", sel.NumMessages)
	}
	whole := &goimap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true, BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v", err)
	}
	if !slices.Contains(msgs[0].Flags, goimap.FlagFlagged) {
		t.Errorf("flags %v: the script's \\Flagged is missing", msgs[0].Flags)
	}
	if body := string(msgs[0].FindBodySection(whole)); !strings.Contains(body, "<inv42-ann@example.test>") {
		t.Errorf("Invoices holds another message: %.300s", body)
	}

	// Bob has no script: INBOX.
	cb := dialIMAPInbox(t, imapAddr, "bob@example.test", "password-of-bob@example.test")
	defer cb.Close()
	if n := inboxMessages(t, cb); n != 1 {
		t.Errorf("bob's INBOX holds %d messages, want 1", n)
	}
	if code := apiJSON(t, rs.http, "GET", "/api/v1/quarantine", token, nil, &held); code != http.StatusOK || len(held.Items) != 0 {
		t.Fatalf("quarantine after release: %d, %+v", code, held)
	}
}

// inboxMessages counts the messages in INBOX with STATUS. (The client's
// Mailbox() is not read here: go-imap's client ends a SELECT's Wait before
// it records the selected mailbox, so right after it Mailbox() may be nil.)
func inboxMessages(t *testing.T, c *imapclient.Client) uint32 {
	t.Helper()
	st, err := c.Status("INBOX", &goimap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil {
		t.Fatalf("STATUS INBOX: %v", err)
	}
	return *st.NumMessages
}
