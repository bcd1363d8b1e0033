package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serverCert returns the certificate cfg presents to clients.
func serverCert(t *testing.T, cfg *tls.Config) *tls.Certificate {
	t.Helper()
	if cfg.GetCertificate != nil {
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
		if err != nil || c == nil {
			t.Fatalf("GetCertificate: %v, %v", c, err)
		}
		return c
	}
	if len(cfg.Certificates) != 1 {
		t.Fatalf("config has %d certificates, want 1", len(cfg.Certificates))
	}
	return &cfg.Certificates[0]
}

func leafOf(t *testing.T, c *tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return leaf
}

func selfSignedPaths(dataDir string) (certPath, keyPath string) {
	return filepath.Join(dataDir, "tls", SelfSignedCertFile), filepath.Join(dataDir, "tls", SelfSignedKeyFile)
}

// writePair writes a fresh self-signed key pair for hostname to dir and
// returns the file paths.
func writePair(t *testing.T, dir, hostname string) (certPath, keyPath string) {
	t.Helper()
	certPEM, keyPEM, err := generateSelfSigned(hostname, time.Now())
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestLoadOrCreateSelfSigned(t *testing.T) {
	dataDir := t.TempDir()
	start := time.Now()
	cfg, err := LoadOrCreate(dataDir, "Mail.Example.org.", "", "")
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x, want TLS 1.2", cfg.MinVersion)
	}
	leaf := leafOf(t, serverCert(t, cfg))

	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 5*365*24*time.Hour || got > 5*366*24*time.Hour {
		t.Errorf("validity = %v, want 5 years", got)
	}
	if leaf.NotBefore.After(start) {
		t.Errorf("NotBefore %v is in the future", leaf.NotBefore)
	}
	if want := []string{"mail.example.org", "localhost"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNSNames = %v, want %v", leaf.DNSNames, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1"}; !slices.Equal(ips, want) {
		t.Errorf("IPAddresses = %v, want %v", ips, want)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("ExtKeyUsage = %v, want server auth", leaf.ExtKeyUsage)
	}

	certPath, keyPath := selfSignedPaths(dataDir)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("certificate file: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Fatalf("written files are not a key pair: %v", err)
	}
	if !bytes.Contains(certPEM, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("certificate file is not PEM")
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(certPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("tls directory holds %v, want only the certificate and key", names)
	}
}

func TestLoadOrCreateSelfSignedReuse(t *testing.T) {
	dataDir := t.TempDir()
	cfg1, err := LoadOrCreate(dataDir, "mail.example.org", "", "")
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	certPath, _ := selfSignedPaths(dataDir)
	before, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}

	cfg2, err := LoadOrCreate(dataDir, "MAIL.example.org", "", "")
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if !bytes.Equal(serverCert(t, cfg1).Certificate[0], serverCert(t, cfg2).Certificate[0]) {
		t.Fatal("second call returned a different certificate")
	}
	after, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("certificate file rewritten on second call")
	}
}

func TestSelfSignedReplaced(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		hostname  string
		now       time.Time
		wantSame  bool
		wantCover string
	}{
		{"same host, valid", "mail.example.org", now, true, "mail.example.org"},
		{"other host", "mx.example.net", now, false, "mx.example.net"},
		{"about to expire", "mail.example.org", now.AddDate(5, 0, -10), false, "mail.example.org"},
		{"clock went back before NotBefore", "mail.example.org", now.Add(-48 * time.Hour), false, "mail.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			orig, err := loadOrCreateSelfSigned(dataDir, "mail.example.org", now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := loadOrCreateSelfSigned(dataDir, tt.hostname, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if same := bytes.Equal(orig.Certificate[0], got.Certificate[0]); same != tt.wantSame {
				t.Fatalf("same certificate = %v, want %v", same, tt.wantSame)
			}
			leaf := leafOf(t, &got)
			if err := leaf.VerifyHostname(tt.wantCover); err != nil {
				t.Fatalf("certificate does not cover %s: %v", tt.wantCover, err)
			}
			// What is on disk is what was returned.
			certPath, keyPath := selfSignedPaths(dataDir)
			disk, err := tls.LoadX509KeyPair(certPath, keyPath)
			if err != nil || !bytes.Equal(disk.Certificate[0], got.Certificate[0]) {
				t.Fatalf("files on disk differ from the returned certificate (err %v)", err)
			}
		})
	}
}

func TestSelfSignedNames(t *testing.T) {
	tests := []struct {
		hostname string
		wantDNS  []string
		wantIPs  []string
	}{
		{"", []string{"localhost"}, []string{"127.0.0.1", "::1"}},
		{"localhost", []string{"localhost"}, []string{"127.0.0.1", "::1"}},
		{"192.0.2.10", []string{"localhost"}, []string{"192.0.2.10", "127.0.0.1", "::1"}},
		{"::1", []string{"localhost"}, []string{"::1", "127.0.0.1"}},
		{"mx.example.org", []string{"mx.example.org", "localhost"}, []string{"127.0.0.1", "::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.hostname, func(t *testing.T) {
			cert, err := loadOrCreateSelfSigned(t.TempDir(), tt.hostname, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			leaf := leafOf(t, &cert)
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(leaf.DNSNames, tt.wantDNS) || !slices.Equal(ips, tt.wantIPs) {
				t.Fatalf("SANs = %v %v, want %v %v", leaf.DNSNames, ips, tt.wantDNS, tt.wantIPs)
			}
		})
	}
}

func TestLoadOrCreateGivenFiles(t *testing.T) {
	dataDir := t.TempDir()
	certPath, keyPath := writePair(t, t.TempDir(), "imap.example.org")
	cfg, err := LoadOrCreate(dataDir, "ignored.example.org", certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x, want TLS 1.2", cfg.MinVersion)
	}
	leaf := leafOf(t, serverCert(t, cfg))
	if err := leaf.VerifyHostname("imap.example.org"); err != nil {
		t.Errorf("loaded the wrong certificate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tls")); !os.IsNotExist(err) {
		t.Errorf("self-signed directory created although files were given (stat: %v)", err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, "one.example.org")

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	r, err := newReloader(certPath, keyPath, clock)
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		t.Helper()
		c, err := r.getCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return leafOf(t, c).Subject.CommonName
	}
	// touch gives the files a distinct modification time even on file
	// systems with a coarse timestamp granularity.
	mtime := time.Now()
	touch := func() {
		t.Helper()
		mtime = mtime.Add(time.Second)
		for _, p := range []string{certPath, keyPath} {
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}

	steps := []struct {
		name    string
		change  func()
		advance time.Duration
		want    string
	}{
		{"initial", nil, 0, "one.example.org"},
		{"changed, not checked yet", func() { writePair(t, dir, "two.example.org"); touch() }, 30 * time.Second, "one.example.org"},
		{"checked after a minute", nil, 30 * time.Second, "two.example.org"},
		{"broken files keep the old certificate", func() {
			if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			touch()
		}, time.Minute, "two.example.org"},
		{"fixed files are loaded", func() { writePair(t, dir, "three.example.org"); touch() }, time.Minute, "three.example.org"},
		{"unchanged files are kept", nil, time.Minute, "three.example.org"},
		{"removed files keep the old certificate", func() {
			if err := os.Remove(certPath); err != nil {
				t.Fatal(err)
			}
		}, time.Minute, "three.example.org"},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		advance(s.advance)
		if got := served(); got != s.want {
			t.Fatalf("%s: serving %q, want %q", s.name, got, s.want)
		}
	}
}

// handshake runs a TLS server with cfg on 127.0.0.1 and connects to it with
// a client trusting root, verifying serverName (or the IP address if empty).
func handshake(t *testing.T, cfg *tls.Config, root *x509.Certificate, serverName string, clientMax uint16) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			return
		}
		_, _ = io.WriteString(c, "hello\n")
	}()
	defer func() { <-serverDone }()

	pool := x509.NewCertPool()
	pool.AddCert(root)
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config:    &tls.Config{RootCAs: pool, ServerName: serverName, MaxVersion: clientMax},
	}
	c, err := dialer.Dial("tcp", ln.Addr().String())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	if string(got) != "hello\n" {
		t.Fatalf("read %q over TLS", got)
	}
	return c.(*tls.Conn).ConnectionState(), nil
}

func TestHandshake(t *testing.T) {
	selfSigned, err := LoadOrCreate(t.TempDir(), "mail.example.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := writePair(t, t.TempDir(), "files.example.org")
	fromFiles, err := LoadOrCreate(t.TempDir(), "", certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cfg        *tls.Config
		serverName string
		clientMax  uint16
		wantErr    string
	}{
		{"self-signed by IP", selfSigned, "", 0, ""},
		{"self-signed localhost", selfSigned, "localhost", 0, ""},
		{"self-signed hostname", selfSigned, "mail.example.org", 0, ""},
		{"self-signed TLS 1.2", selfSigned, "localhost", tls.VersionTLS12, ""},
		{"self-signed wrong name", selfSigned, "other.example.org", 0, "certificate"},
		{"self-signed TLS 1.1 refused", selfSigned, "localhost", tls.VersionTLS11, "version"},
		{"files", fromFiles, "files.example.org", 0, ""},
		{"files by IP", fromFiles, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := leafOf(t, serverCert(t, tt.cfg))
			state, err := handshake(t, tt.cfg, root, tt.serverName, tt.clientMax)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if state.Version < tls.VersionTLS12 {
				t.Fatalf("negotiated version %#x", state.Version)
			}
		})
	}
}

func TestLoadOrCreateErrors(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, "a.example.org")
	otherDir := t.TempDir()
	otherCert, _ := writePair(t, otherDir, "b.example.org")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a PEM file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	corruptDataDir := t.TempDir()
	if _, err := LoadOrCreate(corruptDataDir, "", "", ""); err != nil {
		t.Fatal(err)
	}
	corruptCert, _ := selfSignedPaths(corruptDataDir)
	if err := os.WriteFile(corruptCert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name              string
		dataDir           string
		certFile, keyFile string
		wantIn            []string // substrings of the error message
		wantNotIn         string
	}{
		{"only certificate", dir, certPath, "", []string{"together"}, ""},
		{"only key", dir, "", keyPath, []string{"together"}, ""},
		{"missing certificate", dir, missing, keyPath, []string{"certificate file", "missing.pem"}, ""},
		{"missing key", dir, certPath, missing, []string{"key file", "missing.pem"}, ""},
		{"garbage certificate", dir, garbage, keyPath, []string{"garbage.pem", "certificate"}, ""},
		{"garbage key", dir, certPath, garbage, []string{"garbage.pem", "key"}, ""},
		{"mismatched pair", dir, otherCert, keyPath, []string{"private key does not match public key"}, ""},
		{"no data directory", "", "", "", []string{"data directory"}, ""},
		{"corrupt self-signed", corruptDataDir, "", "", []string{SelfSignedCertFile, "remove both files"}, ""},
		{"data directory is a file", notADir, "", "", []string{"not a directory"}, "remove both files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadOrCreate(tt.dataDir, "mail.example.org", tt.certFile, tt.keyFile)
			if err == nil {
				t.Fatalf("LoadOrCreate succeeded (%v), want an error", cfg)
			}
			if !strings.HasPrefix(err.Error(), "tlsutil: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if tt.wantNotIn != "" && strings.Contains(err.Error(), tt.wantNotIn) {
				t.Errorf("error %q mentions %q", err, tt.wantNotIn)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.pem")
	for _, content := range []string{"first", "second"} {
		if err := writeFileAtomic(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %d entries", len(entries))
	}
	if err := writeFileAtomic(filepath.Join(dir, "nope", "f.pem"), nil, 0o600); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

// TestPreferFallsBack: Prefer serves the primary source's certificate when
// it has one, the self-signed one otherwise, also to clients without SNI
// (which crypto/tls would never ask GetCertificate about while
// Certificates is set).
func TestPreferFallsBack(t *testing.T) {
	cfg, err := LoadOrCreate(t.TempDir(), "mail.example.test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	self := cfg.Certificates[0]
	other, err := loadOrCreateSelfSigned(t.TempDir(), "other.example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var have atomic.Bool
	fallback := Prefer(cfg, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if have.Load() {
			return &other, nil
		}
		return nil, nil
	})
	if len(cfg.Certificates) != 0 {
		t.Fatal("Certificates kept: clients without SNI would never reach GetCertificate")
	}
	served := func() string {
		t.Helper()
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) // no SNI: an IP address
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "mail.example.test" {
		t.Errorf("before the primary has one: %s", got)
	}
	have.Store(true)
	if got := served(); got != "other.example.test" {
		t.Errorf("once the primary has one: %s", got)
	}
	if c, err := fallback(nil); err != nil || c.Leaf != self.Leaf {
		t.Errorf("fallback: %v %v", c, err)
	}
}
