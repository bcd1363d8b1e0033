package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"
)

const (
	sendAdmin    = "admin@mail.test"
	sendAdminPw  = "sending-admin-password"
	sendDomain   = "sender.test"
	sendAnn      = "ann@" + sendDomain
	sendBob      = "bob@" + sendDomain
	sendPassword = "sending-user-password"
	// remoteDomain's MX is the sink, through the mock DNS server.
	remoteDomain = "remote.example"
	// sendLease is YUBIN_OUTBOUND_LEASE: a delivery cut short by a crash
	// is retried after it.
	sendLease = 4 * time.Second
)

// Recipients at the sink that behave specially.
const (
	rcptGreylist = "greylist@" + remoteDomain // 451 at the end of the first DATA, then 250
	rcptReject   = "reject@" + remoteDomain   // 550 5.1.1 at RCPT
	rcptStall    = "stall@" + remoteDomain    // the first DATA stalls until released
)

// dnsTypeTXT is the TXT record type (RFC 1035) for mockdns.AppendRR.
const dnsTypeTXT = 16

// TestSending sends mail the way a user does, through a real yubin serve:
// submission on port 587 with STARTTLS and AUTH, DKIM-signed delivery to a
// remote MX found through DNS (a mock DNS server on loopback and an SMTP
// sink in the test), local delivery to a colleague, retries after a
// temporary failure, a delivery status notification after a permanent
// one, forged senders refused, and a kill -9 in the middle of a delivery.
func TestSending(t *testing.T) {
	dnsSrv := remoteDNS(t)
	sink := startMailSink(t)

	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir,
		"YUBIN_ADMIN_EMAIL="+sendAdmin, "YUBIN_ADMIN_PASSWORD="+sendAdminPw,
		"YUBIN_SUBMISSION_ADDR=127.0.0.1:0", // the port is read from the log: see startSending
		"YUBIN_DNS="+dnsSrv.LocalAddr().String(),
		"YUBIN_OUTBOUND_PORT="+strconv.Itoa(sink.port),
		"YUBIN_OUTBOUND_LEASE="+sendLease.String(),
	)
	startSending(t, srv)

	api := apiLogin(t, srv, sendAdmin, sendAdminPw)
	api.must(http.MethodPost, "/api/v1/domains", map[string]any{"name": sendDomain}, http.StatusCreated, nil)
	for _, u := range []string{sendAnn, sendBob} {
		api.must(http.MethodPost, "/api/v1/users", map[string]any{"address": u, "password": sendPassword}, http.StatusCreated, nil)
	}

	// Publish the domain's DKIM keys as the API lists them: long values
	// as several strings of one TXT record (mockdns splits them).
	var dnsRecs struct {
		Records []struct {
			Type, Name, Value, Purpose string
		} `json:"records"`
	}
	api.must(http.MethodGet, "/api/v1/domains/"+sendDomain+"/dns", nil, http.StatusOK, &dnsRecs)
	var published int
	for _, r := range dnsRecs.Records {
		if r.Type != "TXT" || !strings.HasSuffix(r.Name, "._domainkey."+sendDomain) {
			continue
		}
		if len(r.Value) > 255 && !strings.Contains(r.Purpose, "255") {
			t.Errorf("DKIM record %s is %d characters long, but its purpose does not say how to publish it: %q", r.Name, len(r.Value), r.Purpose)
		}
		if err := dnsSrv.AppendRR(r.Name, dnsTypeTXT, r.Value); err != nil {
			t.Fatal(err)
		}
		published++
	}
	if published != 2 {
		t.Fatalf("GET /dns lists %d DKIM records, want 2 (RSA and Ed25519): %+v", published, dnsRecs.Records)
	}
	resolver := dnsSrv.NewResolver()
	lookupTXT := func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return resolver.LookupTXT(ctx, name)
	}

	t.Run("signed remote delivery and local colleague", func(t *testing.T) {
		id := "<signed.1@" + sendDomain + ">"
		msg := sendMsg(id, "Lunch", "joe@"+remoteDomain+", "+sendBob)
		if err := submit(srv, sendAnn, sendAnn, []string{"joe@" + remoteDomain, sendBob}, msg); err != nil {
			t.Fatalf("submission: %v", err)
		}
		got := sink.wait(t, id, 1, 15*time.Second)
		if got.from != sendAnn || strings.Join(got.to, ",") != "joe@"+remoteDomain {
			t.Errorf("sink got MAIL FROM %q RCPT TO %v", got.from, got.to)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(got.data), &dkim.VerifyOptions{LookupTXT: lookupTXT})
		if err != nil {
			t.Fatalf("DKIM verification: %v", err)
		}
		if len(vs) != 2 {
			t.Errorf("%d DKIM signatures, want 2 (RSA and Ed25519)", len(vs))
		}
		for _, v := range vs {
			if v.Err != nil || v.Domain != sendDomain {
				t.Errorf("DKIM signature of %q: %v", v.Domain, v.Err)
			}
		}
		if len(vs) == 0 {
			t.Errorf("the message is not DKIM-signed:\n%s", got.data)
		}
		// The colleague has it in INBOX, over IMAP.
		waitFor(t, 10*time.Second, "Bob's copy in INBOX", func() bool {
			return countWith(imapInbox(t, srv, sendBob, sendPassword), "Message-Id: "+id, "Message-ID: "+id) == 1
		})
		waitQueueEmpty(t, api)
	})

	t.Run("temporary failure then success", func(t *testing.T) {
		id := "<grey.1@" + sendDomain + ">"
		if err := submit(srv, sendAnn, sendAnn, []string{rcptGreylist}, sendMsg(id, "Greylisted", rcptGreylist)); err != nil {
			t.Fatalf("submission: %v", err)
		}
		// The first attempt gets 451; the worker would wait a minute or
		// more: the API's retry makes it due at once.
		var qid int64
		waitFor(t, 15*time.Second, "the 451 recorded in the queue", func() bool {
			for _, m := range listQueue(t, api, "?domain="+remoteDomain) {
				for _, r := range m.Recipients {
					if r.Address == rcptGreylist && r.Status == "queued" && r.Attempts == 1 && r.LastCode == 451 {
						qid = m.ID
						if !strings.Contains(r.LastError, "451") || !r.NextAttemptAt.After(time.Now()) {
							t.Errorf("after the 451: %+v", r)
						}
						return true
					}
				}
			}
			return false
		})
		if n := sink.count(id); n != 0 {
			t.Fatalf("accepted %d times before the retry", n)
		}
		api.must(http.MethodPost, fmt.Sprintf("/api/v1/queue/%d/retry", qid), nil, http.StatusNoContent, nil)
		sink.wait(t, id, 1, 15*time.Second)
		waitQueueEmpty(t, api)
		if n, tries := sink.count(id), sink.tries(id); n != 1 || tries != 2 {
			t.Errorf("accepted %d times in %d DATA commands, want once in 2", n, tries)
		}
	})

	t.Run("one recipient refused: DSN", func(t *testing.T) {
		id := "<dsn.1@" + sendDomain + ">"
		okRcpt := "ok@" + remoteDomain
		if err := submit(srv, sendAnn, sendAnn, []string{okRcpt, rcptReject}, sendMsg(id, "Half of it", okRcpt+", "+rcptReject)); err != nil {
			t.Fatalf("submission: %v", err)
		}
		got := sink.wait(t, id, 1, 15*time.Second)
		if strings.Join(got.to, ",") != okRcpt {
			t.Errorf("delivered to %v, want %s", got.to, okRcpt)
		}
		var dsn []byte
		waitFor(t, 15*time.Second, "the DSN in Ann's INBOX", func() bool {
			for _, m := range imapInbox(t, srv, sendAnn, sendPassword) {
				if bytes.Contains(m, []byte("report-type=delivery-status")) && bytes.Contains(m, []byte(rcptReject)) {
					if dsn != nil {
						t.Fatalf("more than one DSN in Ann's INBOX")
					}
					dsn = m
				}
			}
			return dsn != nil
		})
		if !bytes.Contains(dsn, []byte("Status: 5.1.1")) || bytes.Contains(dsn, []byte("Final-Recipient: rfc822; "+okRcpt)) {
			t.Errorf("DSN:\n%s", dsn)
		}
		waitQueueEmpty(t, api)
		time.Sleep(300 * time.Millisecond)
		if n := sink.count(id); n != 1 {
			t.Errorf("accepted %d times, want once", n)
		}
		if n := countWith(imapInbox(t, srv, sendAnn, sendPassword), "report-type=delivery-status"); n != 1 {
			t.Errorf("%d DSNs in Ann's INBOX, want 1", n)
		}
	})

	t.Run("forged sender", func(t *testing.T) {
		id := "<forged.1@" + sendDomain + ">"
		err := submit(srv, sendAnn, sendBob, []string{"joe@" + remoteDomain}, sendMsg(id, "Forged", "joe@"+remoteDomain))
		wantSMTPCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})
		if !strings.HasPrefix(err.Error(), "MAIL") {
			t.Errorf("refused at %v, want at MAIL", err)
		}
		// The envelope is Ann's, the From field Bob's.
		msg := strings.Replace(sendMsg(id, "Forged", "joe@"+remoteDomain), "From: Ann <"+sendAnn+">", "From: Bob <"+sendBob+">", 1)
		err = submit(srv, sendAnn, sendAnn, []string{"joe@" + remoteDomain}, msg)
		wantSMTPCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})
		if !strings.HasPrefix(err.Error(), "DATA") {
			t.Errorf("refused at %v, want at DATA", err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := sink.tries(id); n != 0 {
			t.Errorf("a forged message reached the sink %d times", n)
		}
		if items := listQueue(t, api, ""); len(items) != 0 {
			t.Errorf("a forged message was queued: %+v", items)
		}
	})

	t.Run("kill -9 during DATA", func(t *testing.T) {
		id := "<stall.1@" + sendDomain + ">"
		if err := submit(srv, sendAnn, sendAnn, []string{rcptStall}, sendMsg(id, "Stalled", rcptStall)); err != nil {
			t.Fatalf("submission: %v", err)
		}
		select {
		case <-sink.stalled:
		case <-time.After(15 * time.Second):
			t.Fatal("the delivery never reached DATA")
		}
		srv.kill9()
		close(sink.release) // the stalled DATA fails: the connection is gone
		startSending(t, srv)
		// The killed server's claim runs out after the lease; the new
		// one delivers then.
		sink.wait(t, id, 1, sendLease+15*time.Second)
		waitQueueEmpty(t, api)
		if n, tries := sink.count(id), sink.tries(id); n != 1 || tries != 2 {
			t.Errorf("accepted %d times in %d DATA commands, want once in 2", n, tries)
		}
	})

	srv.stop()
}

// remoteDNS starts a DNS server on loopback whose only zone is
// remoteDomain, with an MX on 127.0.0.1 (where startMailSink listens).
func remoteDNS(t *testing.T) *mockdns.Server {
	t.Helper()
	zones := map[string]mockdns.Zone{
		remoteDomain + ".":         {MX: []net.MX{{Host: "mx." + remoteDomain + ".", Pref: 10}}},
		"mx." + remoteDomain + ".": {A: []string{"127.0.0.1"}},
	}
	dnsSrv, err := mockdns.NewServerWithLogger(zones, log.New(io.Discard, "", 0), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })
	return dnsSrv
}

// submissionRE finds the submission listener's address in the log.
var submissionRE = regexp.MustCompile(`msg=listening protocol=submission addr=(127\.0\.0\.1:[0-9]+)`)

// startSending starts srv, whose submission listener is on a port the
// system chose, and notes that port.
func startSending(t *testing.T, srv *server) {
	t.Helper()
	srv.start()
	m := submissionRE.FindStringSubmatch(srv.log.String())
	if m == nil {
		t.Fatalf("no submission listener in the log:\n%s", tail(srv.log.String(), 40))
	}
	srv.addrs["submission"] = m[1]
}

// sendMsg is a message from Ann with the given Message-ID.
func sendMsg(id, subject, to string) string {
	return "From: Ann <" + sendAnn + ">\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMessage-ID: " + id + "\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hello,\r\n\r\nthis is " + subject + ".\r\n"
}

// submit sends msg on the submission port, with STARTTLS and AUTH PLAIN
// as user (password sendPassword). An error names the command that failed
// (MAIL, RCPT or DATA) and wraps the server's *smtp.SMTPError.
func submit(srv *server, user, from string, rcpts []string, msg string) error {
	c, err := smtp.DialStartTLS(srv.addrs["submission"], srv.tlsConfig())
	if err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, sendPassword)); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	if err := c.Mail(from, nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
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

// queuedMsg is an item of GET /api/v1/queue.
type queuedMsg struct {
	ID         int64  `json:"id"`
	From       string `json:"from"`
	Held       bool   `json:"held"`
	Recipients []struct {
		Address       string    `json:"address"`
		Status        string    `json:"status"`
		Attempts      int       `json:"attempts"`
		NextAttemptAt time.Time `json:"next_attempt_at"`
		LastError     string    `json:"last_error"`
		LastCode      int       `json:"last_code"`
	} `json:"recipients"`
}

func listQueue(t *testing.T, api *apiClient, query string) []queuedMsg {
	t.Helper()
	var l struct {
		Items []queuedMsg `json:"items"`
	}
	api.must(http.MethodGet, "/api/v1/queue"+query, nil, http.StatusOK, &l)
	return l.Items
}

// waitQueueEmpty waits until the outbound queue is empty: every delivery
// outcome is recorded.
func waitQueueEmpty(t *testing.T, api *apiClient) {
	t.Helper()
	var last []queuedMsg
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if last = listQueue(t, api, ""); len(last) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the queue is not empty: %+v", last)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// imapInbox returns every message in a user's INBOX, over IMAP.
func imapInbox(t *testing.T, srv *server, user, password string) [][]byte {
	t.Helper()
	c := imapLogin(t, srv, user, password)
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP EXAMINE INBOX: %v", err)
	}
	var out [][]byte
	if sel.NumMessages > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		bufs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			t.Fatalf("IMAP FETCH BODY[]: %v", err)
		}
		for _, b := range bufs {
			out = append(out, b.FindBodySection(section))
		}
	}
	_ = c.Logout().Wait()
	return out
}

// countWith counts the messages that contain any of subs.
func countWith(msgs [][]byte, subs ...string) int {
	n := 0
	for _, m := range msgs {
		for _, s := range subs {
			if bytes.Contains(m, []byte(s)) {
				n++
				break
			}
		}
	}
	return n
}

// sinkMsg is a message the sink accepted.
type sinkMsg struct {
	from string
	to   []string
	data []byte
}

// mailSink is the remote MX: an SMTP server on 127.0.0.1 that keeps what
// it accepts, counted by Message-ID. See rcptGreylist, rcptReject and
// rcptStall for its special recipients.
type mailSink struct {
	port    int
	stalled chan struct{} // closed when a DATA for rcptStall stalls
	release chan struct{} // closed by the test to end the stall

	mu       sync.Mutex
	accepted map[string][]sinkMsg // by Message-ID
	dataSeen map[string]int       // DATA commands by Message-ID
	stallNow bool                 // the next DATA for rcptStall stalls
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	s := &mailSink{
		stalled: make(chan struct{}), release: make(chan struct{}),
		accepted: map[string][]sinkMsg{}, dataSeen: map[string]int{}, stallNow: true,
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSinkSession{s: s}, nil
	}))
	srv.Domain = "mx." + remoteDomain
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		s.mu.Lock()
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.mu.Unlock()
		srv.Close()
	})
	return s
}

// count is how many times the message was accepted.
func (s *mailSink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted[id])
}

// tries is how many DATA commands came for the message.
func (s *mailSink) tries(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataSeen[id]
}

// wait waits until the message was accepted n times and returns the first.
func (s *mailSink) wait(t *testing.T, id string, n int, timeout time.Duration) sinkMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := s.accepted[id]
		s.mu.Unlock()
		if len(got) >= n {
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink accepted %s %d times in %s, want %d", id, len(got), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type mailSinkSession struct {
	s    *mailSink
	from string
	to   []string
}

func (ss *mailSinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *mailSinkSession) Logout() error { return nil }

func (ss *mailSinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *mailSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.EqualFold(to, rcptReject) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *mailSinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message"}
	}
	id := m.Header.Get("Message-Id")
	s := ss.s
	s.mu.Lock()
	s.dataSeen[id]++
	tries := s.dataSeen[id]
	stall := false
	for _, to := range ss.to {
		if strings.EqualFold(to, rcptStall) && s.stallNow {
			stall, s.stallNow = true, false
		}
	}
	s.mu.Unlock()
	for _, to := range ss.to {
		if strings.EqualFold(to, rcptGreylist) && tries == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"}
		}
	}
	if stall {
		close(s.stalled)
		<-s.release
		return errors.New("stalled")
	}
	s.mu.Lock()
	s.accepted[id] = append(s.accepted[id], sinkMsg{from: ss.from, to: ss.to, data: data})
	s.mu.Unlock()
	return nil
}
