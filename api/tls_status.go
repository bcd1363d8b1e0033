package api

import (
	"time"

	"github.com/gin-gonic/gin"
)

// TLSStatus is what GET /api/v1/tls/certificates answers: where the
// listeners' certificates come from and each one's names and expiry.
type TLSStatus struct {
	// Mode is "acme" (YUBIN_ACME=on), "files" (YUBIN_TLS_CERT) or
	// "self-signed".
	Mode string `json:"mode"`
	// Directory is the ACME directory URL (mode "acme" only).
	Directory string `json:"directory,omitempty"`
	// Certificates are the certificates served (mode "acme": one entry per
	// managed name, the self-signed fallback last).
	Certificates []TLSCertificate `json:"certificates"`
}

// TLSCertificate describes one certificate, or a name still waiting for
// its certificate.
type TLSCertificate struct {
	// Name is the name it is served for.
	Name string `json:"name"`
	// Source is "acme", "files" or "self-signed".
	Source string `json:"source"`
	// Status is "valid", "pending" (no certificate yet), "expiring" (less
	// than 14 days left) or "expired".
	Status string `json:"status"`
	// Names are the DNS names (and IP addresses) it covers.
	Names []string `json:"names"`
	// Issuer is the issuing CA's name.
	Issuer    string     `json:"issuer,omitempty"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	// Error is the last failure to get it from the ACME CA.
	Error string `json:"error,omitempty"`
}

// expiringWithin is when a certificate shows as expiring.
const expiringWithin = 14 * 24 * time.Hour

// CertificateStatus returns "valid", "expiring", "expired" or "pending"
// (no notAfter) for a certificate at now.
func CertificateStatus(notAfter *time.Time, now time.Time) string {
	switch {
	case notAfter == nil:
		return "pending"
	case !now.Before(*notAfter):
		return "expired"
	case now.Add(expiringWithin).After(*notAfter):
		return "expiring"
	}
	return "valid"
}

// tlsCertificates handles GET /api/v1/tls/certificates (server admins).
func (a *API) tlsCertificates(c *gin.Context) {
	if !actorOf(c).IsAdmin() {
		abortProblem(c, kindForbidden, "only server admins see the TLS certificates")
		return
	}
	if a.opts.TLSStatus == nil {
		abortProblem(c, kindUnavailable, "the TLS status is not available")
		return
	}
	st := a.opts.TLSStatus()
	if st.Certificates == nil {
		st.Certificates = []TLSCertificate{}
	}
	c.JSON(200, st)
}
