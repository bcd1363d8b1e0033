package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestPostmasterFreshInstall follows the Quickstart (no admin settings, a
// domain and a user added with the CLI) and sends to postmaster@ the domain
// and to the bare postmaster: both are accepted and reach the domain's
// first account, which reads them over IMAP.
func TestPostmasterFreshInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir)
	srv.start()
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "ann-password\n", nil, "user", "add", "ann@example.com", "--data", dir)

	for _, rcpt := range []string{"postmaster@example.com", "postmaster", "PostMaster@Example.com"} {
		c, err := smtp.Dial(srv.addrs["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		raw := "From: <dmarc@reports.test>\r\nTo: <" + rcpt + ">\r\nSubject: report for " + rcpt + "\r\n\r\nDMARC aggregate report\r\n"
		if err := c.SendMail("dmarc@reports.test", []string{rcpt}, strings.NewReader(raw)); err != nil {
			t.Errorf("RCPT TO:<%s> on a fresh install: %v", rcpt, err)
		}
		c.Quit()
	}
	got := imapSubjects(t, srv, "ann@example.com", "ann-password")
	for _, rcpt := range []string{"postmaster@example.com", "postmaster", "PostMaster@Example.com"} {
		if got["report for "+rcpt] != 1 {
			t.Errorf("mail for %s did not reach ann's INBOX: %v", rcpt, got)
		}
	}
}

// TestPublicPorts starts the server with YUBIN_PUBLIC_PORTS=standard (as
// docker-compose.yml does) and checks that every way clients learn their
// settings announces the standard ports, not the ones the server listens
// on: Thunderbird autoconfig, Autodiscover, the Apple profile and the SRV
// records of the DNS listing. Listeners that are off are never announced.
// Autoconfig without ?emailaddress is a 400 that says so, an unknown domain
// a 404.
func TestPublicPorts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir,
		"YUBIN_PUBLIC_PORTS=standard,https=8443",
		"YUBIN_SUBMISSIONS_ADDR=127.0.0.1:0", // on; submission (587) stays off
		"YUBIN_ADMIN_EMAIL=admin@example.com",
		"YUBIN_ADMIN_PASSWORD=admin-password",
	)
	srv.start()
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "ann-password\n", nil, "user", "add", "ann@example.com", "--data", dir)
	base := "http://" + srv.addrs["http"]

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// Thunderbird autoconfig.
	code, body := get("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape("ann@example.com"))
	if code != http.StatusOK {
		t.Fatalf("autoconfig: %d %s", code, body)
	}
	var cfg struct {
		Servers []struct {
			Type   string `xml:"type,attr"`
			Port   int    `xml:"port"`
			Socket string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
		Out []struct {
			Type   string `xml:"type,attr"`
			Port   int    `xml:"port"`
			Socket string `xml:"socketType"`
		} `xml:"emailProvider>outgoingServer"`
	}
	if err := xml.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	var announced []string
	for _, s := range cfg.Servers {
		announced = append(announced, fmt.Sprintf("%s/%s/%d", s.Type, s.Socket, s.Port))
	}
	for _, s := range cfg.Out {
		announced = append(announced, fmt.Sprintf("%s/%s/%d", s.Type, s.Socket, s.Port))
	}
	want := []string{"imap/SSL/993", "imap/STARTTLS/143", "pop3/SSL/995", "pop3/STARTTLS/110", "smtp/SSL/465"}
	if !slices.Equal(announced, want) {
		t.Errorf("autoconfig announces %v, want %v", announced, want)
	}

	// Without ?emailaddress: 400 saying so; an unknown domain: 404.
	for _, tc := range []struct {
		path string
		code int
		kind string
		says string
	}{
		{"/.well-known/autoconfig/mail/config-v1.1.xml", 400, "bad-request", "emailaddress"},
		{"/mail/config-v1.1.xml", 400, "bad-request", "emailaddress"},
		{"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann%40elsewhere.test", 404, "not-found", "elsewhere.test"},
	} {
		code, body := get(tc.path)
		var p struct{ Type, Detail string }
		_ = json.Unmarshal(body, &p)
		if code != tc.code || p.Type != "https://yubin.dev/problems/"+tc.kind || !strings.Contains(p.Detail, tc.says) {
			t.Errorf("GET %s: %d %s, want %d %s mentioning %q", tc.path, code, body, tc.code, tc.kind, tc.says)
		}
	}

	// Autodiscover.
	req := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>ann@example.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	resp, err := http.Post(base+"/autodiscover/autodiscover.xml", "text/xml", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var ad struct {
		Protocols []struct {
			Type string `xml:"Type"`
			Port int    `xml:"Port"`
		} `xml:"Response>Account>Protocol"`
	}
	if err := xml.Unmarshal(body, &ad); err != nil || resp.StatusCode != 200 {
		t.Fatalf("autodiscover: %d %v %s", resp.StatusCode, err, body)
	}
	announced = nil
	for _, p := range ad.Protocols {
		announced = append(announced, fmt.Sprintf("%s/%d", p.Type, p.Port))
	}
	if want := []string{"IMAP/993", "POP3/995", "SMTP/465"}; !slices.Equal(announced, want) {
		t.Errorf("Autodiscover announces %v, want %v", announced, want)
	}

	// The Apple profile and the DNS listing, over the API.
	api := apiLogin(t, srv, "admin@example.com", "admin-password")
	httpReq, _ := http.NewRequest("GET", base+"/api/v1/users/ann@example.com/mobileconfig", nil)
	httpReq.Header.Set("Authorization", "Bearer "+api.token)
	resp, err = http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	profile := strings.Join(strings.Fields(string(body)), "")
	for _, kv := range []string{"<key>IncomingMailServerPortNumber</key><integer>993</integer>", "<key>OutgoingMailServerPortNumber</key><integer>465</integer>"} {
		if !strings.Contains(profile, kv) {
			t.Errorf("Apple profile lacks %s:\n%s", kv, body)
		}
	}
	var dns struct {
		Records []struct{ Type, Name, Value string } `json:"records"`
	}
	api.must("GET", "/api/v1/domains/example.com/dns", nil, http.StatusOK, &dns)
	srv2 := map[string]string{}
	for _, r := range dns.Records {
		if r.Type == "SRV" {
			srv2[strings.TrimSuffix(r.Name, ".example.com")] = r.Value
		}
	}
	wantSRV := map[string]string{
		"_imaps._tcp": "0 1 993 mail.test.", "_imap._tcp": "0 1 143 mail.test.",
		"_pop3s._tcp": "0 1 995 mail.test.", "_pop3._tcp": "0 1 110 mail.test.",
		"_submissions._tcp": "0 1 465 mail.test.", "_autodiscover._tcp": "0 1 8443 mail.test.",
		"_sieve._tcp": "0 1 4190 mail.test.",
	}
	for name, v := range wantSRV {
		if srv2[name] != v {
			t.Errorf("SRV %s: %q, want %q", name, srv2[name], v)
		}
	}
	if v, ok := srv2["_submission._tcp"]; ok {
		t.Errorf("SRV _submission._tcp announced (%q) though submission is off", v)
	}
}
