package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
)

// Client addresses of the tests.
const (
	goodIP = "192.0.2.10"   // allowed by the SPF records below
	badIP  = "203.0.113.66" // allowed nowhere
)

// testZones are the DNS zones of the tests.
func testZones() map[string]mockdns.Zone {
	return map[string]mockdns.Zone{
		// example.com: SPF -all, DMARC reject with sp=quarantine,
		// relaxed alignment; DKIM keys rsa and ed.
		"example.com.":                     {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"mail.example.com.":                {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"_dmarc.example.com.":              {TXT: []string{"v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com"}},
		"rsa._domainkey.example.com.":      {TXT: []string{rsaRecord()}},
		"ed._domainkey.example.com.":       {TXT: []string{edRecord()}},
		"rsa._domainkey.mail.example.com.": {TXT: []string{rsaRecord()}},
		"broken._domainkey.example.com.":   {Err: errors.New("server failure")},
		"tmp.example.com.":                 {Err: errors.New("server failure")},
		// pct=0: a failing message is never sampled, reject becomes
		// quarantine.
		"pct.example.com.":        {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"_dmarc.pct.example.com.": {TXT: []string{"v=DMARC1; p=reject; pct=0"}},

		// example.org: strict alignment.
		"example.org.":                     {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"bounces.example.org.":             {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"_dmarc.example.org.":              {TXT: []string{"v=DMARC1; p=reject; adkim=s; aspf=s"}},
		"rsa._domainkey.mail.example.org.": {TXT: []string{rsaRecord()}},
		"rsa._domainkey.example.org.":      {TXT: []string{rsaRecord()}},

		// example.net: p=none, softfail.
		"example.net.":        {TXT: []string{"v=spf1 ip4:192.0.2.0/24 ~all"}},
		"_dmarc.example.net.": {TXT: []string{"v=DMARC1; p=none"}},

		// example.edu: p=quarantine.
		"example.edu.":        {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"_dmarc.example.edu.": {TXT: []string{"v=DMARC1; p=quarantine"}},

		// example.info: SPF neutral, no DMARC record.
		"example.info.": {TXT: []string{"v=spf1 ?all"}},
		// nospf.example.info: nothing at all.
		"nospf.example.info.": {A: []string{"192.0.2.99"}},
		// example.biz: DNS broken.
		"example.biz.":        {Err: errors.New("server failure")},
		"_dmarc.example.biz.": {Err: errors.New("server failure")},
		// example.us: invalid DMARC record.
		"example.us.":        {TXT: []string{"v=spf1 -all"}},
		"_dmarc.example.us.": {TXT: []string{"v=DMARC1; p=bogus"}},

		// An internationalized domain (bücher.example).
		"_dmarc.xn--bcher-kva.example.": {TXT: []string{"v=DMARC1; p=reject"}},

		// The HELO name of the null-sender tests.
		"mx.example.com.": {TXT: []string{"v=spf1 ip4:192.0.2.10 -all"}},
	}
}

func newAuthenticator(t *testing.T, opts Options) *Authenticator {
	opts.Resolver = startDNS(t, testZones())
	opts.Hostname = "mx.yubin.test"
	return New(opts)
}

// arResults parses the Authentication-Results field of v, checking its
// authserv-id, into method -> results (in order).
func arResults(t *testing.T, v filters.Verdict) map[string][]string {
	t.Helper()
	var value string
	n := 0
	for _, f := range v.AddHeaders {
		if f.Key == "Authentication-Results" {
			value = f.Value
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d Authentication-Results fields, want 1: %+v", n, v.AddHeaders)
	}
	id, results, err := authres.Parse(value)
	if err != nil {
		t.Fatalf("parse %q: %v", value, err)
	}
	if id != "mx.yubin.test" {
		t.Errorf("authserv-id %q, want mx.yubin.test", id)
	}
	out := make(map[string][]string)
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			out["spf"] = append(out["spf"], string(r.Value))
		case *authres.DMARCResult:
			out["dmarc"] = append(out["dmarc"], string(r.Value)+" "+r.From)
		case *authres.DKIMResult:
			out["dkim"] = append(out["dkim"], string(r.Value)+" "+r.Domain)
		case *authres.AuthResult:
			out["auth"] = append(out["auth"], string(r.Value))
		case *authres.GenericResult:
			out[r.Method] = append(out[r.Method], string(r.Value))
		}
	}
	return out
}

func check(t *testing.T, a *Authenticator, msg *filters.Message) filters.Verdict {
	t.Helper()
	v, err := a.Check(context.Background(), msg)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !v.RemovesHeader("Authentication-Results") {
		t.Errorf("RemoveHeaders = %q, want Authentication-Results", v.RemoveHeaders)
	}
	t.Logf("Authentication-Results: %s", v.AddHeaders[0].Value)
	return v
}

func TestSPF(t *testing.T) {
	a := newAuthenticator(t, Options{})
	tests := []struct {
		ip, helo, from string
		want           string
		wantHelo       bool
	}{
		{goodIP, "client.example.com", "alice@example.com", "pass", false},
		{badIP, "client.example.com", "alice@example.com", "fail", false},
		{badIP, "client.example.com", "alice@example.net", "softfail", false},
		{badIP, "client.example.com", "alice@example.info", "neutral", false},
		{badIP, "client.example.com", "alice@nospf.example.info", "none", false},
		{badIP, "client.example.com", "alice@nxdomain.example.info", "none", false},
		{badIP, "client.example.com", "alice@example.biz", "temperror", false},
		{"2001:db8::1", "client.example.com", "alice@example.com", "fail", false},
		// IPv4-mapped IPv6 is checked as IPv4.
		{"::ffff:192.0.2.10", "client.example.com", "alice@example.com", "pass", false},
		// Null sender: the HELO identity.
		{goodIP, "mx.example.com", "", "pass", true},
		{badIP, "mx.example.com", "", "fail", true},
		{badIP, "[203.0.113.66]", "", "none", true},
		{badIP, "localhost", "", "none", true},
	}
	for _, tt := range tests {
		t.Run(tt.ip+" "+tt.from+" "+tt.helo, func(t *testing.T) {
			msg := message(newMail("alice@example.info", "1@example.info"), tt.ip, tt.helo, tt.from)
			v := check(t, a, msg)
			if v.Action != filters.Accept {
				t.Errorf("Action = %v, want accept (DMARC none, no RejectSPFFail)", v.Action)
			}
			if got := arResults(t, v)["spf"]; len(got) != 1 || got[0] != tt.want {
				t.Errorf("spf = %q, want %s", got, tt.want)
			}
			if v.Evidence[0].Filter != "spf" || v.Evidence[0].Result != tt.want {
				t.Errorf("evidence %+v, want spf %s", v.Evidence[0], tt.want)
			}
			value := v.AddHeaders[0].Value
			if tt.wantHelo != strings.Contains(value, "smtp.helo=") || tt.wantHelo == strings.Contains(value, "smtp.mailfrom=") {
				t.Errorf("%q: want smtp.helo %v", value, tt.wantHelo)
			}

			// CheckSender agrees, and accepts.
			sv, err := a.CheckSender(context.Background(), msg.Conn, tt.from)
			if err != nil || sv.Action != filters.Accept || len(sv.Evidence) != 1 || sv.Evidence[0].Result != tt.want {
				t.Errorf("CheckSender = %+v, %v; want accept with spf %s", sv, err, tt.want)
			}
		})
	}
}

func TestRejectSPFFail(t *testing.T) {
	a := newAuthenticator(t, Options{RejectSPFFail: true})
	ctx := context.Background()
	msg := message(newMail("alice@example.net", "1@example.net"), badIP, "client.example.net", "alice@example.com")

	v, err := a.CheckSender(ctx, msg.Conn, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != filters.Reject || v.Code != 550 || v.EnhancedCode != [3]int{5, 7, 23} {
		t.Errorf("CheckSender = %v %d %v, want reject 550 5.7.23", v.Action, v.Code, v.EnhancedCode)
	}
	if !strings.Contains(v.Reason, badIP) || !strings.Contains(v.Reason, "example.com") {
		t.Errorf("reason %q should name the client and the domain", v.Reason)
	}
	v = check(t, a, msg)
	if v.Action != filters.Reject || v.EnhancedCode != [3]int{5, 7, 23} {
		t.Errorf("Check = %v %v, want reject 5.7.23", v.Action, v.EnhancedCode)
	}

	// Softfail and temperror are not refused.
	for _, from := range []string{"alice@example.net", "alice@example.biz"} {
		v, err := a.CheckSender(ctx, msg.Conn, from)
		if err != nil || v.Action != filters.Accept {
			t.Errorf("CheckSender(%s) = %v, %v; want accept", from, v.Action, err)
		}
	}

	// The standalone SPF filter behaves the same.
	f := NewSPF(Options{Resolver: a.opts.Resolver, RejectSPFFail: true})
	if f.Name() != "spf" {
		t.Errorf("Name = %q", f.Name())
	}
	if v, _ := f.CheckSender(ctx, msg.Conn, "alice@example.com"); v.Action != filters.Reject {
		t.Errorf("SPF.CheckSender = %v, want reject", v.Action)
	}
	if v, _ := f.Check(ctx, msg); v.Action != filters.Reject || len(v.AddHeaders) != 0 {
		t.Errorf("SPF.Check = %+v, want reject without header fields", v)
	}
	f = NewSPF(Options{Resolver: a.opts.Resolver})
	if v, _ := f.CheckSender(ctx, msg.Conn, "alice@example.com"); v.Action != filters.Accept || v.Evidence[0].Result != "fail" {
		t.Errorf("SPF.CheckSender without RejectSPFFail = %+v, want accept with evidence fail", v)
	}
}

func TestDKIM(t *testing.T) {
	a := newAuthenticator(t, Options{})
	mail := newMail("alice@example.com", "dkim@example.com")
	rsaSigned := sign(t, mail, "example.com", "rsa", rsaKey())
	edSigned := sign(t, mail, "example.com", "ed", edKey())
	both := sign(t, rsaSigned, "example.com", "ed", edKey())

	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"unsigned", mail, []string{"none "}},
		{"rsa-sha256", rsaSigned, []string{"pass example.com"}},
		{"ed25519-sha256", edSigned, []string{"pass example.com"}},
		{"both", both, []string{"pass example.com", "pass example.com"}},
		{"body tampered", strings.Replace(rsaSigned, "noon", "one", 1), []string{"fail example.com"}},
		{"header tampered", strings.Replace(both, "Subject: Lunch?", "Subject: Dinner?", 1), []string{"fail example.com", "fail example.com"}},
		{"no key", sign(t, mail, "example.com", "nokey", rsaKey()), []string{"permerror example.com"}},
		{"wrong key", sign(t, mail, "example.com", "rsa", edKey()), []string{"permerror example.com"}},
		{"key lookup fails", sign(t, mail, "example.com", "broken", rsaKey()), []string{"temperror example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// SPF fails (bad IP): DMARC depends on DKIM alone.
			v := check(t, a, message(tt.raw, badIP, "client.example.net", "alice@example.net"))
			got := arResults(t, v)["dkim"]
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("dkim = %q, want %q", got, tt.want)
			}
			wantDMARC := "fail example.com"
			switch {
			case strings.HasPrefix(tt.want[0], "pass"):
				wantDMARC = "pass example.com"
			case strings.HasPrefix(tt.want[0], "temperror"):
				wantDMARC = "temperror example.com"
			}
			if got := arResults(t, v)["dmarc"]; len(got) != 1 || got[0] != wantDMARC {
				t.Errorf("dmarc = %q, want %s", got, wantDMARC)
			}
			if wantAction := map[bool]filters.Action{true: filters.Reject, false: filters.Accept}[wantDMARC == "fail example.com"]; v.Action != wantAction {
				t.Errorf("Action = %v, want %v", v.Action, wantAction)
			}
		})
	}

	// Selector and algorithm are reported.
	v := check(t, a, message(edSigned, badIP, "h.example.net", "alice@example.net"))
	value := v.AddHeaders[0].Value
	for _, s := range []string{"header.d=example.com", "header.s=ed", "header.a=ed25519-sha256", "header.b="} {
		if !strings.Contains(value, s) {
			t.Errorf("%q lacks %s", value, s)
		}
	}
}

func TestDKIMMaxSignatures(t *testing.T) {
	a := newAuthenticator(t, Options{MaxDKIMSignatures: 2})
	raw := newMail("alice@example.com", "many@example.com")
	for range 4 {
		raw = sign(t, raw, "example.com", "ed", edKey())
	}
	v := check(t, a, message(raw, badIP, "h.example.net", "alice@example.net"))
	if got := arResults(t, v)["dkim"]; len(got) != 2 {
		t.Errorf("dkim = %q, want 2 results", got)
	}
}

func TestDMARC(t *testing.T) {
	a := newAuthenticator(t, Options{})
	tests := []struct {
		name                 string
		from, mailFrom, ip   string
		signDomain, selector string // "" for unsigned
		wantDMARC            string
		wantAction           filters.Action
	}{
		{"spf aligned", "alice@example.com", "bounce@example.com", goodIP, "", "", "pass", filters.Accept},
		{"spf relaxed alignment", "alice@example.com", "bounce@mail.example.com", goodIP, "", "", "pass", filters.Accept},
		{"spf pass unaligned, p=reject", "alice@example.com", "bounce@example.edu", goodIP, "", "", "fail", filters.Reject},
		{"spf fail, p=reject", "alice@example.com", "alice@example.com", badIP, "", "", "fail", filters.Reject},
		{"dkim aligned", "alice@example.com", "bounce@example.edu", goodIP, "example.com", "rsa", "pass", filters.Accept},
		{"dkim relaxed alignment", "alice@example.com", "x@example.net", badIP, "mail.example.com", "rsa", "pass", filters.Accept},
		{"dkim unaligned", "alice@example.com", "x@example.net", badIP, "example.org", "rsa", "fail", filters.Reject},
		{"subdomain sp=quarantine", "alice@news.example.com", "x@example.net", badIP, "", "", "fail", filters.Junk},
		{"subdomain relaxed pass", "alice@news.example.com", "bounce@example.com", goodIP, "", "", "pass", filters.Accept},
		{"strict spf exact", "alice@example.org", "bounce@example.org", goodIP, "", "", "pass", filters.Accept},
		{"strict spf subdomain", "alice@example.org", "bounce@bounces.example.org", goodIP, "", "", "fail", filters.Reject},
		{"strict dkim subdomain", "alice@example.org", "x@example.net", badIP, "mail.example.org", "rsa", "fail", filters.Reject},
		{"strict dkim exact", "alice@example.org", "x@example.net", badIP, "example.org", "rsa", "pass", filters.Accept},
		{"p=quarantine", "alice@example.edu", "x@example.net", badIP, "", "", "fail", filters.Junk},
		{"p=none", "alice@example.net", "x@example.net", badIP, "", "", "fail", filters.Accept},
		{"pct=0 reject becomes quarantine", "alice@pct.example.com", "x@example.net", badIP, "", "", "fail", filters.Junk},
		{"no record", "alice@example.info", "x@example.net", badIP, "", "", "none", filters.Accept},
		{"dns failure", "alice@example.biz", "x@example.net", badIP, "", "", "temperror", filters.Accept},
		{"invalid record", "alice@example.us", "x@example.us", badIP, "", "", "permerror", filters.Accept},
		// SPF temperror on an aligned identity: no verdict; on an
		// unaligned one: fail.
		{"aligned spf temperror", "alice@example.com", "bounce@tmp.example.com", badIP, "", "", "temperror", filters.Accept},
		{"unaligned spf temperror", "alice@example.com", "bounce@example.biz", badIP, "", "", "fail", filters.Reject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := newMail(tt.from, tt.name+"@example.com")
			if tt.signDomain != "" {
				raw = sign(t, raw, tt.signDomain, tt.selector, rsaKey())
			}
			v := check(t, a, message(raw, tt.ip, "client.example.net", tt.mailFrom))
			domain := tt.from[strings.IndexByte(tt.from, '@')+1:]
			if got := arResults(t, v)["dmarc"]; len(got) != 1 || got[0] != tt.wantDMARC+" "+domain {
				t.Errorf("dmarc = %q, want %s %s", got, tt.wantDMARC, domain)
			}
			if v.Action != tt.wantAction {
				t.Errorf("Action = %v, want %v (%s)", v.Action, tt.wantAction, v.Reason)
			}
			if v.Action == filters.Reject && (v.Code != 550 || v.EnhancedCode != [3]int{5, 7, 1} || !strings.Contains(v.Reason, domain)) {
				t.Errorf("reject reply %d %v %q, want 550 5.7.1 naming %s", v.Code, v.EnhancedCode, v.Reason, domain)
			}
			var found bool
			for _, e := range v.Evidence {
				if e.Filter == "dmarc" {
					found = e.Result == tt.wantDMARC
				}
			}
			if !found {
				t.Errorf("no dmarc evidence %s in %+v", tt.wantDMARC, v.Evidence)
			}
		})
	}
}

func TestDMARCFromFields(t *testing.T) {
	a := newAuthenticator(t, Options{})
	body := "Subject: x\r\nMessage-ID: <x@example.com>\r\n\r\nbody\r\n"
	tests := []struct {
		name, header string
		wantDMARC    []string
		wantAction   filters.Action
	}{
		{"none", "", []string{"permerror "}, filters.Accept},
		{"two domains, worst wins", "From: a@example.net, b@example.com\r\n", []string{"fail example.net", "fail example.com"}, filters.Reject},
		{"two fields", "From: a@example.edu\r\nFrom: b@example.com\r\n", []string{"fail example.edu", "fail example.com"}, filters.Reject},
		{"same domain twice", "From: a@Example.com, b@example.COM\r\n", []string{"fail example.com"}, filters.Reject},
		{"unparseable", "From: Bank <<alice@example.com>>\r\n", []string{"fail example.com"}, filters.Reject},
		{"encoded name", "From: =?utf-8?q?Caf=C3=A9?= <alice@example.edu>\r\n", []string{"fail example.edu"}, filters.Junk},
		{"internationalized domain", "From: alice@b\u00fccher.example\r\n", []string{"fail xn--bcher-kva.example"}, filters.Reject},
		{"too many domains", "From: " + manyAuthors(11) + "\r\n", []string{"permerror "}, filters.Junk},
		{"ten domains", "From: " + manyAuthors(10) + "\r\n", []string{"none d0.example.info", "none d1.example.info", "none d2.example.info",
			"none d3.example.info", "none d4.example.info", "none d5.example.info", "none d6.example.info", "none d7.example.info",
			"none d8.example.info", "none d9.example.info"}, filters.Accept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.header + body
			v := check(t, a, message(raw, badIP, "client.example.net", "x@example.info"))
			if got := arResults(t, v)["dmarc"]; strings.Join(got, ",") != strings.Join(tt.wantDMARC, ",") {
				t.Errorf("dmarc = %q, want %q", got, tt.wantDMARC)
			}
			if v.Action != tt.wantAction {
				t.Errorf("Action = %v, want %v", v.Action, tt.wantAction)
			}
		})
	}
}

// manyAuthors returns an address list of n authors of distinct domains.
func manyAuthors(n int) string {
	var l []string
	for i := range n {
		l = append(l, fmt.Sprintf("a@d%d.example.info", i))
	}
	return strings.Join(l, ", ")
}

func TestSampled(t *testing.T) {
	n := 0
	for i := range 10000 {
		id := "<" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + "@example.com>"
		first := sampled(id, 30)
		if first {
			n++
		}
		if sampled(id, 30) != first {
			t.Fatal("not deterministic")
		}
		if !sampled(id, 100) || sampled(id, 0) {
			t.Fatal("pct 100 or 0 not honoured")
		}
	}
	if n < 2500 || n > 3500 {
		t.Errorf("%d of 10000 sampled at 30%%", n)
	}
}

func TestAuthenticatedClient(t *testing.T) {
	a := newAuthenticator(t, Options{RejectSPFFail: true})
	msg := message(newMail("alice@example.com", "auth@example.com"), badIP, "laptop", "alice@example.com")
	msg.Conn.AuthUser = "alice@example.com"
	v := check(t, a, msg)
	if v.Action != filters.Accept {
		t.Errorf("Action = %v, want accept", v.Action)
	}
	if got := arResults(t, v); len(got) != 1 || len(got["auth"]) != 1 || got["auth"][0] != "pass" {
		t.Errorf("results %v, want auth=pass only", got)
	}
	if v, err := a.CheckSender(context.Background(), msg.Conn, "alice@example.com"); err != nil || v.Action != filters.Accept {
		t.Errorf("CheckSender = %v, %v; want accept", v.Action, err)
	}
}

func TestHostnameFromConn(t *testing.T) {
	a := New(Options{Resolver: startDNS(t, testZones())})
	v, err := a.Check(context.Background(), message(newMail("alice@example.com", "h@example.com"), goodIP, "c.example.com", "alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err := authres.Parse(v.AddHeaders[0].Value); err != nil || id != "mx.yubin.test" {
		t.Errorf("authserv-id %q, %v; want the connection's host name", id, err)
	}
}

func TestCanceled(t *testing.T) {
	a := newAuthenticator(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Check(ctx, message(newMail("alice@example.com", "c@example.com"), goodIP, "c.example.com", "alice@example.com"))
	if err == nil {
		t.Error("Check with a canceled context succeeded")
	}
}

// TestChain runs the Authenticator in a filter chain, as the MTA does.
func TestChain(t *testing.T) {
	a := newAuthenticator(t, Options{})
	chain := filters.NewChain(nil, filters.Stage{Filter: a, Enabled: true})
	if a.Name() != "authn" {
		t.Errorf("Name = %q", a.Name())
	}
	ctx := context.Background()

	raw := "Authentication-Results: mx.yubin.test; dkim=pass header.d=example.com\r\n" +
		sign(t, newMail("alice@example.com", "chain@example.com"), "example.com", "ed", edKey())
	msg := message(raw, goodIP, "client.example.com", "alice@example.com")
	v := chain.Check(ctx, msg)
	if v.Action != filters.Accept || !v.RemovesHeader("authentication-results") || len(v.AddHeaders) != 1 {
		t.Fatalf("verdict %+v", v)
	}
	got := arResults(t, v)
	if got["spf"][0] != "pass" || got["dkim"][0] != "pass example.com" || got["dmarc"][0] != "pass example.com" {
		t.Errorf("results %v", got)
	}

	// A forged header does not help a failing message.
	raw = "Authentication-Results: mx.yubin.test; dmarc=pass header.from=example.com\r\n" + newMail("alice@example.com", "forged@example.com")
	v = chain.Check(ctx, message(raw, badIP, "client.example.net", "x@example.net"))
	if v.Action != filters.Reject || v.Code != 550 || v.EnhancedCode != [3]int{5, 7, 1} {
		t.Errorf("verdict %v %d %v, want reject 550 5.7.1", v.Action, v.Code, v.EnhancedCode)
	}

	// At MAIL FROM the chain consults the Authenticator too.
	a2 := newAuthenticator(t, Options{RejectSPFFail: true})
	chain = filters.NewChain(nil, filters.Stage{Filter: a2, Enabled: true})
	if v := chain.CheckSender(ctx, msg.Conn, "alice@example.com"); v.Action != filters.Accept {
		t.Errorf("CheckSender(pass) = %v", v.Action)
	}
	msg = message(raw, badIP, "client.example.net", "x@example.com")
	if v := chain.CheckSender(ctx, msg.Conn, "x@example.com"); v.Action != filters.Reject || v.EnhancedCode != [3]int{5, 7, 23} {
		t.Errorf("CheckSender(fail) = %v %v, want reject 5.7.23", v.Action, v.EnhancedCode)
	}
}
