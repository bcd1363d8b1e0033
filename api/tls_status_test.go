package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/yubinmail/yubin/api"
)

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
