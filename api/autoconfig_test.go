package api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

var autoconfigTestSettings = ClientSettings{
	Hostname:        "mail.example.net",
	IMAPPort:        143,
	IMAPSPort:       993,
	POP3Port:        110,
	POP3SPort:       995,
	SubmissionPort:  587,
	SubmissionsPort: 465,
	HTTPSPort:       443,
	ManageSievePort: 4190,
}

func autoconfigTestEngine(c ClientSettings) *gin.Engine {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	mountAutoconfig(e, c, func(_ context.Context, domain string) (bool, error) { return domain != "unknown.example", nil })
	return e
}

func autoconfigDo(t *testing.T, e http.Handler, method, target, host, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

// autoconfigWellFormed walks every token of an XML document.
func autoconfigWellFormed(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("XML not well-formed: %v\n%s", err, b)
		}
	}
}

func autoconfigCheckProblem(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if p.Status != status || !strings.HasPrefix(p.Type, "https://yubin.dev/problems/") || p.Title == "" {
		t.Fatalf("bad problem %+v", p)
	}
}

type tbTestServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

type tbTestConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string         `xml:"id,attr"`
		Domain   []string       `xml:"domain"`
		Incoming []tbTestServer `xml:"incomingServer"`
		Outgoing []tbTestServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func TestAutoconfigThunderbird(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	for _, path := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"} {
		w := autoconfigDo(t, e, "GET", path+"?emailaddress=Ann%40Example.ORG", "autoconfig.other.test", "")
		if w.Code != 200 {
			t.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
			t.Fatalf("Content-Type = %q", ct)
		}
		autoconfigWellFormed(t, w.Body.Bytes())
		var cfg tbTestConfig
		if err := xml.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Version != "1.1" || cfg.Provider.ID != "example.org" || len(cfg.Provider.Domain) != 1 || cfg.Provider.Domain[0] != "example.org" {
			t.Fatalf("provider = %+v", cfg)
		}
		wantIn := []tbTestServer{
			{"imap", "mail.example.net", 993, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"imap", "mail.example.net", 143, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
			{"pop3", "mail.example.net", 995, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"pop3", "mail.example.net", 110, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
		}
		wantOut := []tbTestServer{
			{"smtp", "mail.example.net", 465, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"smtp", "mail.example.net", 587, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
		}
		if !autoconfigEqual(cfg.Provider.Incoming, wantIn) || !autoconfigEqual(cfg.Provider.Outgoing, wantOut) {
			t.Fatalf("servers = %+v / %+v", cfg.Provider.Incoming, cfg.Provider.Outgoing)
		}
	}
}

func autoconfigEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAutoconfigThunderbirdHostAndPorts(t *testing.T) {
	s := ClientSettings{Hostname: "mx.example.net.", IMAPSPort: 993, SubmissionPort: 587}
	e := autoconfigTestEngine(s)
	w := autoconfigDo(t, e, "GET", "/mail/config-v1.1.xml?emailaddress=ann%40example.com", "AutoConfig.Example.COM:8443", "")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var cfg tbTestConfig
	if err := xml.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Provider.ID != "example.com" {
		t.Fatalf("id = %q", cfg.Provider.ID)
	}
	if len(cfg.Provider.Incoming) != 1 || cfg.Provider.Incoming[0].Port != 993 || cfg.Provider.Incoming[0].Hostname != "mx.example.net" ||
		len(cfg.Provider.Outgoing) != 1 || cfg.Provider.Outgoing[0].SocketType != "STARTTLS" {
		t.Fatalf("servers = %+v / %+v", cfg.Provider.Incoming, cfg.Provider.Outgoing)
	}
}

func TestAutoconfigThunderbirdInvalid(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	for _, q := range []string{
		"?emailaddress=",
		"?emailaddress=nobody",
		"?emailaddress=%3Cscript%3Ealert(1)%3C%2Fscript%3E%40example.com",
		"?emailaddress=a%40%3Cscript%3E.com",
		"?emailaddress=a%40b%26c.com",
	} {
		w := autoconfigDo(t, e, "GET", "/mail/config-v1.1.xml"+q, "autoconfig.example.com", "")
		autoconfigCheckProblem(t, w, http.StatusBadRequest)
		if strings.Contains(w.Body.String(), "<script>") {
			t.Fatalf("%s: input echoed: %s", q, w.Body)
		}
	}
	// Without ?emailaddress the answer says what is missing, whatever
	// the host name.
	for _, host := range []string{"localhost", "autoconfig.example.com"} {
		w := autoconfigDo(t, e, "GET", "/mail/config-v1.1.xml", host, "")
		autoconfigCheckProblem(t, w, http.StatusBadRequest)
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != problemBase+kindBadRequest || !strings.Contains(p.Detail, "emailaddress") || !strings.Contains(p.Detail, "missing") {
			t.Errorf("%s without emailaddress: %s", host, w.Body)
		}
	}
}

func TestAutoconfigUnknownDomain(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	w := autoconfigDo(t, e, "GET", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann%40unknown.example", "", "")
	autoconfigCheckProblem(t, w, http.StatusNotFound)
	w = autoconfigDo(t, e, "POST", "/autodiscover/autodiscover.xml", "", strings.Replace(autodiscoverTestRequest, "%s", "ann@unknown.example", 1))
	autoconfigCheckProblem(t, w, http.StatusNotFound)
}

func TestAutoconfigThunderbirdHostileAddress(t *testing.T) {
	// A quoted local part may legally hold <, >, & and quotes; the domain is
	// all that is reflected, but the document must stay well-formed.
	e := autoconfigTestEngine(autoconfigTestSettings)
	w := autoconfigDo(t, e, "GET", `/mail/config-v1.1.xml?emailaddress=%22%3Cscript%3E%26'x%22%40example.com`, "", "")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	autoconfigWellFormed(t, w.Body.Bytes())
	if strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("unescaped input: %s", w.Body)
	}
}

const autodiscoverTestRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

type adTestProtocol struct {
	Type       string `xml:"Type"`
	Server     string `xml:"Server"`
	Port       int    `xml:"Port"`
	LoginName  string `xml:"LoginName"`
	SSL        string `xml:"SSL"`
	Encryption string `xml:"Encryption"`
	AuthReq    string `xml:"AuthRequired"`
}

type adTestResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		User struct {
			DisplayName string `xml:"DisplayName"`
		} `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a User"`
		Account struct {
			AccountType string           `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a AccountType"`
			Action      string           `xml:"Action"`
			Protocol    []adTestProtocol `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Protocol"`
		} `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Account"`
	} `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

func autodiscoverParse(t *testing.T, b []byte) adTestResponse {
	t.Helper()
	autoconfigWellFormed(t, b)
	var r adTestResponse
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return r
}

func TestAutodiscover(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		w := autoconfigDo(t, e, "POST", path, "", strings.Replace(autodiscoverTestRequest, "%s", "Bob@Example.org", 1))
		if w.Code != 200 {
			t.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
			t.Fatalf("Content-Type = %q", ct)
		}
		r := autodiscoverParse(t, w.Body.Bytes())
		a := r.Response.Account
		if a.AccountType != "email" || a.Action != "settings" {
			t.Fatalf("account = %+v", a)
		}
		want := []adTestProtocol{
			{"IMAP", "mail.example.net", 993, "bob@example.org", "on", "SSL", "on"},
			{"POP3", "mail.example.net", 995, "bob@example.org", "on", "SSL", "on"},
			{"SMTP", "mail.example.net", 465, "bob@example.org", "on", "SSL", "on"},
		}
		if !autoconfigEqual(a.Protocol, want) {
			t.Fatalf("protocols = %+v", a.Protocol)
		}
	}
}

func TestAutodiscoverStartTLSOnly(t *testing.T) {
	e := autoconfigTestEngine(ClientSettings{Hostname: "mail.example.net", IMAPPort: 143, SubmissionPort: 587})
	w := autoconfigDo(t, e, "POST", "/autodiscover/autodiscover.xml", "", strings.Replace(autodiscoverTestRequest, "%s", "bob@example.org", 1))
	r := autodiscoverParse(t, w.Body.Bytes())
	want := []adTestProtocol{
		{"IMAP", "mail.example.net", 143, "bob@example.org", "on", "TLS", "on"},
		{"SMTP", "mail.example.net", 587, "bob@example.org", "on", "TLS", "on"},
	}
	if !autoconfigEqual(r.Response.Account.Protocol, want) {
		t.Fatalf("protocols = %+v", r.Response.Account.Protocol)
	}
}

func TestAutodiscoverHostileAddress(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	// Valid quoted local part holding markup characters (XML-escaped in the request).
	addr := `"&lt;script&gt;&amp;'x"@example.org`
	w := autoconfigDo(t, e, "POST", "/autodiscover/autodiscover.xml", "", strings.Replace(autodiscoverTestRequest, "%s", addr, 1))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("unescaped: %s", w.Body)
	}
	r := autodiscoverParse(t, w.Body.Bytes())
	for _, p := range r.Response.Account.Protocol {
		if p.LoginName != `"<script>&'x"@example.org` {
			t.Fatalf("LoginName = %q", p.LoginName)
		}
	}
	if r.Response.User.DisplayName != `"<script>&'x"@example.org` {
		t.Fatalf("DisplayName = %q", r.Response.User.DisplayName)
	}
}

func TestAutodiscoverInvalid(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	for name, body := range map[string]string{
		"malformed":      `<Autodiscover><Request><EMailAddress>a@example.org</Request>`,
		"empty":          ``,
		"not xml":        `{"email":"a@example.org"}`,
		"no request":     `<Autodiscover/>`,
		"trailing":       `<Autodiscover><Request><EMailAddress>a@example.org</EMailAddress></Request></Autodiscover><x/>`,
		"bad address":    strings.Replace(autodiscoverTestRequest, "%s", "&lt;script&gt;", 1),
		"empty address":  strings.Replace(autodiscoverTestRequest, "%s", "", 1),
		"other schema":   `<Autodiscover><Request><EMailAddress>a@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>`,
		"unknown entity": `<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>`,
	} {
		w := autoconfigDo(t, e, "POST", "/autodiscover/autodiscover.xml", "", body)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d: %s", name, w.Code, w.Body)
			continue
		}
		autoconfigCheckProblem(t, w, http.StatusBadRequest)
	}
	big := "<Autodiscover><Request><EMailAddress>a@example.org</EMailAddress>" + strings.Repeat("<!-- pad -->", 8000) + "</Request></Autodiscover>"
	w := autoconfigDo(t, e, "POST", "/autodiscover/autodiscover.xml", "", big)
	autoconfigCheckProblem(t, w, http.StatusRequestEntityTooLarge)
}

func TestAutoconfigMethods(t *testing.T) {
	e := autoconfigTestEngine(autoconfigTestSettings)
	if w := autoconfigDo(t, e, "GET", "/autodiscover/autodiscover.xml", "", ""); w.Code == 200 {
		t.Fatalf("GET autodiscover = 200")
	}
}
