package webadmin_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/internal/tlsrpt"
)

// testTLSReports holds one TLS report (RFC 8460), as received.
func testTLSReports(t *testing.T, dir string) *tlsrpt.Store {
	s, err := tlsrpt.Open(filepath.Join(dir, "tls-reports"))
	if err != nil {
		t.Fatal(err)
	}
	report := `{"organization-name":"Company-X","date-range":{"start-datetime":"2026-04-01T00:00:00Z","end-datetime":"2026-04-01T23:59:59Z"},` +
		`"report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},` +
		`"summary":{"total-successful-session-count":5326,"total-failure-session-count":303}}]}`
	if _, err := s.Add([]byte(report), "192.0.2.1", time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return s
}

// testTLSStatus is what the test server reports of its certificates: one
// from ACME, a name waiting for its own, the self-signed fallback.
func testTLSStatus() api.TLSStatus {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.AddDate(0, 3, 0)
	sa := nb.AddDate(5, 0, 0)
	return api.TLSStatus{Mode: "acme", Directory: "https://acme.example.net/dir", Certificates: []api.TLSCertificate{
		{Name: "mail.example.net", Source: "acme", Status: "valid", Names: []string{"mail.example.net"}, Issuer: "Test CA", NotBefore: &nb, NotAfter: &na},
		{Name: "mta-sts.example.com", Source: "acme", Status: "pending", Names: []string{}, Error: "DNS problem: NXDOMAIN looking up A for mta-sts.example.com"},
		{Name: "mail.example.net", Source: "self-signed", Status: "valid", Names: []string{"mail.example.net", "localhost"}, Issuer: "mail.example.net", NotBefore: &nb, NotAfter: &sa},
	}}
}

// browseCertificates: the server admin's certificates page lists each
// certificate with its state, names and expiry, and an ACME failure.
func (b *browser) browseCertificates() {
	b.t.Helper()
	b.click(`#nav a[data-route=certificates]`)
	b.heading("Certificates")
	b.wait("the certificates", `document.querySelectorAll("table.certs-table tbody tr").length === 3 && `+
		`[...document.querySelectorAll(".cert-expiry")].length === 2 && `+
		`document.querySelector("[data-status=pending]").textContent === "Waiting" && `+
		`document.querySelector(".cert-error").textContent.includes("NXDOMAIN")`)
	b.checkLayout("table.certs-table td")
	b.wait("the TLS report", `document.querySelector("table.tlsrpt-table .tlsrpt-failed").textContent === "5326 with TLS, 303 failed"`)
	b.checkLayout("table.tlsrpt-table td")
	b.shot("certificates")
}
