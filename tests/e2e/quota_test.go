package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

const (
	quotaAdmin    = "admin@mail.test"
	quotaAdminPw  = "quota-admin-password-1"
	quotaDomain   = "quota.test"
	quotaUser     = "full@" + quotaDomain
	quotaBusyUser = "busy@" + quotaDomain
	quotaUserPw   = "quota-user-password-1"
	quotaLimit    = 20_000
)

// TestQuota drives quota enforcement through every door of a real server:
// users made over the REST API, mail over SMTP until the mailbox is full
// (452 4.2.2) and too large for it (552 5.2.2), IMAP APPEND into a full
// mailbox (NO [OVERQUOTA]), POP3 DELE freeing room, a raised quota over the
// API, and concurrent deliveries whose usage must match what is stored.
func TestQuota(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir, "YUBIN_ADMIN_EMAIL="+quotaAdmin, "YUBIN_ADMIN_PASSWORD="+quotaAdminPw)
	srv.start()

	api := apiLogin(t, srv, quotaAdmin, quotaAdminPw)
	api.must(http.MethodPost, "/api/v1/domains", map[string]any{"name": quotaDomain}, http.StatusCreated, nil)
	// No quota warnings: this test counts the messages to the byte (the
	// warnings have their own test in cmd/yubin).
	api.must(http.MethodPatch, "/api/v1/domains/"+quotaDomain, map[string]any{"quota_warning_percents": []int{}}, http.StatusOK, nil)
	api.must(http.MethodPost, "/api/v1/users", map[string]any{"address": quotaUser, "password": quotaUserPw, "quota_bytes": quotaLimit}, http.StatusCreated, nil)
	if q := api.quota(quotaUser); q.QuotaBytes != quotaLimit || q.UsedBytes != 0 {
		t.Fatalf("new user's quota: %+v", q)
	}

	const msgSize = 3_000
	var accepted int
	var room int64 // left after filling
	t.Run("smtp until full", func(t *testing.T) {
		var full error
		for i := range 2 * quotaLimit / msgSize {
			err := smtpSend(srv, quotaUser, quotaMsg(fmt.Sprintf("fill %d", i), msgSize), 0)
			if err != nil {
				full = err
				break
			}
			accepted++
		}
		if full == nil {
			t.Fatalf("%d messages of %d bytes accepted for a quota of %d", accepted, msgSize, quotaLimit)
		}
		wantSMTPCode(t, full, 452, smtp.EnhancedCode{4, 2, 2})
		if accepted == 0 {
			t.Fatalf("not even one message accepted: %v", full)
		}
		// Stored messages are a little larger than sent ones: Received,
		// Authentication-Results and X-Spam-* fields are prepended.
		q := api.quota(quotaUser)
		stored := q.UsedBytes / int64(max(accepted, 1))
		if q.UsedBytes > quotaLimit || q.UsedBytes+stored <= quotaLimit || q.UsedMessages != int64(accepted) {
			t.Errorf("after %d accepted messages: %+v", accepted, q)
		}
		room = quotaLimit - q.UsedBytes
		// Again with SIZE= larger than the room left: the refusal comes
		// at RCPT.
		err := smtpSend(srv, quotaUser, quotaMsg("fill with size", msgSize), room+1)
		wantSMTPCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
		if !strings.HasPrefix(err.Error(), "RCPT") {
			t.Errorf("with SIZE= refused at %v, want at RCPT", err)
		}
	})

	t.Run("smtp larger than the quota", func(t *testing.T) {
		err := smtpSend(srv, quotaUser, quotaMsg("huge", quotaLimit+5_000), quotaLimit+5_000)
		wantSMTPCode(t, err, 552, smtp.EnhancedCode{5, 2, 2})
		if !strings.HasPrefix(err.Error(), "RCPT") {
			t.Errorf("refused at %v, want at RCPT", err)
		}
	})

	t.Run("imap append when full", func(t *testing.T) {
		c := imapLogin(t, srv, quotaUser, quotaUserPw)
		defer c.Close()
		raw := quotaMsg("appended", int(room)+80)
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := cmd.Wait()
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeOverQuota {
			t.Fatalf("APPEND into a full mailbox: %v, want NO [OVERQUOTA]", err)
		}
		if st := imapStatus(t, c, "INBOX"); st.NumMessages == nil || *st.NumMessages != uint32(accepted) {
			t.Errorf("INBOX after a refused APPEND: %+v, want %d messages", st, accepted)
		}
		_ = c.Logout().Wait()
	})

	t.Run("pop3 dele frees room", func(t *testing.T) {
		before := api.quota(quotaUser)
		conn, err := net.DialTimeout("tcp", srv.addrs["pop3"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p := newPOP3(t, conn)
		p.cmd("USER %s", quotaUser)
		p.cmd("PASS %s", quotaUserPw)
		var n int
		var size int64
		if _, err := fmt.Sscanf(p.cmd("STAT"), "%d %d", &n, &size); err != nil {
			t.Fatalf("POP3 STAT: %v", err)
		}
		if n != accepted || size != before.UsedBytes {
			t.Errorf("POP3 STAT %d %d, API says %+v", n, size, before)
		}
		var num int
		var first int64
		if _, err := fmt.Sscanf(p.cmd("LIST 1"), "%d %d", &num, &first); err != nil {
			t.Fatalf("POP3 LIST 1: %v", err)
		}
		p.cmd("DELE 1")
		// Nothing is removed before QUIT.
		if q := api.quota(quotaUser); q.UsedBytes != before.UsedBytes {
			t.Errorf("usage changed before QUIT: %+v → %+v", before, q)
		}
		p.cmd("QUIT")
		after := api.quota(quotaUser)
		if after.UsedBytes != before.UsedBytes-first || after.UsedMessages != before.UsedMessages-1 {
			t.Fatalf("after DELE of %d bytes and QUIT: %+v → %+v", first, before, after)
		}
		// There is room again: a smaller message than the one removed fits.
		if err := smtpSend(srv, quotaUser, quotaMsg("after dele", msgSize/2), msgSize/2); err != nil {
			t.Fatalf("SMTP after freeing room: %v", err)
		}
	})

	t.Run("raised quota", func(t *testing.T) {
		big := quotaMsg("after raise", 2*msgSize)
		err := smtpSend(srv, quotaUser, big, 0)
		wantSMTPCode(t, err, 452, smtp.EnhancedCode{4, 2, 2})
		var u struct {
			QuotaBytes int64 `json:"quota_bytes"`
		}
		api.must(http.MethodPatch, "/api/v1/users/"+quotaUser, map[string]any{"quota_bytes": 2 * quotaLimit}, http.StatusOK, &u)
		if u.QuotaBytes != 2*quotaLimit {
			t.Errorf("PATCH answered quota_bytes %d", u.QuotaBytes)
		}
		if err := smtpSend(srv, quotaUser, big, int64(len(big))); err != nil {
			t.Fatalf("SMTP after raising the quota: %v", err)
		}
		if q := api.quota(quotaUser); q.QuotaBytes != 2*quotaLimit || q.UsedBytes <= quotaLimit-msgSize {
			t.Errorf("after raising the quota: %+v", q)
		}
	})

	t.Run("usage matches storage", func(t *testing.T) {
		checkUsage(t, srv, api, quotaUser, quotaUserPw)
	})

	t.Run("concurrent delivery", func(t *testing.T) {
		// Ten senders at once against a quota they will overrun: every
		// accepted message is counted once, and nothing else.
		const (
			senders = 10
			each    = 6
			size    = 2_000
			limit   = 60_000
		)
		api.must(http.MethodPost, "/api/v1/users", map[string]any{"address": quotaBusyUser, "password": quotaUserPw, "quota_bytes": limit}, http.StatusCreated, nil)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok, full int
			other    []error
		)
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					err := smtpSend(srv, quotaBusyUser, quotaMsg(fmt.Sprintf("busy %d-%d", g, i), size), 0)
					var se *smtp.SMTPError
					mu.Lock()
					switch {
					case err == nil:
						ok++
					case errors.As(err, &se) && se.Code == 452 && se.EnhancedCode == smtp.EnhancedCode{4, 2, 2}:
						full++
					default:
						other = append(other, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(other) > 0 {
			t.Errorf("unexpected SMTP errors: %v", other)
		}
		if full == 0 || ok == 0 {
			t.Errorf("%d accepted, %d refused as full: the quota was not reached under load", ok, full)
		}
		q := checkUsage(t, srv, api, quotaBusyUser, quotaUserPw)
		if q.UsedMessages != int64(ok) || q.UsedBytes > limit {
			t.Errorf("%d accepted; quota says %+v (limit %d)", ok, q, limit)
		}
	})
	srv.stop()
}

// apiClient calls the REST API with a bearer token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client
}

// apiLogin logs in over the API.
func apiLogin(t *testing.T, srv *server, email, password string) *apiClient {
	t.Helper()
	a := &apiClient{t: t, base: "http://" + srv.addrs["http"], http: &http.Client{Timeout: 30 * time.Second}}
	var tok struct {
		Token string `json:"token"`
	}
	a.must(http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK, &tok)
	if tok.Token == "" {
		t.Fatal("login: no token")
	}
	a.token = tok.Token
	return a
}

// must sends a request with a JSON body (unless nil), fails the test
// unless the status is want, and decodes the answer into out (unless nil).
func (a *apiClient) must(method, path string, body any, want int, out any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
}

// quotaInfo is GET /api/v1/users/{address}/quota.
type quotaInfo struct {
	QuotaBytes    int64 `json:"quota_bytes"`
	UsedBytes     int64 `json:"used_bytes"`
	QuotaMessages int64 `json:"quota_messages"`
	UsedMessages  int64 `json:"used_messages"`
}

func (a *apiClient) quota(address string) quotaInfo {
	a.t.Helper()
	var q quotaInfo
	a.must(http.MethodGet, "/api/v1/users/"+address+"/quota", nil, http.StatusOK, &q)
	return q
}

// checkUsage compares the API's usage of a user (whose mail is all in
// INBOX) with IMAP STATUS (MESSAGES SIZE), and returns the API's.
func checkUsage(t *testing.T, srv *server, api *apiClient, user, password string) quotaInfo {
	t.Helper()
	q := api.quota(user)
	c := imapLogin(t, srv, user, password)
	defer c.Close()
	st := imapStatus(t, c, "INBOX")
	if st.Size == nil || st.NumMessages == nil {
		t.Fatalf("STATUS INBOX (MESSAGES SIZE) answered %+v", st)
	}
	if *st.Size != q.UsedBytes || int64(*st.NumMessages) != q.UsedMessages {
		t.Errorf("%s: API used_bytes %d, used_messages %d; IMAP STATUS SIZE %d, MESSAGES %d",
			user, q.UsedBytes, q.UsedMessages, *st.Size, *st.NumMessages)
	}
	_ = c.Logout().Wait()
	return q
}

// imapLogin logs in over plain IMAP (allowed from loopback).
func imapLogin(t *testing.T, srv *server, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return c
}

func imapStatus(t *testing.T, c *imapclient.Client, mailbox string) *imap.StatusData {
	t.Helper()
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP STATUS %s: %v", mailbox, err)
	}
	return st
}

// smtpSend sends one message to rcpt on the MX port, with SIZE=size unless
// 0. An error names the command that failed (MAIL, RCPT or DATA) and wraps
// the server's *smtp.SMTPError.
func smtpSend(srv *server, rcpt, msg string, size int64) error {
	c, err := smtp.Dial(srv.addrs["smtp"])
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.remote.test"); err != nil {
		return err
	}
	var mo *smtp.MailOptions
	if size > 0 {
		mo = &smtp.MailOptions{Size: size}
	}
	if err := c.Mail("sender@remote.test", mo); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// quotaMsg is a message of about n bytes (as sent; the server adds its
// Received field).
func quotaMsg(subject string, n int) string {
	head := "From: <sender@remote.test>\r\nTo: <" + quotaUser + ">\r\nSubject: " + subject + "\r\n\r\n"
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+78 <= n {
		b.WriteString(strings.Repeat("q", 76) + "\r\n")
	}
	return b.String()
}

// wantSMTPCode checks that err wraps an SMTP error with code and enh.
func wantSMTPCode(t *testing.T, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want SMTP error %d %v", err, code, enh)
	}
	if se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("got %v, want %d %d.%d.%d", err, code, enh[0], enh[1], enh[2])
	}
}
