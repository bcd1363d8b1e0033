// Package tlsutil builds the server TLS configuration used by the SMTP,
// IMAP and POP3 servers, either from certificate files configured by the
// administrator (reloaded when they change on disk) or from a self-signed
// certificate created on first start in the data directory.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names of the self-signed certificate and key, in DATADIR/tls.
const (
	SelfSignedCertFile = "selfsigned-cert.pem"
	SelfSignedKeyFile  = "selfsigned-key.pem"
)

const (
	// reloadInterval is how often configured certificate files are checked
	// for changes.
	reloadInterval = time.Minute
	// selfSignedYears is the validity of a generated certificate.
	selfSignedYears = 5
	// renewBefore is how long before its expiry a self-signed certificate is
	// replaced.
	renewBefore = 30 * 24 * time.Hour
)

// LoadOrCreate returns a server TLS configuration (TLS 1.2 or later).
//
// With certFile and keyFile set it loads them, and reloads them when they
// change on disk: the files' modification times and sizes are checked at
// most once a minute, during a handshake. If reloading fails (e.g. a renewal
// is half written), the previous certificate stays in use and loading is
// retried at the next check.
//
// Otherwise it uses dataDir/tls/selfsigned-cert.pem and selfsigned-key.pem,
// creating them if missing: an ECDSA P-256 key and a certificate valid for 5
// years for hostname, "localhost", 127.0.0.1 and ::1. They are replaced when
// the certificate is about to expire or does not cover hostname any more.
// The files are written atomically, the key with mode 0600.
func LoadOrCreate(dataDir, hostname, certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile != "" && keyFile != "":
		r, err := newReloader(certFile, keyFile, time.Now)
		if err != nil {
			return nil, err
		}
		cfg := baseConfig()
		cfg.GetCertificate = r.getCertificate
		return cfg, nil
	case certFile != "" || keyFile != "":
		return nil, fmt.Errorf("tlsutil: certificate file (%q) and key file (%q) must be configured together", certFile, keyFile)
	}
	cert, err := loadOrCreateSelfSigned(dataDir, hostname, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

func baseConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// fileStamp identifies a version of a file on disk.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// reloader serves a certificate loaded from files and reloads it when the
// files change.
type reloader struct {
	certFile, keyFile string
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
	nextCheck time.Time
}

func newReloader(certFile, keyFile string, now func() time.Time) (*reloader, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile, now: now}
	certStamp, keyStamp, err := r.stamps()
	if err == nil {
		err = r.load(certStamp, keyStamp)
	}
	if err != nil {
		return nil, err
	}
	r.nextCheck = now().Add(reloadInterval)
	return r, nil
}

// stamps returns the current versions of the certificate and key files.
func (r *reloader) stamps() (certStamp, keyStamp fileStamp, err error) {
	if certStamp, err = stat(r.certFile); err != nil {
		return fileStamp{}, fileStamp{}, fmt.Errorf("tlsutil: certificate file: %w", err)
	}
	if keyStamp, err = stat(r.keyFile); err != nil {
		return fileStamp{}, fileStamp{}, fmt.Errorf("tlsutil: key file: %w", err)
	}
	return certStamp, keyStamp, nil
}

// load loads the key pair and records the given file versions, which must
// have been taken before reading so that a concurrent change is noticed at
// the next check. r.mu must be held, or r not shared yet.
func (r *reloader) load(certStamp, keyStamp fileStamp) error {
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cert = &cert
	r.certStamp, r.keyStamp = certStamp, keyStamp
	return nil
}

// getCertificate implements tls.Config.GetCertificate.
func (r *reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !now.Before(r.nextCheck) {
		r.nextCheck = now.Add(reloadInterval)
		certStamp, keyStamp, err := r.stamps()
		if err == nil && (certStamp != r.certStamp || keyStamp != r.keyStamp) {
			// On failure keep serving the previous certificate; since
			// the stamps are not updated, loading is retried next time.
			_ = r.load(certStamp, keyStamp)
		}
	}
	return r.cert, nil
}

// loadKeyPair loads a PEM certificate chain and its private key.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsutil: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("tlsutil: parse certificate %s: %w", certFile, err)
		}
	}
	return cert, nil
}

// loadOrCreateSelfSigned returns the self-signed certificate of dataDir,
// creating or replacing it if needed.
func loadOrCreateSelfSigned(dataDir, hostname string, now time.Time) (tls.Certificate, error) {
	if dataDir == "" {
		return tls.Certificate{}, errors.New("tlsutil: no certificate configured and no data directory for a self-signed one")
	}
	hostname = normalizeHostname(hostname)
	dir := filepath.Join(dataDir, "tls")
	certPath := filepath.Join(dir, SelfSignedCertFile)
	keyPath := filepath.Join(dir, SelfSignedKeyFile)

	cert, err := loadKeyPair(certPath, keyPath)
	var pathErr *fs.PathError
	switch {
	case err == nil:
		if stillUsable(cert.Leaf, hostname, now) {
			return cert, nil
		}
	case errors.Is(err, fs.ErrNotExist):
	case errors.As(err, &pathErr): // not a content problem: permissions, I/O…
		return tls.Certificate{}, err
	default:
		return tls.Certificate{}, fmt.Errorf("%w (remove both files to have a new self-signed certificate created)", err)
	}

	certPEM, keyPEM, err := generateSelfSigned(hostname, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsutil: use generated certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsutil: create directory for the self-signed certificate: %w", err)
	}
	// The key is written first: a certificate on disk always has its key.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// normalizeHostname returns the name the self-signed certificate is issued
// for.
func normalizeHostname(hostname string) string {
	hostname = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(hostname)), ".")
	if hostname == "" {
		return "localhost"
	}
	return hostname
}

// stillUsable reports whether a self-signed certificate can be kept.
func stillUsable(leaf *x509.Certificate, hostname string, now time.Time) bool {
	return leaf != nil &&
		!now.Before(leaf.NotBefore) &&
		now.Add(renewBefore).Before(leaf.NotAfter) &&
		leaf.VerifyHostname(hostname) == nil
}

// generateSelfSigned returns a new PEM encoded self-signed certificate and
// its PKCS #8 private key.
func generateSelfSigned(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate serial number: %w", err)
	}
	notBefore := now.Add(-time.Hour).UTC() // tolerate some clock skew
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(selfSignedYears, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	var ips []netip.Addr
	for _, name := range []string{hostname, "localhost", "127.0.0.1", "::1"} {
		if ip, err := netip.ParseAddr(name); err == nil {
			if ip = ip.Unmap(); !slices.Contains(ips, ip) {
				ips = append(ips, ip)
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
			}
		} else if !slices.Contains(tmpl.DNSNames, name) {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: create certificate for %q: %w", hostname, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory that is synced and renamed over path, so that path holds either
// the old or the new content, never a partial one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("tlsutil: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable. Not all platforms can sync a directory;
	// the file content itself is already synced.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// CertificateSource is a tls.Config.GetCertificate function.
type CertificateSource func(*tls.ClientHelloInfo) (*tls.Certificate, error)

// Prefer makes cfg serve the certificates of primary first (ACME's), and
// what cfg served so far (its GetCertificate, or its Certificates: the
// self-signed one) whenever primary has none for the client (returns nil
// and no error). Certificates are moved into the fallback, because
// crypto/tls never calls GetCertificate for a client without SNI while
// Certificates is set. It returns the fallback. cfg must not be in use.
func Prefer(cfg *tls.Config, primary CertificateSource) CertificateSource {
	fallback := CertificateSource(cfg.GetCertificate)
	if fallback == nil {
		certs := slices.Clone(cfg.Certificates)
		fallback = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if len(certs) == 0 {
				return nil, errors.New("tlsutil: no certificate")
			}
			return &certs[0], nil
		}
	}
	cfg.Certificates = nil
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := primary(hello)
		if c != nil || err != nil {
			return c, err
		}
		return fallback(hello)
	}
	return fallback
}
