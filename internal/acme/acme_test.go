package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// acmeListeners are the HTTP and HTTPS listeners of a test, serving the
// Manager's challenges and certificates.
type acmeListeners struct {
	http, https net.Listener
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serve serves m's HTTP-01 answers on l.http and TLS with m's certificates
// (and the TLS-ALPN-01 protocol) on l.https.
func (l acmeListeners) serve(t *testing.T, m *Manager) {
	notFound := http.NotFoundHandler()
	quiet := log.New(io.Discard, "", 0)
	hs := &http.Server{Handler: m.HTTPHandler(notFound), ErrorLog: quiet}
	go hs.Serve(l.http)
	ts := &http.Server{Handler: notFound, ErrorLog: quiet, TLSConfig: &tls.Config{GetCertificate: m.GetCertificate, NextProtos: []string{"http/1.1", ALPNProtocol}}}
	go ts.ServeTLS(l.https, "", "")
	t.Cleanup(func() { hs.Close(); ts.Close() })
}

// manage makes a Manager of o, serves it on l and has it manage host.
func (l acmeListeners) manage(t *testing.T, o Options, host string) *Manager {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	l.serve(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := m.Manage(ctx, []string{host}); err != nil {
		t.Fatal(err)
	}
	return m
}

// servedCertificate returns the certificate the listener serves for name
// when it verifies against roots, else nil and the reason.
func servedCertificate(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitCertificate waits until addr serves a certificate for name that
// chains to roots and satisfies ok.
func waitCertificate(t *testing.T, addr, name string, roots *x509.CertPool, ok func(*x509.Certificate) bool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		cert, err := servedCertificate(addr, name, roots)
		if err == nil && ok(cert) {
			return cert
		}
		if err == nil {
			err = errors.New("not the certificate waited for yet")
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never served a certificate for %s from pebble: %v", addr, name, last)
	return nil
}

// TestPebbleChallenges gets a certificate from pebble (the ACME test
// server) once with each challenge: HTTP-01 answered on our HTTP listener
// and TLS-ALPN-01 on our HTTPS listener, validated for real over loopback.
// The certificate is stored in the storage folder and served by
// GetCertificate; the status names it.
func TestPebbleChallenges(t *testing.T) {
	for _, tc := range []struct {
		name            string
		useHTTP, useTLS bool
	}{
		{"http-01", true, false},
		{"tls-alpn-01", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := acmeListeners{http: listen(t), https: listen(t)}
			host := tc.name + ".yubin.test"
			p := testpeer.StartPebble(t, l.http.Addr().(*net.TCPAddr).Port, l.https.Addr().(*net.TCPAddr).Port, []string{host}, 0)
			storage := t.TempDir()
			o := Options{Directory: p.Directory, CAFile: p.CAFile, Email: "postmaster@yubin.test", StorageDir: storage, Hostname: host, Logger: slog.New(slog.DiscardHandler)}
			if tc.useHTTP {
				o.HTTPAddr = l.http.Addr().String()
			}
			if tc.useTLS {
				o.HTTPSAddr = l.https.Addr().String()
			}
			m := l.manage(t, o, host)
			cert := waitCertificate(t, l.https.Addr().String(), host, p.Roots, func(*x509.Certificate) bool { return true })
			if len(cert.DNSNames) != 1 || cert.DNSNames[0] != host {
				t.Fatalf("certificate names %v, want [%s]", cert.DNSNames, host)
			}
			// Without SNI the host name's certificate is served.
			if c := m.current(host); c == nil {
				t.Fatal("no current certificate")
			}
			noSNI, err := m.GetCertificate(&tls.ClientHelloInfo{})
			if err != nil || noSNI == nil || noSNI.Leaf == nil || noSNI.Leaf.SerialNumber.Cmp(cert.SerialNumber) != 0 {
				t.Fatalf("certificate without SNI: %v %v", noSNI, err)
			}
			st := m.Status()
			if len(st) != 1 || st[0].Name != host || st[0].Certificate == nil || !st[0].Certificate.NotAfter.Equal(cert.NotAfter) {
				t.Fatalf("status %+v", st)
			}
			var found bool
			filepath.WalkDir(storage, func(path string, d os.DirEntry, err error) error {
				found = found || (err == nil && strings.HasSuffix(path, host+".crt"))
				return nil
			})
			if !found {
				t.Fatalf("no %s.crt under the storage folder %s", host, storage)
			}
			// A name no longer listed is let go: not served any more.
			if err := m.Manage(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			if c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: host}); c != nil || err != nil || len(m.Status()) != 0 {
				t.Fatalf("after letting go: %v %v %v", c, err, m.Status())
			}
		})
	}
}

// TestPebbleRenewal: certificates valid for 30 seconds are renewed in the
// background, and the same listener serves the new one without restart.
func TestPebbleRenewal(t *testing.T) {
	l := acmeListeners{http: listen(t), https: listen(t)}
	host := "renew.yubin.test"
	p := testpeer.StartPebble(t, l.http.Addr().(*net.TCPAddr).Port, l.https.Addr().(*net.TCPAddr).Port, []string{host}, 30*time.Second)
	l.manage(t, Options{
		Directory: p.Directory, CAFile: p.CAFile, StorageDir: t.TempDir(), Hostname: host,
		HTTPAddr: l.http.Addr().String(), HTTPSAddr: l.https.Addr().String(),
		RenewCheckInterval: time.Second, Logger: slog.New(slog.DiscardHandler),
	}, host)
	first := waitCertificate(t, l.https.Addr().String(), host, p.Roots, func(*x509.Certificate) bool { return true })
	waitCertificate(t, l.https.Addr().String(), host, p.Roots, func(c *x509.Certificate) bool {
		return c.SerialNumber.Cmp(first.SerialNumber) != 0 && c.NotAfter.After(first.NotAfter)
	})
}
