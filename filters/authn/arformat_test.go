package authn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// pythonAuthres returns a Python interpreter that has the authres module
// (Debian package python3-authres), skipping the test without one unless
// YUBIN_TEST_PEERS=required.
func pythonAuthres(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import authres").Run() == nil {
			return path
		}
	}
	testpeer.Missing(t, "python3 with the authres module (Debian package python3-authres)")
	return ""
}

// checkWithPython parses every value as an Authentication-Results field
// with python3-authres, and fails for a value it rejects or in which it
// finds other results or fewer properties than were written (a value it
// could not read).
func checkWithPython(t *testing.T, values []string) {
	t.Helper()
	py := pythonAuthres(t)
	script := `
import sys, json, authres
out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    try:
        h = authres.parse("Authentication-Results: " + line)
        out.append({"results": [[r.method, r.result, len(r.properties)] for r in h.results]})
    except Exception as e:
        out.append({"error": str(e)})
print(json.dumps(out))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(values, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-authres: %v\n%s", err, stderr.String())
	}
	var parsed []struct {
		Results [][3]any `json:"results"`
		Error   string   `json:"error"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil || len(parsed) != len(values) {
		t.Fatalf("python3-authres output %q: %v", out, err)
	}
	for i, v := range values {
		p := parsed[i]
		if p.Error != "" {
			t.Errorf("python3-authres rejects %q: %s", v, p.Error)
			continue
		}
		want := writtenResults(v)
		var got []string
		for _, r := range p.Results {
			got = append(got, fmt.Sprintf("%v=%v/%v", r[0], r[1], r[2]))
		}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("python3-authres reads %q\nas  %q\nnot %q", v, got, want)
		}
	}
}

// writtenResults lists method=result/number of properties of each result
// in an Authentication-Results value we wrote, reading it as written:
// results separated by ";" outside quoted strings, properties as the
// "ptype.property=" outside them.
func writtenResults(v string) []string {
	var parts []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
			r = 'x'
		case quoted && r == '\\':
			escaped = true
			r = 'x'
		case r == '"':
			quoted = !quoted
		case quoted:
			r = 'x'
		case r == ';':
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	parts = append(parts, cur.String())
	var out []string
	for _, p := range parts[1:] {
		fields := strings.Fields(p)
		if len(fields) == 0 || fields[0] == "none" {
			continue
		}
		method, result, _ := strings.Cut(fields[0], "=")
		n := 0
		for _, f := range fields[1:] {
			if k, _, ok := strings.Cut(f, "="); ok && strings.Contains(k, ".") {
				n++
			}
		}
		out = append(out, fmt.Sprintf("%s=%s/%d", method, result, n))
	}
	return out
}

// TestAuthResultsValidRFC8601 writes the Authentication-Results fields of
// many messages (signed with new signatures each time, so that header.b
// takes every character base64 has, failing ones with reasons, an
// authenticated client) and of odd values, and has an independent parser
// read each.
func TestAuthResultsValidRFC8601(t *testing.T) {
	a := newAuthenticator(t, Options{})
	var values []string
	add := func(v filters.Verdict) {
		for _, f := range v.AddHeaders {
			if f.Key == HeaderName {
				values = append(values, f.Value)
			}
		}
	}
	slashes := 0
	for i := range 40 {
		raw := newMail("alice@example.com", fmt.Sprintf("m%d@example.com", i))
		raw = sign(t, raw, "example.com", "rsa", rsaKey())
		raw = sign(t, raw, "example.com", "ed", edKey())
		v := check(t, a, message(raw, goodIP, "client.example.net", "bounce@example.com"))
		add(v)
		if strings.Contains(v.AddHeaders[0].Value, "/") {
			slashes++
		}
	}
	if slashes == 0 {
		t.Log("no header.b with a slash in 80 signatures")
	}
	for _, tt := range []struct{ from, mailFrom, ip, signDomain, selector string }{
		{"alice@example.com", "alice@example.com", badIP, "", ""},
		{"alice@example.com", "x@example.net", badIP, "example.com", "nokey"},
		{"alice@example.com", "x@example.net", badIP, "example.com", "broken"},
		{"alice@example.biz", "x@example.biz", badIP, "", ""},
		{"alice@example.us", "", badIP, "", ""},
		{"alice@pct.example.com", "odd/local+part@example.net", badIP, "", ""},
	} {
		raw := newMail(tt.from, "x@example.com")
		if tt.signDomain != "" {
			raw = sign(t, raw, tt.signDomain, tt.selector, rsaKey())
		}
		add(check(t, a, message(raw, tt.ip, "client.example.net", tt.mailFrom)))
	}
	auth := message(newMail("alice@example.com", "a@example.com"), goodIP, "client.example.net", "alice@example.com")
	auth.Conn.AuthUser = "al ice\"x\"@example.com"
	add(check(t, a, auth))
	add(check(t, a, message("Subject: no from\r\n\r\nbody\r\n", badIP, "client.example.net", "x@example.net")))

	values = append(values,
		formatAuthResults("mx.test", nil),
		formatAuthResults("mx.test", []authres.Result{
			&authres.GenericResult{Method: "dkim", Value: "fail", Params: map[string]string{
				"header.b": "uNwZmt8/", "header.d": "example.com", "header.i": "@example.com", "header.s": "sel_1",
				"reason": `bad "signature"; (really) \ odd`}},
			&authres.SPFResult{Value: "pass", From: "a.b+c@example.com"},
			&authres.SPFResult{Value: "none", Helo: "[192.0.2.1]"},
			&authres.DMARCResult{Value: "fail", From: "example.com", Reason: "p=reject dis=quarantine"},
			&authres.AuthResult{Value: "pass", Auth: "user name"},
		}))
	for _, v := range values {
		checkPvalues(t, v)
	}
	checkWithPython(t, values)
}

// Unquoted pvalues RFC 8601 allows: an RFC 2045 token, or an address
// ([local-part] "@" domain-name) with a dot-atom local part.
var (
	tokenRE   = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `{|}~0-9A-Za-z]+$`)
	addressRE = regexp.MustCompile(`^([!#$%&'*+\-/=?^_` + "`" + `{|}~0-9A-Za-z]+(\.[!#$%&'*+\-/=?^_` + "`" + `{|}~0-9A-Za-z]+)*)?@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
)

// checkPvalues fails for an unquoted property value of v that is neither a
// token nor an address.
func checkPvalues(t *testing.T, v string) {
	t.Helper()
	quoted := false
	for _, f := range strings.FieldsFunc(v, func(r rune) bool {
		if r == '"' {
			quoted = !quoted
		}
		return !quoted && (r == ' ' || r == ';')
	}) {
		k, val, ok := strings.Cut(f, "=")
		if !ok || !strings.Contains(k, ".") || strings.HasPrefix(val, "\"") {
			continue
		}
		if !tokenRE.MatchString(val) && !addressRE.MatchString(val) {
			t.Errorf("%s=%s is neither a token nor an address, and not quoted, in %q", k, val, v)
		}
	}
}

func TestFormatPvalue(t *testing.T) {
	tests := map[string]string{
		"example.com":           "example.com",
		"uNwZmt8/":              `"uNwZmt8/"`,
		"ab+c":                  "ab+c",
		"ab=c":                  `"ab=c"`,
		"a/b@example.com":       "a/b@example.com",
		"@example.com":          "@example.com",
		"a b@example.com":       `"a b@example.com"`,
		`q"uote`:                `"q\"uote"`,
		"[192.0.2.1]":           `"[192.0.2.1]"`,
		"user@-bad-.example":    `"user@-bad-.example"`,
		"caf\u00e9@example.com": "\"caf\u00e9@example.com\"",
	}
	for in, want := range tests {
		if got := formatPvalue(in); got != want {
			t.Errorf("formatPvalue(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzFormatPvalue checks that every value is written as RFC 8601 allows:
// unquoted only as a token or an address, else a quoted-string that reads
// back as the value (control characters left out, tabs as spaces).
func FuzzFormatPvalue(f *testing.F) {
	for _, s := range []string{"uNwZmt8/", "a@b.example", "", `"`, `\`, "x y", "@", "a@", "caf\u00e9", "\x00\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := formatPvalue(s)
		if !strings.HasPrefix(got, `"`) {
			if got != s || !tokenRE.MatchString(got) && !addressRE.MatchString(got) {
				t.Fatalf("formatPvalue(%q) = %q: unquoted but neither a token nor an address", s, got)
			}
			return
		}
		if len(got) < 2 || !strings.HasSuffix(got, `"`) {
			t.Fatalf("formatPvalue(%q) = %q: not a quoted-string", s, got)
		}
		var back strings.Builder
		inner := got[1 : len(got)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			switch {
			case c == '\\' && i+1 < len(inner):
				i++
				back.WriteByte(inner[i])
			case c == '"' || c == '\\' || c < ' ' || c == 0x7f:
				t.Fatalf("formatPvalue(%q) = %q: bare %q inside", s, got, c)
			default:
				back.WriteByte(c)
			}
		}
		want := strings.Map(func(r rune) rune {
			switch {
			case r == '\t':
				return ' '
			case r < ' ' || r == 0x7f:
				return -1
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		if back.String() != want {
			t.Fatalf("formatPvalue(%q) = %q reads back as %q, want %q", s, got, back.String(), want)
		}
	})
}
