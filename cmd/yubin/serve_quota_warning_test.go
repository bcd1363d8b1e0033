package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/service"
)

// TestQuotaWarningsOverSMTPAndIMAP: issue 19 item 4. Mail delivered over
// the SMTP intake's socket until 80% of ann's quota is passed gives her
// exactly one warning, in the domain's language (Japanese here), which an
// IMAP client reads from her INBOX; more mail gives none, 95% one more;
// after an IMAP EXPUNGE takes her below 80%, passing it again warns again.
func TestQuotaWarningsOverSMTPAndIMAP(t *testing.T) {
	ctx := context.Background()
	w, smtpLn := testWiring(t, "smtp", "starttls")
	w.cfg.Filters = nil
	imapLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.bound["imap"] = bound{Listener: config.Listener{Name: "imap", Addr: imapLn.Addr().String(), TLS: "starttls"}, ln: imapLn}
	svc := service.New(w.store, w.log)
	quota := int64(20_000)
	if _, err := svc.UpdateUser(ctx, service.System(), "ann@example.test", service.UserPatch{QuotaBytes: &quota}); err != nil {
		t.Fatal(err)
	}
	ja := "ja"
	if _, err := svc.UpdateDomain(ctx, service.System(), "example.test", service.DomainSettings{Language: &ja}); err != nil {
		t.Fatal(err)
	}
	w.startSMTP()
	w.startIMAP()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w.sup.stopAll(sctx)
	})

	c, err := imapclient.DialInsecure(imapLn.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann@example.test", "ann-password").Wait(); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		uid     goimap.UID
		subject string
		size    int64
	}
	// inbox lists the INBOX as the client reads it, and sums the sizes
	// of the mail and of the warnings.
	inbox := func() (all []entry, warnings []string, mail, warned int64) {
		t.Helper()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(goimap.UIDSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{UID: true, Envelope: true, RFC822Size: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			e := entry{uid: m.UID, subject: m.Envelope.Subject, size: m.RFC822Size}
			all = append(all, e)
			if len(m.Envelope.From) == 1 && m.Envelope.From[0].Addr() == "postmaster@example.test" {
				warnings = append(warnings, e.subject)
				warned += e.size
			} else {
				mail += e.size
			}
		}
		return all, warnings, mail, warned
	}
	n := 0
	send := func() {
		t.Helper()
		n++
		sc, err := smtp.Dial(smtpLn.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		msg := "From: sender@example.org\r\nTo: ann@example.test\r\nSubject: mail " + strconv.Itoa(n) + "\r\n\r\n" + strings.Repeat("0123456789 ", 50) + "\r\n"
		if err := sc.SendMail("sender@example.org", []string{"ann@example.test"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
	}
	const warn80, warn95 = "メールボックスの使用量が80%に達しました", "メールボックスの使用量が95%に達しました"
	// sendUntilWarned sends until the next warning comes and checks that
	// it comes with the first message that takes the usage (mail and the
	// warnings before) to level percent of the quota, and not before.
	sendUntilWarned := func(level int64, subject string) {
		t.Helper()
		_, before, _, _ := inbox()
		for range 60 {
			_, _, mail, warned := inbox()
			send()
			_, ws, mailAfter, _ := inbox()
			crossed := (mailAfter+warned)*100 >= level*quota
			if !crossed {
				if len(ws) != len(before) {
					t.Fatalf("warned at %d of %d bytes, below %d%%: %q", mailAfter+warned, quota, level, ws)
				}
				continue
			}
			if (mail+warned)*100 >= level*quota {
				t.Fatalf("%d of %d bytes already reached %d%% before this message", mail+warned, quota, level)
			}
			if len(ws) != len(before)+1 || ws[len(ws)-1] != subject {
				t.Fatalf("after passing %d%%: warnings %q, want one more: %q", level, ws, subject)
			}
			return
		}
		t.Fatalf("no warning at %d%%", level)
	}

	sendUntilWarned(80, warn80)
	send() // more mail below 95%: no second warning
	if _, ws, mail, warned := inbox(); len(ws) != 1 || (mail+warned)*100 >= 95*quota {
		t.Fatalf("after one more message (%d bytes): warnings %q", mail+warned, ws)
	}
	sendUntilWarned(95, warn95)

	// Deleting mail over IMAP takes ann below 80%; passing it again warns
	// again.
	all, _, _, _ := inbox()
	var del goimap.UIDSet
	for _, e := range all[:len(all)/2] {
		if !strings.HasPrefix(e.subject, "メールボックス") {
			del.AddNum(e.uid)
		}
	}
	if err := c.Store(del, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if _, ws, mail, warned := inbox(); (mail+warned)*100 >= 80*quota || len(ws) != 2 {
		t.Fatalf("after EXPUNGE: %d of %d bytes, warnings %q", mail+warned, quota, ws)
	}
	sendUntilWarned(80, warn80)
	if _, ws, _, _ := inbox(); strings.Join(ws, "|") != strings.Join([]string{warn80, warn95, warn80}, "|") {
		t.Fatalf("warnings %q", ws)
	}
	u, err := w.store.GetUser(ctx, "ann@example.test")
	if err != nil || u.QuotaWarningPercent != 80 {
		t.Fatalf("recorded warning level %+v, %v", u, err)
	}
}
