package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDNSRecords(t *testing.T) {
	dkim := map[string]string{"yb2": "v=DKIM1; k=ed25519; p=BBB", "yb1": "v=DKIM1; k=rsa; p=AAA"}
	got := dnsRecords(autoconfigTestSettings, "Example.ORG.", dkim)
	type rec struct{ typ, name, value string }
	want := []rec{
		{"MX", "example.org", "mail.example.net."},
		{"TXT", "example.org", "v=spf1 mx -all"},
		{"TXT", "_dmarc.example.org", "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"},
		{"TXT", "yb1._domainkey.example.org", "v=DKIM1; k=rsa; p=AAA"},
		{"TXT", "yb2._domainkey.example.org", "v=DKIM1; k=ed25519; p=BBB"},
		{"CNAME", "autoconfig.example.org", "mail.example.net."},
		{"SRV", "_imaps._tcp.example.org", "0 1 993 mail.example.net."},
		{"SRV", "_imap._tcp.example.org", "0 1 143 mail.example.net."},
		{"SRV", "_pop3s._tcp.example.org", "0 1 995 mail.example.net."},
		{"SRV", "_pop3._tcp.example.org", "0 1 110 mail.example.net."},
		{"SRV", "_submissions._tcp.example.org", "0 1 465 mail.example.net."},
		{"SRV", "_submission._tcp.example.org", "0 1 587 mail.example.net."},
		{"SRV", "_sieve._tcp.example.org", "0 1 4190 mail.example.net."},
		{"SRV", "_autodiscover._tcp.example.org", "0 1 443 mail.example.net."},
		{"CNAME", "mta-sts.example.org", "mail.example.net."},
		{"TXT", "_mta-sts.example.org", publishedPolicy(autoconfigTestSettings, "example.org").Record()},
		{"TXT", "_smtp._tls.example.org", "v=TLSRPTv1; rua=https://mail.example.net/api/v1/tls-reports"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.Name != w.name || g.Value != w.value {
			t.Errorf("record %d = %s %s %q, want %s %s %q", i, g.Type, g.Name, g.Value, w.typ, w.name, w.value)
		}
		if g.Purpose == "" {
			t.Errorf("record %d has no purpose", i)
		}
		if (g.Type == "MX") != (g.Priority != nil) {
			t.Errorf("record %d priority = %v", i, g.Priority)
		}
	}
	if *got[0].Priority != 10 {
		t.Errorf("MX priority = %d", *got[0].Priority)
	}

	// Deterministic across calls (map iteration order must not leak).
	for range 20 {
		again := dnsRecords(autoconfigTestSettings, "example.org", dkim)
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("order changed:\n%s\n%s", a, b)
		}
	}

	// JSON shape: priority omitted when nil.
	b, _ := json.Marshal(got[1])
	if strings.Contains(string(b), "priority") || !strings.Contains(string(b), `"purpose"`) {
		t.Errorf("JSON = %s", b)
	}
}

func TestDNSRecordsPortsOff(t *testing.T) {
	got := dnsRecords(ClientSettings{Hostname: "mail.example.net.", IMAPSPort: 993, SubmissionPort: 587}, "example.org", nil)
	var srv []string
	for _, r := range got {
		if r.Type == "SRV" {
			srv = append(srv, r.Name)
		}
		if r.Type == "TXT" && strings.Contains(r.Name, "_domainkey") {
			t.Errorf("unexpected DKIM record %+v", r)
		}
	}
	if strings.Join(srv, ",") != "_imaps._tcp.example.org,_submission._tcp.example.org" {
		t.Fatalf("SRV = %v", srv)
	}
}

func TestDNSRecordsLongDKIM(t *testing.T) {
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 392)
	got := dnsRecords(autoconfigTestSettings, "example.org", map[string]string{"yb1r": long, "yb1e": "v=DKIM1; k=ed25519; p=BBB"})
	var seen int
	for _, r := range got {
		switch r.Name {
		case "yb1r._domainkey.example.org":
			seen++
			if r.Value != long {
				t.Errorf("long DKIM value changed: %q", r.Value)
			}
			if !strings.Contains(r.Purpose, "255") || !strings.Contains(r.Purpose, "one TXT record") {
				t.Errorf("long DKIM record's purpose does not say how to split it: %q", r.Purpose)
			}
		case "yb1e._domainkey.example.org":
			seen++
			if strings.Contains(r.Purpose, "255") {
				t.Errorf("short DKIM record's purpose speaks of splitting: %q", r.Purpose)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("DKIM records missing: %+v", got)
	}
}
