package api_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/internal/tlsrpt"
)

// walkTLSReports is the spec walk's store of TLS reports.
func walkTLSReports(t *testing.T, dir string) *tlsrpt.Store {
	s, err := tlsrpt.Open(filepath.Join(dir, "tls-reports"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// walkReport is a TLS report (RFC 8460) about domain.
func walkReport(domain string) []byte {
	return []byte(`{"organization-name":"Company-X","date-range":{"start-datetime":"2026-04-01T00:00:00Z","end-datetime":"2026-04-01T23:59:59Z"},` +
		`"report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-domain":"` + domain + `","mx-host":["mail.example.net"]},` +
		`"summary":{"total-successful-session-count":10,"total-failure-session-count":1}}]}`)
}

// walkTLSStatus is the TLS status the spec walk's server reports: an ACME
// certificate, a name still pending and the self-signed fallback.
func walkTLSStatus() api.TLSStatus {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.AddDate(0, 3, 0)
	return api.TLSStatus{Mode: "acme", Directory: "https://acme.example.net/dir", Certificates: []api.TLSCertificate{
		{Name: walkHostname, Source: "acme", Status: "valid", Names: []string{walkHostname}, Issuer: "Test CA", NotBefore: &nb, NotAfter: &na},
		{Name: "mta-sts.example.com", Source: "acme", Status: "pending", Names: []string{}, Error: "no DNS record"},
	}}
}

// walkTLS walks GET /api/v1/tls/certificates. adm is a server admin, ann
// the domain admin of example.com, bob a user of example.com.
func (w *specWalker) walkTLS(adm, ann, bob string) {
	t := w.t
	t.Helper()
	st := w.json(http.StatusOK, "GET", "/api/v1/tls/certificates", adm, nil)
	if st["mode"] != "acme" || len(st["certificates"].([]any)) != 2 {
		t.Errorf("TLS status: %v", st)
	}
	w.json(http.StatusForbidden, "GET", "/api/v1/tls/certificates", ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/tls/certificates", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/tls/certificates", "", nil)

	// MTA-STS policy of example.com, served on its policy host.
	_, b := w.send(http.StatusOK, walkReq{method: "GET", target: "/.well-known/mta-sts.txt", header: map[string]string{"Host": "mta-sts.example.com"}})
	if !strings.Contains(string(b), "mx: "+walkHostname) {
		t.Errorf("policy %q", b)
	}
	w.send(http.StatusNotFound, walkReq{method: "GET", target: "/.well-known/mta-sts.txt", header: map[string]string{"Host": "mta-sts.unknown.example"}})

	// TLS reports.
	w.send(http.StatusCreated, walkReq{method: "POST", target: "/api/v1/tls-reports", ctype: tlsrpt.MediaJSON, body: walkReport("example.com")})
	w.send(http.StatusNotFound, walkReq{method: "POST", target: "/api/v1/tls-reports", ctype: tlsrpt.MediaJSON, body: walkReport("unknown.example")})
	w.send(http.StatusBadRequest, walkReq{method: "POST", target: "/api/v1/tls-reports", ctype: tlsrpt.MediaJSON, body: []byte(`{}`)})
	w.send(http.StatusUnsupportedMediaType, walkReq{method: "POST", target: "/api/v1/tls-reports", ctype: "text/plain", body: []byte(`{}`)})
	w.send(http.StatusRequestEntityTooLarge, walkReq{method: "POST", target: "/api/v1/tls-reports", ctype: tlsrpt.MediaJSON, body: []byte(strings.Repeat(" ", tlsrpt.MaxBodyBytes+1))})
	if l := w.json(http.StatusOK, "GET", "/api/v1/tls-reports", adm, nil); len(l["reports"].([]any)) != 1 {
		t.Errorf("reports %v", l)
	}
	w.json(http.StatusForbidden, "GET", "/api/v1/tls-reports", ann, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/tls-reports", "", nil)
}

// TestCertificateStatus: the status a certificate shows by its expiry.
func TestCertificateStatus(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tc := range []struct {
		notAfter *time.Time
		want     string
	}{
		{nil, "pending"},
		{at(-time.Second), "expired"},
		{at(0), "expired"},
		{at(24 * time.Hour), "expiring"},
		{at(15 * 24 * time.Hour), "valid"},
	} {
		if got := api.CertificateStatus(tc.notAfter, now); got != tc.want {
			t.Errorf("CertificateStatus(%v) = %s, want %s", tc.notAfter, got, tc.want)
		}
	}
}
