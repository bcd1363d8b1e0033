package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/internal/testimap"
	"github.com/yubinmail/yubin/mailstore"
)

const (
	nodesDomain  = "nodes.test"
	nodesReader  = "rita@" + nodesDomain // reads her mail on node B
	nodesVictim  = "vic@" + nodesDomain  // whose password is guessed on node A
	nodesUserPw  = "nodes-user-password"
	nodesAdminPw = "nodes-admin-password"
)

// needPostgresServe skips the test, saying why, unless yubin serve takes a
// PostgreSQL database (YUBIN_DATABASE) and the mailstore opens on dsn.
func needPostgresServe(t *testing.T, dsn string) {
	t.Helper()
	if !slices.ContainsFunc(config.Settings(), func(s config.Setting) bool { return s.Env == "YUBIN_DATABASE" }) {
		t.Skip("yubin serve has no YUBIN_DATABASE setting: the nodes cannot share a database")
	}
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: t.TempDir(), Database: dsn})
	if err != nil {
		t.Skipf("the mailstore does not open on PostgreSQL: %v", err)
	}
	st.Close()
}

// TestTwoNodes runs two yubin serve processes, each with its own data
// folder, on one PostgreSQL database and one blob folder, and checks that
// they behave as one server: IMAP IDLE on B sees a delivery on A, flags
// and expunges cross, a token from A works on B, a login throttle earned
// on A holds on B, the outbound queue delivers each message once across
// both, and a kill -9 of A under intake load loses nothing acknowledged
// while B takes over A's delivery after the lease.
func TestTwoNodes(t *testing.T) {
	dsn := testdb.Postgres(t)
	needPostgresServe(t, dsn)
	dnsSrv := remoteDNS(t)
	sink := startMailSink(t)
	blobs := filepath.Join(t.TempDir(), "blobs")
	node := func(name string) *server {
		return newServer(t, filepath.Join(t.TempDir(), name),
			"YUBIN_DATABASE="+dsn, "YUBIN_BLOBS="+blobs,
			"YUBIN_ADMIN_EMAIL="+sendAdmin, "YUBIN_ADMIN_PASSWORD="+nodesAdminPw,
			"YUBIN_SUBMISSION_ADDR=127.0.0.1:0",
			"YUBIN_DNS="+dnsSrv.LocalAddr().String(),
			"YUBIN_OUTBOUND_PORT="+strconv.Itoa(sink.port),
			"YUBIN_OUTBOUND_LEASE="+sendLease.String(),
			"YUBIN_MAX_CONNECTIONS_PER_IP=200",
		)
	}
	a, b := node("a"), node("b")
	startSending(t, a)
	startSending(t, b)

	api := apiLogin(t, a, sendAdmin, nodesAdminPw)
	for _, d := range []string{sendDomain, nodesDomain, "example.com"} {
		api.must(http.MethodPost, "/api/v1/domains", map[string]any{"name": d}, http.StatusCreated, nil)
	}
	for u, pw := range map[string]string{sendAnn: sendPassword, nodesReader: nodesUserPw, nodesVictim: nodesUserPw, durUser: durPassword} {
		api.must(http.MethodPost, "/api/v1/users", map[string]any{"address": u, "password": pw}, http.StatusCreated, nil)
	}

	t.Run("a token from A works on B", func(t *testing.T) {
		onB := &apiClient{t: t, base: "http://" + b.addrs["http"], token: api.token, http: api.http}
		var users struct {
			Total int `json:"total"`
		}
		onB.must(http.MethodGet, "/api/v1/users", nil, http.StatusOK, &users)
		if users.Total != 4 {
			t.Errorf("B lists %d users, want the 4 made on A", users.Total)
		}
		// And the other way: B's token on A.
		fromB := apiLogin(t, b, sendAdmin, nodesAdminPw)
		onA := &apiClient{t: t, base: "http://" + a.addrs["http"], token: fromB.token, http: api.http}
		onA.must(http.MethodGet, "/api/v1/users", nil, http.StatusOK, nil)
	})

	t.Run("IDLE on B sees a delivery on A; flags and expunges cross", func(t *testing.T) {
		idler := testimap.Dial(t, b.addrs["imap"])
		idler.OK("l", "LOGIN "+nodesReader+" "+nodesUserPw)
		idler.OK("e", "ENABLE IMAP4rev2")
		idler.OK("s", "SELECT INBOX")
		idler.Send("i IDLE")
		if l := idler.Line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		start := time.Now()
		smtpDeliver(t, a.addrs["smtp"], "someone@"+remoteDomain, nodesReader, "Subject: across\r\n\r\nhello from A\r\n")
		idler.Until("* 1 EXISTS")
		t.Logf("IDLE on B saw the message A accepted over SMTP %v after the first byte was sent", time.Since(start).Round(time.Millisecond))

		onA := testimap.Dial(t, a.addrs["imap"])
		onA.OK("l", "LOGIN "+nodesReader+" "+nodesUserPw)
		onA.OK("e", "ENABLE IMAP4rev2")
		onA.OK("s", "SELECT INBOX")
		onA.OK("f", `UID STORE 1 +FLAGS (\Flagged)`)
		if l := idler.Until("* 1 FETCH"); !strings.Contains(l, `\Flagged`) {
			t.Fatalf("flags on B: %q", l)
		}
		onA.OK("d", `UID STORE 1 +FLAGS.SILENT (\Deleted)`)
		onA.OK("x", "EXPUNGE")
		idler.Until("* 1 EXPUNGE")
		idler.Send("DONE")
		idler.Until("i OK")
	})

	t.Run("a throttle earned on A holds on B", func(t *testing.T) {
		// Ten wrong passwords on A, at once (each waits its delay).
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				c := testimap.Dial(t, a.addrs["imap"])
				c.Send("l LOGIN " + nodesVictim + " wrong-" + strconv.Itoa(i))
				if l := c.Until("l "); !strings.HasPrefix(l, "l NO") {
					t.Errorf("wrong password on A: %q", l)
				}
			})
		}
		wg.Wait()
		// The right password on B is refused: the account is blocked.
		c := testimap.Dial(t, b.addrs["imap"])
		c.Send("l LOGIN " + nodesVictim + " " + nodesUserPw)
		if l := c.Until("l "); !strings.HasPrefix(l, "l NO") {
			t.Fatalf("B let %s in after 10 failures on A: %q", nodesVictim, l)
		}
		// And the API of B refuses the address too.
		resp, err := http.Post("http://"+b.addrs["http"]+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"`+nodesVictim+`","password":"`+nodesUserPw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("B's API let %s in after 10 failures on A", nodesVictim)
		}
	})

	t.Run("the outbound queue delivers each message once, DKIM-signed with the shared keys", func(t *testing.T) {
		var ids []string
		for i := range 12 {
			srv := []*server{a, b}[i%2]
			id := fmt.Sprintf("<once.%d@%s>", i, sendDomain)
			if err := submit(srv, sendAnn, sendAnn, []string{"joe@" + remoteDomain}, sendMsg(id, "Once "+strconv.Itoa(i), "joe@"+remoteDomain)); err != nil {
				t.Fatalf("submission to node %d: %v", i%2, err)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			sink.wait(t, id, 1, 60*time.Second)
		}
		waitQueueEmpty(t, api)
		for _, id := range ids {
			if n := sink.count(id); n != 1 {
				t.Errorf("%s delivered %d times", id, n)
			}
		}
		// Both nodes sign with the domain's DKIM keys, which are in the
		// database: what the API published verifies mail from either.
		var dnsRecs struct {
			Records []struct{ Type, Name, Value string } `json:"records"`
		}
		api.must(http.MethodGet, "/api/v1/domains/"+sendDomain+"/dns", nil, http.StatusOK, &dnsRecs)
		for _, r := range dnsRecs.Records {
			if r.Type == "TXT" && strings.HasSuffix(r.Name, "._domainkey."+sendDomain) {
				if err := dnsSrv.AppendRR(r.Name, dnsTypeTXT, r.Value); err != nil {
					t.Fatal(err)
				}
			}
		}
		resolver := dnsSrv.NewResolver()
		lookupTXT := func(name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return resolver.LookupTXT(ctx, name)
		}
		for _, id := range ids[:2] { // one submitted to each node
			got := sink.wait(t, id, 1, time.Second)
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(got.data), &dkim.VerifyOptions{LookupTXT: lookupTXT})
			if err != nil || len(vs) == 0 || slices.ContainsFunc(vs, func(v *dkim.Verification) bool { return v.Err != nil }) {
				t.Errorf("%s: DKIM does not verify against the published keys: %v %+v", id, err, vs)
			}
		}
	})

	t.Run("kill -9 of A under load: nothing acknowledged lost, B takes over A's delivery", func(t *testing.T) {
		// A holds a delivery in the middle of DATA when it dies.
		stallID := "<stall.1@" + sendDomain + ">"
		if err := submit(a, sendAnn, sendAnn, []string{rcptStall}, sendMsg(stallID, "Stalled", rcptStall)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sink.stalled:
		case <-time.After(60 * time.Second):
			t.Fatal("A did not start the delivery")
		}
		l := startLoad(a.addrs["smtp"], 0)
		for deadline := time.Now().Add(30 * time.Second); l.acks.Load() < 20 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		a.kill9()
		close(sink.release) // the stalled DATA fails: A is gone
		ids, attempts := l.stop()
		if len(ids) == 0 {
			t.Fatal("no message was acknowledged before the kill; the test proves nothing")
		}
		t.Logf("killed A with %d acknowledged of %d attempted", len(ids), attempts)
		subjects := imapSubjects(t, b, durUser, durPassword)
		for _, id := range ids {
			if subjects["dur "+id] != 1 {
				t.Errorf("acknowledged message %s seen %d times on B", id, subjects["dur "+id])
			}
		}
		// A's claim runs out after the lease; B delivers the message.
		sink.wait(t, stallID, 1, sendLease+90*time.Second)
		waitQueueEmpty(t, &apiClient{t: t, base: "http://" + b.addrs["http"], token: api.token, http: api.http})
		if n := sink.count(stallID); n != 1 {
			t.Errorf("the stalled message was delivered %d times", n)
		}
	})
	// The node left stops cleanly, its link to the database included.
	b.stop()
}

// smtpDeliver sends one message to addr (an MX port) from from to to.
func smtpDeliver(t *testing.T, addr, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("deliver to %s: %v", to, err)
	}
}
