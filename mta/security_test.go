package mta

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/authn"
	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// The attacks of issue 11, replayed over SMTP against the server code.

// dmarcChain is the real authentication filter, asking a DNS server on
// loopback in which victim.example publishes p=reject.
func dmarcChain(tb testing.TB) *filters.Chain {
	tb.Helper()
	srv, err := mockdns.NewServerWithLogger(map[string]mockdns.Zone{
		"_dmarc.victim.example.": {TXT: []string{"v=DMARC1; p=reject"}},
		"victim.example.":        {TXT: []string{"v=spf1 -all"}},
	}, quietDNSLog{}, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	res := dnsresolve.New(dnsresolve.Options{Server: srv.LocalAddr().String(), Timeout: 5 * time.Second})
	a := authn.New(authn.Options{Resolver: res})
	return filters.NewChain(nil, filters.Stage{Filter: a, Enabled: true})
}

type quietDNSLog struct{}

func (quietDNSLog) Printf(string, ...any) {}

// padding returns n bytes of filler header fields.
func padding(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("f", 200))
	}
	return b.String()
}

const forgedAR = "Authentication-Results: " + testHost + "; spf=pass smtp.mailfrom=victim.example; dkim=pass header.d=victim.example; dmarc=pass header.from=victim.example\r\n"

// TestDMARCBypassByHeaderPadding: issue 11 item 1. A From field of a
// p=reject domain after more than a megabyte of filler was accepted,
// filed in INBOX with the forged Authentication-Results kept. Now the
// header too large to check is refused, and below the limit every field
// is checked and every foreign Authentication-Results removed.
func TestDMARCBypassByHeaderPadding(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = dmarcChain(t) })
	spoof := "From: CEO <ceo@victim.example>\r\n" + forgedAR + "Subject: wire the money\r\n\r\nnow\r\n"

	_, err := ts.send(t, "x@attacker.example", []string{ann}, padding(maxHeaderBytes+1)+spoof)
	wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4})

	_, err = ts.send(t, "x@attacker.example", []string{ann}, padding(maxHeaderBytes-64<<10)+spoof)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})

	// A line that is no field before the From field hides nothing.
	_, err = ts.send(t, "x@attacker.example", []string{ann}, "Subject: hi\r\nthis is not a field\r\n"+spoof)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	// Nor does a blank before the colon.
	_, err = ts.send(t, "x@attacker.example", []string{ann}, strings.Replace(spoof, "From:", "From :", 1))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})

	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 0 {
		t.Fatalf("%d spoofed messages delivered", len(got))
	}

	// Mail from a domain without a policy is accepted, and loses every
	// forged Authentication-Results field, also one deep in the header.
	legit := forgedAR + padding(600<<10) + forgedAR + "From: someone@remote.example\r\nSubject: ok\r\n\r\nbody\r\n"
	if _, err := ts.send(t, "x@remote.example", []string{ann}, legit); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	if n := strings.Count(got[0], "Authentication-Results:"); n != 1 || strings.Contains(got[0], "dmarc=pass") {
		t.Errorf("%d Authentication-Results fields kept (want our own only): %q", n, trunc(got[0]))
	}
	if !strings.Contains(got[0], "dkim=none;") {
		t.Errorf("Authentication-Results not as RFC 8601 writes it: %q", trunc(got[0]))
	}
}

// TestDMARCNeedsExactlyOneFrom: RFC 7489 section 6.6.1. Two From fields,
// one of them a p=reject domain's, or both of domains without a policy,
// are refused; no From field gives no pass.
func TestDMARCNeedsExactlyOneFrom(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = dmarcChain(t) })
	for _, from := range []string{
		"From: me@remote.example\r\nFrom: CEO <ceo@victim.example>\r\n",
		"From: me@remote.example\r\nFROM : other@remote.example\r\n",
	} {
		_, err := ts.send(t, "x@remote.example", []string{ann}, from+"Subject: two\r\n\r\nbody\r\n")
		wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	}
	if _, err := ts.send(t, "x@remote.example", []string{ann}, "Subject: none\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	got := messages(t, ts.store, ann, "INBOX")
	if len(got) != 1 || !strings.Contains(got[0], "dmarc=permerror") {
		t.Fatalf("message without From: %q", got)
	}
}
