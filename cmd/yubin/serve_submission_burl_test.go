package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

// submissionConn is a raw SMTP client for the submission listener.
type submissionConn struct {
	t  *testing.T
	tp *textproto.Conn
}

func dialSubmission(t *testing.T, addr, user, pass string) *submissionConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	c := &submissionConn{t: t, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	caps := c.cmd("EHLO client.example.test", 250)
	if strings.Contains(caps, "BURL") {
		t.Errorf("BURL offered before AUTH: %q", caps)
	}
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)), 235)
	if caps := c.cmd("EHLO client.example.test", 250); !strings.Contains(caps, "\nBURL imap") {
		t.Errorf("no BURL imap after AUTH: %q", caps)
	}
	return c
}

func (c *submissionConn) expect(code int) string {
	c.t.Helper()
	_, msg, err := c.tp.ReadResponse(code)
	if err != nil {
		c.t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func (c *submissionConn) cmd(line string, code int) string {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(code)
}

// TestBURLFromIMAP: a user APPENDs a draft over IMAP, signs a URL of it
// for submission (GENURLAUTH, submit+user), and sends it with BURL (RFC
// 4468) on the submission listener: the local recipient's copy, read over
// IMAP, and the queued remote one hold the draft byte for byte below the
// fields the server adds, DKIM-signed. URLs of another user, without
// URLAUTH, expired, tampered with, of a missing message or of another
// server are refused with RFC 4468's codes; BDAT and BURL mix.
func TestBURLFromIMAP(t *testing.T) {
	ctx := context.Background()
	w, subLn := testWiring(t, "submission", "starttls")
	imapLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.bound["imap"] = bound{Listener: config.Listener{Name: "imap", Addr: imapLn.Addr().String(), TLS: "starttls"}, ln: imapLn}
	if _, err := w.store.CreateUser(ctx, mailstore.NewUser{Address: "bob@example.test", Password: "bob-password"}); err != nil {
		t.Fatal(err)
	}
	w.startIMAP()
	if err := w.startSubmission(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})
	imapAddr, subAddr := imapLn.Addr().String(), subLn.Addr().String()

	// Ann's draft, with bytes a careless path would change: trailing
	// spaces, a line of dots, 8-bit text.
	draft := "From: Ann <ann@example.test>\r\nTo: bob@example.test, carl@remote.example\r\nSubject: draft sent by BURL\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <draft-1@example.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Hello Bob,   \r\n.\r\n..\r\nünïcödé\r\n-- \r\nAnn\r\n"
	ann, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close()
	if err := ann.Login("ann@example.test", "ann-password").Wait(); err != nil {
		t.Fatal(err)
	}
	_ = ann.Create("Drafts", nil).Wait() // may exist already
	app := ann.Append("Drafts", int64(len(draft)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagDraft}})
	if _, err := io.WriteString(app, draft); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	appended, err := app.Wait()
	if err != nil {
		t.Fatal(err)
	}
	rump := fmt.Sprintf("imap://ann%%40example.test@mail.example.test/Drafts;UIDVALIDITY=%d/;UID=%d", appended.UIDValidity, appended.UID)

	raw := dialIMAPRaw(t, imapAddr, "ann@example.test", "ann-password")
	sign := func(url string) string {
		t.Helper()
		lines := raw.cmd(t, "g", `GENURLAUTH "`+url+`" INTERNAL`)
		m := regexp.MustCompile(`^\* GENURLAUTH "(.*)"$`).FindStringSubmatch(lines[0])
		if m == nil || !strings.HasPrefix(lines[len(lines)-1], "g OK") {
			t.Fatalf("GENURLAUTH %s: %q", url, lines)
		}
		return m[1]
	}
	forSubmit := sign(rump + ";URLAUTH=submit+ann%40example.test")

	// The draft, sent as it is.
	sub := dialSubmission(t, subAddr, "ann@example.test", "ann-password")
	sub.cmd("MAIL FROM:<ann@example.test>", 250)
	sub.cmd("RCPT TO:<bob@example.test>", 250)
	sub.cmd("RCPT TO:<carl@remote.example>", 250)
	sub.cmd("BURL "+forSubmit+" LAST", 250)

	bobIMAP := func() []string {
		t.Helper()
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("bob@example.test", "bob-password").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		section := &goimap.FetchItemBodySection{Peek: true}
		var all goimap.SeqSet
		all.AddRange(1, 0) // 1:*
		msgs, err := c.Fetch(all, &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, string(m.FindBodySection(section)))
		}
		return out
	}
	got := bobIMAP()
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n"+draft) || !strings.Contains(got[0], "\r\nDKIM-Signature: ") {
		t.Fatalf("bob's copy over IMAP: %q", got)
	}
	if head := strings.TrimSuffix(got[0], draft); strings.Contains(head, "\r\nSubject:") {
		t.Errorf("fields added above the draft: %q", head)
	}
	items, err := w.queue.List(ctx, queue.Filter{})
	if err != nil || len(items) != 1 {
		t.Fatalf("queue: %v %v", items, err)
	}
	body, err := w.queue.OpenBody(ctx, &items[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	queued, _ := io.ReadAll(body)
	body.Close()
	if !bytes.HasPrefix(queued, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(queued, []byte("\r\n"+draft)) {
		t.Errorf("queued copy: %q", queued)
	}

	// BDAT and BURL mixed: a new header, then the draft's text.
	text := sign(rump + "/;SECTION=TEXT;URLAUTH=submit+ann%40example.test")
	header := "From: ann@example.test\r\nTo: bob@example.test\r\nSubject: mixed\r\n\r\n"
	sub.cmd("MAIL FROM:<ann@example.test>", 250)
	sub.cmd("RCPT TO:<bob@example.test>", 250)
	sub.cmd(fmt.Sprintf("BDAT %d\r\n%s", len(header), strings.TrimSuffix(header, "\r\n")), 250)
	sub.cmd("BURL "+text+" LAST", 250)
	bodyText := draft[strings.Index(draft, "\r\n\r\n")+4:]
	if got := bobIMAP(); len(got) != 2 || !strings.HasSuffix(got[1], "\r\n"+header+bodyText) {
		t.Errorf("mixed message: %q", got[len(got)-1])
	}

	// Refusals, each ending its transaction.
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	tampered := strings.Replace(forSubmit, fmt.Sprintf(";UID=%d", appended.UID), fmt.Sprintf(";UID=%d", appended.UID+1), 1)
	bobSub := dialSubmission(t, subAddr, "bob@example.test", "bob-password")
	for _, tc := range []struct {
		name string
		c    *submissionConn
		from string
		url  string
		want string
	}{
		{"another user's URL", bobSub, "bob@example.test", forSubmit, "5.7.0"},
		{"no URLAUTH", sub, "ann@example.test", rump, "5.7.0"},
		{"for IMAP, not submission", sub, "ann@example.test", sign(rump + ";URLAUTH=user+ann%40example.test"), "5.7.0"},
		{"expired", sub, "ann@example.test", sign(rump + ";EXPIRE=" + past + ";URLAUTH=submit+ann%40example.test"), "5.7.0"},
		{"tampered", sub, "ann@example.test", tampered, "5.7.0"},
		{"missing message", sub, "ann@example.test", sign(strings.Replace(rump, fmt.Sprintf(";UID=%d", appended.UID), ";UID=999", 1) + ";URLAUTH=submit+ann%40example.test"), "5.6.6"},
		{"another server", sub, "ann@example.test", strings.Replace(forSubmit, "mail.example.test", "imap.elsewhere.example", 1), "5.7.14"},
		{"not a URL", sub, "ann@example.test", "http://example.test/", "5.6.6"},
	} {
		tc.c.cmd("MAIL FROM:<"+tc.from+">", 250)
		tc.c.cmd("RCPT TO:<bob@example.test>", 250)
		if msg := tc.c.cmd("BURL "+tc.url+" LAST", 554); !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: reply %q, want %s", tc.name, msg, tc.want)
		}
		tc.c.cmd("RCPT TO:<bob@example.test>", 503) // the transaction is over
	}
	if got := bobIMAP(); len(got) != 2 {
		t.Errorf("bob has %d messages after the refusals, want 2", len(got))
	}
}
