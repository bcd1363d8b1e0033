package api

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// mobileconfigParse decodes an XML plist into Go values: map[string]any,
// []any, string, int (as string), bool.
func mobileconfigParse(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var sawDoctype bool
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("no plist element: %v\n%s", err, b)
		}
		switch tt := tok.(type) {
		case xml.Directive:
			sawDoctype = strings.HasPrefix(string(tt), "DOCTYPE plist")
		case xml.StartElement:
			if tt.Name.Local != "plist" {
				t.Fatalf("root = %s", tt.Name.Local)
			}
			if !sawDoctype {
				t.Fatalf("missing DOCTYPE")
			}
			v, err := mobileconfigValue(dec, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("top level is %T", v)
			}
			for {
				_, err := dec.Token()
				if err == io.EOF {
					return m
				}
				if err != nil {
					t.Fatalf("trailing: %v", err)
				}
			}
		}
	}
}

// mobileconfigValue reads the next value element (or start, if given).
func mobileconfigValue(dec *xml.Decoder, start *xml.StartElement) (any, error) {
	for start == nil {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			start = &tt
		case xml.EndElement:
			return nil, io.EOF // end of container
		}
	}
	switch start.Name.Local {
	case "string", "integer", "key":
		var s string
		if err := dec.DecodeElement(&s, start); err != nil {
			return nil, err
		}
		return s, nil
	case "true", "false":
		if err := dec.Skip(); err != nil {
			return nil, err
		}
		return start.Name.Local == "true", nil
	case "array":
		var arr []any
		for {
			v, err := mobileconfigValue(dec, nil)
			if err == io.EOF {
				return arr, nil
			}
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case "dict":
		m := map[string]any{}
		for {
			k, err := mobileconfigValue(dec, nil)
			if err == io.EOF {
				return m, nil
			}
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key is %T", k)
			}
			v, err := mobileconfigValue(dec, nil)
			if err != nil {
				return nil, fmt.Errorf("value for %q: %v", key, err)
			}
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			m[key] = v
		}
	}
	return nil, fmt.Errorf("unexpected element %s", start.Name.Local)
}

var mobileconfigUUIDRe = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestMobileconfig(t *testing.T) {
	w := httptest.NewRecorder()
	if err := writeMobileconfig(w, autoconfigTestSettings, "Ann@Example.org", "Ann Example"); err != nil {
		t.Fatal(err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/x-apple-aspen-config" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="ann@example.org.mobileconfig"` {
		t.Fatalf("Content-Disposition = %q", cd)
	}
	top := mobileconfigParse(t, w.Body.Bytes())
	if top["PayloadType"] != "Configuration" || top["PayloadVersion"] != "1" {
		t.Fatalf("top = %v", top)
	}
	if id, _ := top["PayloadIdentifier"].(string); !strings.HasPrefix(id, "net.example.mail.") {
		t.Fatalf("PayloadIdentifier = %q", id)
	}
	content, _ := top["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent = %v", top["PayloadContent"])
	}
	p, _ := content[0].(map[string]any)
	want := map[string]any{
		"PayloadType":                      "com.apple.mail.managed",
		"EmailAccountType":                 "EmailTypeIMAP",
		"EmailAddress":                     "ann@example.org",
		"EmailAccountName":                 "Ann Example",
		"IncomingMailServerHostName":       "mail.example.net",
		"IncomingMailServerPortNumber":     "993",
		"IncomingMailServerUseSSL":         true,
		"IncomingMailServerUsername":       "ann@example.org",
		"IncomingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingMailServerHostName":       "mail.example.net",
		"OutgoingMailServerPortNumber":     "465",
		"OutgoingMailServerUseSSL":         true,
		"OutgoingMailServerUsername":       "ann@example.org",
		"OutgoingMailServerAuthentication": "EmailAuthPassword",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %#v, want %#v", k, p[k], v)
		}
	}
	u1, _ := top["PayloadUUID"].(string)
	u2, _ := p["PayloadUUID"].(string)
	if !mobileconfigUUIDRe.MatchString(u1) || !mobileconfigUUIDRe.MatchString(u2) || u1 == u2 {
		t.Fatalf("UUIDs %q %q", u1, u2)
	}
	if id, _ := p["PayloadIdentifier"].(string); !strings.HasPrefix(id, "net.example.mail.") {
		t.Fatalf("payload identifier = %q", id)
	}

	// Fresh UUIDs on every call.
	w2 := httptest.NewRecorder()
	if err := writeMobileconfig(w2, autoconfigTestSettings, "ann@example.org", "Ann"); err != nil {
		t.Fatal(err)
	}
	if mobileconfigParse(t, w2.Body.Bytes())["PayloadUUID"] == u1 {
		t.Fatal("UUID reused")
	}
}

func TestMobileconfigStartTLSSubmission(t *testing.T) {
	w := httptest.NewRecorder()
	s := ClientSettings{Hostname: "mail.example.net", IMAPPort: 143, SubmissionPort: 587}
	if err := writeMobileconfig(w, s, "ann@example.org", ""); err != nil {
		t.Fatal(err)
	}
	p := mobileconfigParse(t, w.Body.Bytes())["PayloadContent"].([]any)[0].(map[string]any)
	if p["IncomingMailServerPortNumber"] != "143" || p["OutgoingMailServerPortNumber"] != "587" || p["OutgoingMailServerUseSSL"] != true {
		t.Fatalf("payload = %v", p)
	}
}

func TestMobileconfigHostileInput(t *testing.T) {
	addr := `"<script>&'x"@example.org`
	name := `Eve "</string><key>x</key>" & <script>alert(1)</script>` + "\x01"
	w := httptest.NewRecorder()
	if err := writeMobileconfig(w, autoconfigTestSettings, addr, name); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if strings.Contains(body, "<script>") || strings.Contains(body, "</string><key>x") {
		t.Fatalf("unescaped input:\n%s", body)
	}
	top := mobileconfigParse(t, w.Body.Bytes())
	p := top["PayloadContent"].([]any)[0].(map[string]any)
	if p["EmailAddress"] != addr || p["IncomingMailServerUsername"] != addr {
		t.Fatalf("EmailAddress = %q", p["EmailAddress"])
	}
	if got := p["EmailAccountName"].(string); !strings.HasPrefix(got, `Eve "</string><key>x</key>" & <script>alert(1)</script>`) {
		t.Fatalf("EmailAccountName = %q", got)
	}
	if _, ok := p["x"]; ok {
		t.Fatal("injected key")
	}
	_, params, err := mime.ParseMediaType(w.Header().Get("Content-Disposition"))
	if err != nil || params["filename"] != addr+".mobileconfig" {
		t.Fatalf("Content-Disposition %q: %v %v", w.Header().Get("Content-Disposition"), params, err)
	}
}

func TestMobileconfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		s    ClientSettings
		addr string
	}{
		"bad address":   {autoconfigTestSettings, "not-an-address"},
		"no hostname":   {ClientSettings{IMAPSPort: 993, SubmissionsPort: 465}, "a@example.org"},
		"no imap":       {ClientSettings{Hostname: "h.example.net", SubmissionsPort: 465}, "a@example.org"},
		"no submission": {ClientSettings{Hostname: "h.example.net", IMAPSPort: 993}, "a@example.org"},
	} {
		w := httptest.NewRecorder()
		if err := writeMobileconfig(w, tc.s, tc.addr, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
		if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
			t.Errorf("%s: wrote output", name)
		}
	}
}

func TestMobileconfigConcurrent(t *testing.T) {
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			w := httptest.NewRecorder()
			done <- writeMobileconfig(w, autoconfigTestSettings, fmt.Sprintf("u%d@example.org", i), "U")
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
