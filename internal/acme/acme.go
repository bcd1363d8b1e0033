// Package acme gets and renews the server's TLS certificates from an ACME
// certificate authority (RFC 8555), such as Let's Encrypt, with
// github.com/caddyserver/certmagic.
//
// A Manager answers the CA's challenges on the server's own listeners:
// HTTP-01 (RFC 8555 §8.3) through HTTPHandler on the plain HTTP listener
// and TLS-ALPN-01 (RFC 8737) through GetCertificate on the HTTPS listener,
// whose TLS configuration must offer the "acme-tls/1" protocol
// (ALPNProtocol). Certificates and the account key are kept in a folder of
// the data directory; certmagic renews them in the background, and every
// listener whose tls.Config uses GetCertificate serves the renewed
// certificate at its next handshake, without a restart.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
)

// ALPNProtocol is the TLS application protocol of TLS-ALPN-01 challenges
// (RFC 8737 §6.2): the HTTPS listener must list it in NextProtos.
const ALPNProtocol = acmez.ACMETLS1Protocol

// LetsEncrypt is the directory of Let's Encrypt's production CA, the
// default.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// Options configure a Manager.
type Options struct {
	// Directory is the ACME directory URL of the CA.
	Directory string
	// Email is the contact address of the ACME account ("" = none).
	Email string
	// CAFile, if set, is a PEM file of root certificates trusted for the
	// connections to the ACME directory, instead of the system's (a
	// private or test CA). It does not change what the listeners trust.
	CAFile string
	// StorageDir holds the account, the keys and the certificates.
	StorageDir string
	// Hostname is the server's name: the certificate served to clients
	// that send no server name (SNI).
	Hostname string
	// HTTPAddr and HTTPSAddr are the addresses the HTTP and HTTPS
	// listeners are bound to ("" = off): the HTTP-01 challenge needs the
	// first, TLS-ALPN-01 the second; at least one is needed.
	HTTPAddr, HTTPSAddr string
	// Logger gets what happens to the certificates.
	Logger *slog.Logger
	// RenewCheckInterval is how often the certificates are checked for
	// renewal (0 = every 10 minutes; tests shorten it).
	RenewCheckInterval time.Duration
}

// Manager gets and renews the certificates of a set of names.
type Manager struct {
	log      *slog.Logger
	hostname string
	cache    *certmagic.Cache
	magic    *certmagic.Config
	issuer   *certmagic.ACMEIssuer

	mu      sync.Mutex
	managed map[string]context.CancelFunc // names handed to certmagic; ends their attempts
	failed  map[string]string
}

// New returns a Manager; Manage starts getting certificates.
func New(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Directory == "" {
		o.Directory = LetsEncrypt
	}
	if o.StorageDir == "" {
		return nil, errors.New("acme: no storage folder")
	}
	if o.HTTPAddr == "" && o.HTTPSAddr == "" {
		return nil, errors.New("acme: the HTTP-01 challenge needs the HTTP listener and TLS-ALPN-01 the HTTPS listener; both are off")
	}
	if err := os.MkdirAll(o.StorageDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: create %s: %w", o.StorageDir, err)
	}
	m := &Manager{
		log:      o.Logger,
		hostname: strings.ToLower(strings.TrimSuffix(o.Hostname, ".")),
		managed:  map[string]context.CancelFunc{},
		failed:   map[string]string{},
	}
	nop := zap.NewNop()
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:             nop,
		RenewCheckInterval: o.RenewCheckInterval,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:           &certmagic.FileStorage{Path: o.StorageDir},
		DefaultServerName: m.hostname,
		Logger:            nop,
		OnEvent:           m.onEvent,
	})
	tmpl := certmagic.ACMEIssuer{
		CA:     o.Directory,
		Email:  o.Email,
		Agreed: true,
		Logger: nop,
		// Challenges are answered by our own listeners only: certmagic
		// never binds a socket of its own (see solverAddr).
		DisableHTTPChallenge:    o.HTTPAddr == "",
		DisableTLSALPNChallenge: o.HTTPSAddr == "",
	}
	var err error
	if o.HTTPAddr != "" {
		if tmpl.ListenHost, tmpl.AltHTTPPort, err = solverAddr(o.HTTPAddr); err != nil {
			return nil, fmt.Errorf("acme: HTTP listener: %w", err)
		}
	}
	if o.HTTPSAddr != "" {
		var host string
		if host, tmpl.AltTLSALPNPort, err = solverAddr(o.HTTPSAddr); err != nil {
			return nil, fmt.Errorf("acme: HTTPS listener: %w", err)
		}
		if o.HTTPAddr == "" {
			tmpl.ListenHost = host
		}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("acme: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme: CA file %s holds no PEM certificate", o.CAFile)
		}
		tmpl.TrustedRoots = pool
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// solverAddr returns the host and port of a bound listener address, as
// certmagic's solvers would listen on them: finding the address in use,
// they leave the challenge to our listener.
func solverAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 {
		return "", 0, fmt.Errorf("%q: want a bound address with its port", addr)
	}
	return host, p, nil
}

// onEvent logs certmagic's certificate events.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		renewal, _ := data["renewal"].(bool)
		m.mu.Lock()
		delete(m.failed, name)
		m.mu.Unlock()
		m.log.Info("ACME: certificate obtained", "name", name, "renewal", renewal)
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := fmt.Sprint(err)
		m.mu.Lock()
		m.failed[name] = msg
		m.mu.Unlock()
		m.log.Warn("ACME: getting a certificate failed; retrying later", "name", name, "err", msg)
	}
	return nil
}

// Manage makes names the managed names: certificates are got and renewed
// for those not managed yet (one certificate per name, so that a name
// whose DNS does not point here does not hold back the others), and names
// no longer listed are let go (their attempts end, their certificates are
// not served or renewed any more; the files stay). It returns at once;
// the certificates arrive in the background, until ctx ends.
func (m *Manager) Manage(ctx context.Context, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n != "" && strings.Contains(n, ".") && net.ParseIP(n) == nil {
			want[n] = true
		}
	}
	var fresh []string
	var gone []certmagic.SubjectIssuer
	m.mu.Lock()
	for n, cancel := range m.managed {
		if !want[n] {
			cancel()
			delete(m.managed, n)
			delete(m.failed, n)
			gone = append(gone, certmagic.SubjectIssuer{Subject: n})
		}
	}
	for n := range want {
		if m.managed[n] == nil {
			fresh = append(fresh, n)
		}
	}
	sort.Strings(fresh)
	starts := make(map[string]context.Context, len(fresh))
	for _, n := range fresh {
		var cancel context.CancelFunc
		starts[n], cancel = context.WithCancel(ctx)
		m.managed[n] = cancel
	}
	m.mu.Unlock()
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
		m.log.Info("ACME: names no longer managed", "names", len(gone))
	}
	if len(fresh) == 0 {
		return nil
	}
	m.log.Info("ACME: managing certificates", "names", strings.Join(fresh, " "))
	for _, n := range fresh {
		if err := m.magic.ManageAsync(starts[n], []string{n}); err != nil {
			return fmt.Errorf("acme: manage %s: %w", n, err)
		}
	}
	return nil
}

// Stop ends the background renewals.
func (m *Manager) Stop() { m.cache.Stop() }

// HTTPHandler answers HTTP-01 challenges (/.well-known/acme-challenge/)
// and passes every other request to next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(next)
}

// GetCertificate implements tls.Config.GetCertificate: the TLS-ALPN-01
// challenge certificate when the CA validates, else the certificate
// obtained for the name the client asked for, or the host name's when it
// sent none or one we have no certificate for. Before the first
// certificate arrives it returns nil, and crypto/tls serves the
// configuration's Certificates (the self-signed one).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ALPNProtocol {
		return m.magic.GetCertificate(hello)
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if c := m.current(name); c != nil {
		return c, nil
	}
	if name == "localhost" || net.ParseIP(name) != nil {
		return nil, nil // the self-signed certificate covers those
	}
	return m.current(m.hostname), nil
}

// current returns a valid cached certificate for name, or nil.
func (m *Manager) current(name string) *tls.Certificate {
	if name == "" {
		return nil
	}
	now := time.Now()
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && now.Before(c.Leaf.NotAfter) && !now.Before(c.Leaf.NotBefore) {
			tc := c.Certificate
			return &tc
		}
	}
	return nil
}

// Certificate describes one certificate for the dashboard.
type Certificate struct {
	// Names are the DNS names it covers.
	Names []string
	// Issuer is the issuing CA's name.
	Issuer string
	// NotBefore and NotAfter bound its validity.
	NotBefore, NotAfter time.Time
}

// Status describes a managed name.
type Status struct {
	// Name is the managed DNS name.
	Name string
	// Certificate is its current certificate, nil until the first one.
	Certificate *Certificate
	// Error is the last failure to get one ("" after a success).
	Error string
}

// Status returns the managed names, sorted, with their certificates.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	names := make([]string, 0, len(m.managed))
	for n := range m.managed {
		names = append(names, n)
	}
	failed := make(map[string]string, len(m.failed))
	for k, v := range m.failed {
		failed[k] = v
	}
	m.mu.Unlock()
	sort.Strings(names)
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s := Status{Name: n, Error: failed[n]}
		if c := m.current(n); c != nil && c.Leaf != nil {
			s.Certificate = Describe(c.Leaf)
		}
		out = append(out, s)
	}
	return out
}

// Describe returns what the dashboard shows of a certificate.
func Describe(leaf *x509.Certificate) *Certificate {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	return &Certificate{Names: names, Issuer: issuer, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}
}
