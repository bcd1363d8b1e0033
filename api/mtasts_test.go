package api

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core/mtasts"
	"github.com/yubinmail/yubin/internal/tlsrpt"
)

// TestMTASTSPolicyServed: issue 18 item 2. The policy of a hosted domain
// is served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt (here over
// a loopback socket, with the Host header of the policy host) with the
// domain's mode and our host name as MX, and parses as a policy whose id
// is the one of the TXT record the DNS page lists.
func TestMTASTSPolicyServed(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Clients.MTASTSMode = func(d string) string {
			if d == "enforced.test" {
				return "enforce"
			}
			return "testing"
		}
	})
	e.addDomain("example.org")
	e.addDomain("enforced.test")
	get := func(host string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.srv.URL+mtasts.WellKnownPath, nil)
		req.Host = host
		return e.send(req)
	}
	for domain, mode := range map[string]string{"example.org": "testing", "enforced.test": "enforce"} {
		resp, body := get("mta-sts." + domain + ":443")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s: %d %q", domain, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		p, err := mtasts.Parse(body)
		if err != nil || p.Mode != mode || !p.Matches(testHostname) || len(p.MX) != 1 {
			t.Fatalf("%s: policy %q: %+v %v", domain, body, p, err)
		}
		var dns struct{ Records []DNSRecord }
		e.must(200, "GET", "/api/v1/domains/"+domain+"/dns", e.admin, nil, &dns)
		var txt string
		for _, r := range dns.Records {
			if r.Name == "_mta-sts."+domain {
				txt = r.Value
			}
		}
		if id, _, err := mtasts.ParseRecord(txt); err != nil || id != p.ID() {
			t.Errorf("%s: TXT record %q, served policy id %s", domain, txt, p.ID())
		}
	}
	for _, host := range []string{"mta-sts.unknown.test", "example.org", "www.example.org"} {
		if resp, _ := get(host); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", host, resp.StatusCode)
		}
	}
}

// reportFor is the RFC 8460 example report, about domain.
func reportFor(domain string) string {
	return `{"organization-name":"Company-X","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},` +
		`"contact-info":"sts-reporting@company-x.example","report-id":"5065427c-23d3-47ca-b6e0-946ea0e8c4be",` +
		`"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mail.example.net","max_age: 86400"],` +
		`"policy-domain":"` + domain + `","mx-host":["mail.example.net"]},"summary":{"total-successful-session-count":5326,"total-failure-session-count":303}}]}`
}

// TestTLSReportsReceived: reports about our domains posted (JSON or gzip)
// to the address of the "_smtp._tls" record are kept and listed for
// server admins; others are refused.
func TestTLSReportsReceived(t *testing.T) {
	store, err := tlsrpt.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.TLSReports = store })
	e.addDomain("example.org")
	post := func(ctype string, body []byte) int {
		req, _ := http.NewRequest("POST", e.srv.URL+tlsReportsPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, _ := e.send(req)
		return resp.StatusCode
	}
	if code := post(tlsrpt.MediaJSON, []byte(reportFor("example.org"))); code != 201 {
		t.Fatalf("JSON report: %d", code)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(reportFor("Example.ORG")))
	zw.Close()
	if code := post(tlsrpt.MediaGzip, gz.Bytes()); code != 201 {
		t.Fatalf("gzip report: %d", code)
	}
	for name, tc := range map[string]struct {
		ctype string
		body  string
		want  int
	}{
		"other domain": {tlsrpt.MediaJSON, reportFor("elsewhere.test"), 404},
		"not a report": {tlsrpt.MediaJSON, `{"hello":1}`, 400},
		"media type":   {"application/json", reportFor("example.org"), 415},
		"too large":    {tlsrpt.MediaJSON, strings.Repeat(" ", tlsrpt.MaxBodyBytes+1), 413},
	} {
		if code := post(tc.ctype, []byte(tc.body)); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	var list struct {
		Reports []tlsReportSummary `json:"reports"`
	}
	e.must(200, "GET", "/api/v1/tls-reports", e.admin, nil, &list)
	if len(list.Reports) != 2 || list.Reports[0].Failed != 303 || list.Reports[0].Organization != "Company-X" ||
		strings.Join(list.Reports[1].Domains, ",") != "example.org" {
		t.Fatalf("listed %+v", list.Reports)
	}
	e.addUser("ann@example.org", "ann-password-1")
	e.must(403, "GET", "/api/v1/tls-reports", e.login("ann@example.org", "ann-password-1"), nil, nil)
}
