package testpeer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"
)

// Pebble is a running pebble, Let's Encrypt's ACME test server (Debian
// package pebble), on loopback.
type Pebble struct {
	// Directory is its ACME directory URL.
	Directory string
	// CAFile is a PEM file trusted for Directory (the CA of pebble's own
	// HTTPS listener, made by the test): what YUBIN_ACME_CA names.
	CAFile string
	// Roots trusts the certificates pebble issues (its issuing root, read
	// from its management interface).
	Roots *x509.CertPool

	mgmt   string
	client *http.Client
}

// StartPebble starts pebble with its own configuration: it validates
// HTTP-01 challenges on httpPort and TLS-ALPN-01 on tlsPort of 127.0.0.1,
// where every name in names resolves (through a DNS server of the test on
// loopback). Validation is real; only its random delay is turned off
// (PEBBLE_VA_NOSLEEP). The certificates are valid for validity (0 =
// pebble's default, 5 years). The test ends through Missing when pebble is not
// installed.
func StartPebble(t *testing.T, httpPort, tlsPort int, names []string, validity time.Duration) *Pebble {
	t.Helper()
	bin := Need(t, "/usr/bin/pebble", "pebble")
	dir := t.TempDir()

	zones := map[string]mockdns.Zone{}
	for _, n := range names {
		zones[strings.TrimSuffix(n, ".")+"."] = mockdns.Zone{A: []string{"127.0.0.1"}}
	}
	dns, err := mockdns.NewServerWithLogger(zones, nopLogger{}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })

	tc := NewTestCert(t, "localhost", "127.0.0.1")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", tc.CAPEM)
	acmeAddr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	mgmtAddr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  acmeAddr,
		"managementListenAddress":        mgmtAddr,
		"certificate":                    write("cert.pem", tc.CertPEM),
		"privateKey":                     write("key.pem", tc.KeyPEM),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"certificateValidityPeriod":      uint64(validity / time.Second),
	}})
	confFile := write("pebble-config.json", conf)
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	Start(t, "tcp", acmeAddr, nil, bin, "-config", confFile, "-dnsserver", dns.LocalAddr().String())

	p := &Pebble{
		Directory: "https://" + acmeAddr + "/dir",
		CAFile:    caFile,
		mgmt:      "https://" + mgmtAddr,
		client:    &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.Roots}}, Timeout: 30 * time.Second},
	}
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(p.get(t, "/roots/0")) {
		t.Fatal("pebble's /roots/0 holds no certificate")
	}
	return p
}

// get returns the body of a GET on pebble's management interface.
func (p *Pebble) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + path)
	if err != nil {
		t.Fatalf("pebble %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// TestCert is a certificate for test servers, signed by a CA of its own.
type TestCert struct {
	// Roots trusts the CA; CAPEM is its certificate.
	Roots *x509.CertPool
	CAPEM []byte
	// Cert is the server certificate with its key, also PEM encoded.
	Cert            tls.Certificate
	CertPEM, KeyPEM []byte
}

// NewTestCert makes a CA and a server certificate it signs for names
// (host names or IP addresses), valid for a day.
func NewTestCert(t testing.TB, names ...string) TestCert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "yubin test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	tc := TestCert{
		Roots:   x509.NewCertPool(),
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	tc.Roots.AddCert(ca)
	return tc
}

// nopLogger silences the DNS server.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
