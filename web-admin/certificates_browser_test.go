package webadmin_test

import (
	"time"

	"github.com/yubinmail/yubin/api"
)

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
	b.checkLayout("table.certs-table")
	b.shot("certificates")
}
