package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"time"

	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/internal/acme"
	"github.com/yubinmail/yubin/internal/tlsutil"
)

// acmeDomainPoll is how often the domain list is read for names that need
// a certificate: a domain added while the server runs gets its
// certificates within this time, without a restart.
const acmeDomainPoll = 15 * time.Second

// acmeNames returns the names that get certificates: the host name and
// the autoconfig and MTA-STS (RFC 8461 §3.3) names of every domain.
func acmeNames(hostname string, domains []string) []string {
	names := []string{hostname}
	for _, d := range domains {
		names = append(names, "autoconfig."+d, "mta-sts."+d)
	}
	return names
}

// acmeCerts are the ACME certificates and the self-signed certificate
// served until they arrive.
type acmeCerts struct {
	*acme.Manager
	fallback tlsutil.CertificateSource
}

// startACME makes w.acme when YUBIN_ACME=on: every listener's TLS
// configuration gets its certificates from it (the self-signed one until
// the first arrives), and it is given the host name and the domains'
// names now and whenever a domain is added. It must run after the
// listeners are bound and before the servers start.
func (w *wiring) startACME() error {
	if !w.cfg.ACME {
		return nil
	}
	addr := func(name string) string {
		if b, ok := w.bound[name]; ok && b.ln != nil {
			return b.ln.Addr().String()
		}
		return ""
	}
	m, err := acme.New(acme.Options{
		Directory:  w.cfg.ACMEDirectory,
		Email:      w.cfg.ACMEEmail,
		CAFile:     w.cfg.ACMECA,
		StorageDir: filepath.Join(w.cfg.DataDir, "tls", "acme"),
		Hostname:   w.cfg.Hostname,
		HTTPAddr:   addr("http"),
		HTTPSAddr:  addr("https"),
		Logger:     w.log,
	})
	if err != nil {
		return fmt.Errorf("ACME: %w", err)
	}
	// Every listener shares w.tlsConf: the self-signed certificate
	// serves only while m has no certificate for the name.
	w.acme = &acmeCerts{Manager: m, fallback: tlsutil.Prefer(w.tlsConf, m.GetCertificate)}
	w.log.Info("ACME: certificates come from the CA; the self-signed certificate serves until they arrive", "directory", w.cfg.ACMEDirectory)

	w.sup.background("acme", func(bctx context.Context) {
		defer m.Stop()
		for {
			// Manage skips the names it has already.
			if ds, err := w.store.ListDomains(bctx); err != nil {
				w.log.Warn("ACME: cannot list the domains", "err", err)
			} else {
				names := make([]string, 0, len(ds))
				for _, d := range ds {
					names = append(names, d.Name)
				}
				if err := m.Manage(bctx, acmeNames(w.cfg.Hostname, names)); err != nil {
					w.log.Warn("ACME: cannot manage the certificates", "err", err)
				}
			}
			select {
			case <-bctx.Done():
				return
			case <-time.After(acmeDomainPoll):
			}
		}
	})
	return nil
}

// acmeHTTPS adds the TLS-ALPN-01 protocol to the HTTPS listener's TLS
// configuration when ACME is on.
func (w *wiring) acmeHTTPS(c *tls.Config) {
	if w.acme != nil {
		c.NextProtos = append(c.NextProtos, "h2", "http/1.1", acme.ALPNProtocol)
	}
}

// tlsStatus describes the listeners' certificates for the dashboard.
func (w *wiring) tlsStatus() api.TLSStatus {
	now := time.Now()
	entry := func(name, source string, c *acme.Certificate, errText string) api.TLSCertificate {
		e := api.TLSCertificate{Name: name, Source: source, Error: errText, Names: []string{}}
		if c != nil {
			nb, na := c.NotBefore, c.NotAfter
			e.Names, e.Issuer, e.NotBefore, e.NotAfter = c.Names, c.Issuer, &nb, &na
		}
		e.Status = api.CertificateStatus(e.NotAfter, now)
		return e
	}
	st := api.TLSStatus{Mode: "self-signed"}
	switch {
	case w.acme != nil:
		st.Mode, st.Directory = "acme", w.cfg.ACMEDirectory
		for _, s := range w.acme.Status() {
			st.Certificates = append(st.Certificates, entry(s.Name, "acme", s.Certificate, s.Error))
		}
	case w.cfg.TLSCert != "":
		st.Mode = "files"
	}
	// The certificate of the files, or the self-signed one (with ACME: the
	// fallback until the CA's arrive).
	source := st.Mode
	if source == "acme" {
		source = "self-signed"
	}
	var leaf *tls.Certificate
	switch {
	case w.acme != nil:
		leaf, _ = w.acme.fallback(&tls.ClientHelloInfo{ServerName: w.cfg.Hostname})
	case w.tlsConf.GetCertificate != nil:
		leaf, _ = w.tlsConf.GetCertificate(&tls.ClientHelloInfo{ServerName: w.cfg.Hostname})
	case len(w.tlsConf.Certificates) > 0:
		leaf = &w.tlsConf.Certificates[0]
	}
	if leaf != nil && leaf.Leaf != nil {
		st.Certificates = append(st.Certificates, entry(w.cfg.Hostname, source, acme.Describe(leaf.Leaf), ""))
	}
	return st
}
