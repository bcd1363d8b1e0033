package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core/mtasts"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestACMEWithPebble (issue 18 item 1): `yubin serve` with YUBIN_ACME=on
// gets a certificate for its host name from pebble, Debian's ACME test
// server (which validates the challenge for real against our HTTP and
// HTTPS listeners on loopback and is trusted through YUBIN_ACME_CA), and
// every listener serves it: SMTP STARTTLS (MX and submission), IMAPS,
// POP3S, ManageSieve STARTTLS and HTTPS, each chain verified against
// pebble's issuing root. A domain added while it runs gets its autoconfig
// and mta-sts certificates without a restart; the certificates are in the
// data folder and the API lists them with their expiry.
func TestACMEWithPebble(t *testing.T) {
	const host, domain = "mail.yubin.test", "yubin.test"
	listeners := []string{"HTTP", "HTTPS", "SMTP", "SUBMISSION", "IMAPS", "POP3S", "MANAGESIEVE"}
	addrs := map[string]string{}
	for i, p := range testpeer.FreePorts(t, len(listeners)) {
		addrs[listeners[i]] = "127.0.0.1:" + strconv.Itoa(p)
	}
	portOf := func(addr string) int { _, p, _ := net.SplitHostPort(addr); n, _ := strconv.Atoi(p); return n }
	pebble := testpeer.StartPebble(t, portOf(addrs["HTTP"]), portOf(addrs["HTTPS"]),
		[]string{host, "autoconfig." + domain, "mta-sts." + domain}, 0)

	dir := t.TempDir()
	settings := map[string]string{
		"YUBIN_HOSTNAME":       host,
		"YUBIN_ACME":           "on",
		"YUBIN_ACME_DIRECTORY": pebble.Directory,
		"YUBIN_ACME_CA":        pebble.CAFile,
		"YUBIN_ACME_EMAIL":     "postmaster@" + domain,
		"YUBIN_ADMIN_EMAIL":    "admin@" + domain,
		"YUBIN_ADMIN_PASSWORD": "admin-password-1",
		"YUBIN_FILTERS":        "none",
	}
	for k, a := range addrs {
		settings["YUBIN_"+k+"_ADDR"] = a
	}
	rs := startServe(t, dir, settings)
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))

	verify := &tls.Config{ServerName: host, RootCAs: pebble.Roots}
	// Until the certificate arrives the self-signed one serves; then
	// HTTPS serves pebble's.
	first := waitServed(t, func() (*x509.Certificate, error) { return dialTLS(addrs["HTTPS"], verify) })

	checks := map[string]func() (*x509.Certificate, error){
		"SMTP STARTTLS":        func() (*x509.Certificate, error) { return smtpStartTLS(addrs["SMTP"], verify) },
		"submission STARTTLS":  func() (*x509.Certificate, error) { return smtpStartTLS(addrs["SUBMISSION"], verify) },
		"IMAPS":                func() (*x509.Certificate, error) { return dialTLS(addrs["IMAPS"], verify) },
		"POP3S":                func() (*x509.Certificate, error) { return dialTLS(addrs["POP3S"], verify) },
		"ManageSieve STARTTLS": func() (*x509.Certificate, error) { return sieveStartTLS(addrs["MANAGESIEVE"], verify) },
		"HTTPS without SNI": func() (*x509.Certificate, error) {
			// Mail servers often send no server name: the host name's
			// certificate is served, verified here by name.
			return dialTLS(addrs["HTTPS"], &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: pebble.Roots, Intermediates: inter})
				return err
			}})
		},
	}
	for name, check := range checks {
		c, err := check()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Errorf("%s serves certificate %v, HTTPS %v", name, c.SerialNumber, first.SerialNumber)
		}
	}
	// HTTPS with a client that verifies, as a browser does.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pebble.Roots}}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+addrs["HTTPS"]+"/healthz", nil)
	req.Host = host
	hc.Transport.(*http.Transport).TLSClientConfig.ServerName = host
	if resp, err := hc.Do(req); err != nil {
		t.Fatalf("HTTPS /healthz: %v", err)
	} else {
		resp.Body.Close()
	}

	// A domain added while the server runs gets its names' certificates.
	if code, out := runCLI(map[string]string{"YUBIN_DATA": dir}, "domain", "add", domain); code != 0 {
		t.Fatalf("domain add: %d %s", code, out)
	}
	for _, name := range []string{"autoconfig." + domain, "mta-sts." + domain} {
		cfg := &tls.Config{ServerName: name, RootCAs: pebble.Roots}
		c := waitServed(t, func() (*x509.Certificate, error) { return dialTLS(addrs["HTTPS"], cfg) })
		if len(c.DNSNames) != 1 || c.DNSNames[0] != name {
			t.Errorf("certificate for %s names %v", name, c.DNSNames)
		}
	}

	// The domain's MTA-STS policy host answers over HTTPS with its
	// certificate, as other mail servers fetch it (RFC 8461 §3.3).
	pc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pebble.Roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addrs["HTTPS"])
		},
	}}
	resp, err := pc.Get("https://mta-sts." + domain + mtasts.WellKnownPath)
	if err != nil {
		t.Fatalf("MTA-STS policy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if p, err := mtasts.Parse(body); err != nil || resp.StatusCode != 200 || p.Mode != "testing" || !p.Matches(host) {
		t.Errorf("MTA-STS policy: %d %q %v", resp.StatusCode, body, err)
	}

	// Stored in the data folder.
	var stored []string
	filepath.WalkDir(filepath.Join(dir, "tls", "acme"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".crt") {
			stored = append(stored, filepath.Base(p))
		}
		return nil
	})
	if len(stored) != 3 {
		t.Errorf("certificates in DATA/tls/acme: %v", stored)
	}

	// The dashboard's API lists them with their expiry.
	token := apiLogin(t, addrs["HTTP"], "admin@"+domain, "admin-password-1")
	req, _ = http.NewRequest("GET", "http://"+addrs["HTTP"]+"/api/v1/tls/certificates", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Mode         string `json:"mode"`
		Certificates []struct {
			Name, Source, Status string
			Names                []string
			NotAfter             time.Time `json:"not_after"`
		} `json:"certificates"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Mode != "acme" {
		t.Fatalf("TLS status: %d %+v %v", resp.StatusCode, st, err)
	}
	got := map[string]bool{}
	for _, c := range st.Certificates {
		if c.Source == "acme" && c.Status == "valid" {
			got[c.Name] = true
			if c.Name == host && !c.NotAfter.Equal(first.NotAfter) {
				t.Errorf("expiry of %s: %v, served %v", host, c.NotAfter, first.NotAfter)
			}
		}
	}
	for _, n := range []string{host, "autoconfig." + domain, "mta-sts." + domain} {
		if !got[n] {
			t.Errorf("no valid ACME certificate for %s in %+v", n, st.Certificates)
		}
	}
}

// waitServed waits until get returns a certificate without error (the
// ACME certificate arrived and verifies) and returns it.
func waitServed(t *testing.T, get func() (*x509.Certificate, error)) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		var c *x509.Certificate
		if c, err = get(); err == nil {
			return c
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no certificate from pebble served: %v", err)
	return nil
}

// dialTLS returns the leaf certificate of an implicit-TLS handshake.
func dialTLS(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// smtpStartTLS returns the leaf certificate after SMTP STARTTLS.
func smtpStartTLS(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := smtp.DialStartTLS(addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Noop(); err != nil { // EHLO over TLS: the handshake is done
		return nil, err
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return nil, errors.New("no TLS after STARTTLS")
	}
	return st.PeerCertificates[0], nil
}

// sieveStartTLS returns the leaf certificate after ManageSieve STARTTLS
// (RFC 5804 §2.2).
func sieveStartTLS(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	readOK := func() error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, "OK") {
				return nil
			}
			if strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
				return errors.New(strings.TrimSpace(line))
			}
		}
	}
	if err := readOK(); err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("STARTTLS\r\n")); err != nil {
		return nil, err
	}
	if err := readOK(); err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates[0], nil
}

// apiLogin signs in over HTTP and returns the access token.
func apiLogin(t *testing.T, addr, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return out.Token
}

// TestACMEWithPebbleTLSALPNOnly: with the HTTP listener off, `yubin
// serve` gets its certificate through the TLS-ALPN-01 challenge (RFC
// 8737), which pebble validates against the HTTPS listener, and IMAPS
// serves it too.
func TestACMEWithPebbleTLSALPNOnly(t *testing.T) {
	const host = "alpn.yubin.test"
	ports := testpeer.FreePorts(t, 3)
	tlsPort := ports[0]
	httpsAddr := "127.0.0.1:" + strconv.Itoa(tlsPort)
	imapsAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	// pebble's HTTP-01 port points nowhere: only TLS-ALPN-01 can succeed.
	pebble := testpeer.StartPebble(t, ports[2], tlsPort, []string{host}, 0)
	rs := startServe(t, t.TempDir(), map[string]string{
		"YUBIN_HOSTNAME":       host,
		"YUBIN_ACME":           "on",
		"YUBIN_ACME_DIRECTORY": pebble.Directory,
		"YUBIN_ACME_CA":        pebble.CAFile,
		"YUBIN_HTTP_ADDR":      "",
		"YUBIN_HTTPS_ADDR":     httpsAddr,
		"YUBIN_IMAPS_ADDR":     imapsAddr,
		"YUBIN_FILTERS":        "none",
	})
	rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
	verify := &tls.Config{ServerName: host, RootCAs: pebble.Roots}
	first := waitServed(t, func() (*x509.Certificate, error) { return dialTLS(httpsAddr, verify) })
	c, err := dialTLS(imapsAddr, verify)
	if err != nil || c.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("IMAPS: %v", err)
	}
}
