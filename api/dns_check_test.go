package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
)

// fakeResolver answers from maps keyed by the lower-cased name.
type fakeResolver struct {
	mx  map[string][]*net.MX
	txt map[string][]string
	err error // returned for names in neither map, instead of not-found
}

func (f fakeResolver) notFound(name string) error {
	if f.err != nil {
		return f.err
	}
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if v, ok := f.mx[strings.ToLower(name)]; ok {
		return v, nil
	}
	return nil, f.notFound(name)
}

func (f fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f.txt[strings.ToLower(name)]; ok {
		return v, nil
	}
	return nil, f.notFound(name)
}

func TestCheckDNSRecord(t *testing.T) {
	prio := 10
	mx := DNSRecord{Type: "MX", Name: "example.com", Value: "mail.example.net.", Priority: &prio}
	spf := DNSRecord{Type: "TXT", Name: "example.com", Value: "v=spf1 mx -all"}
	dkim := DNSRecord{Type: "TXT", Name: "s1._domainkey.example.com", Value: "v=DKIM1; k=ed25519; p=AAAA/BBBB="}
	srv := DNSRecord{Type: "SRV", Name: "_imaps._tcp.example.com", Value: "0 1 993 mail.example.net."}
	res := fakeResolver{
		mx: map[string][]*net.MX{"example.com": {{Host: "other.example.org.", Pref: 5}, {Host: "MAIL.Example.NET", Pref: 10}}},
		txt: map[string][]string{
			"example.com":               {"google-site-verification=x", "v=spf1 a -all"},
			"s1._domainkey.example.com": {"v=DKIM1;k=ed25519; p=AAAA/ BBBB="},
		},
	}
	for _, tc := range []struct {
		res    Resolver
		rec    DNSRecord
		status string
		found  int
	}{
		{res, mx, "ok", 2},
		{res, spf, "different", 2},
		{res, dkim, "ok", 1},
		{res, srv, "unchecked", 0},
		{fakeResolver{}, mx, "missing", 0},
		{fakeResolver{}, spf, "missing", 0},
		{fakeResolver{txt: map[string][]string{"example.com": {}}}, spf, "missing", 0},
		{fakeResolver{txt: map[string][]string{"s1._domainkey.example.com": {"v=DKIM1; p=CCCC"}}}, dkim, "different", 1},
		{fakeResolver{err: errors.New("SERVFAIL")}, spf, "error", 0},
	} {
		got := checkDNSRecord(context.Background(), tc.res, tc.rec)
		if got.Status != tc.status || len(got.Found) != tc.found || got.Found == nil || got.Value != tc.rec.Value {
			t.Errorf("%s %s: %+v, want %s with %d found", tc.rec.Type, tc.rec.Name, got, tc.status, tc.found)
		}
	}
}

func TestDomainDNSCheck(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Resolver = fakeResolver{
			mx:  map[string][]*net.MX{"example.com": {{Host: testHostname + ".", Pref: 10}}},
			txt: map[string][]string{"example.com": {"v=spf1 mx -all"}},
		}
	})
	e.addDomain("example.com")
	var out struct {
		Domain  string `json:"domain"`
		Records []struct {
			Type, Name, Status string
			Found              []string
		} `json:"records"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/dns/check", e.admin, nil, &out)
	if out.Domain != "example.com" || len(out.Records) < 3 {
		t.Fatalf("%+v", out)
	}
	want := []string{"ok", "ok", "missing"} // MX, SPF, DMARC
	for i, w := range want {
		if out.Records[i].Status != w {
			t.Errorf("record %d %+v: status %q, want %q", i, out.Records[i], out.Records[i].Status, w)
		}
	}

	nores := newEnv(t)
	nores.addDomain("example.com")
	nores.problem(http.StatusServiceUnavailable, kindUnavailable, "GET", "/api/v1/domains/example.com/dns/check", nores.admin, nil)
}

// TestRotateDKIMWithoutKeys answers 409 where the service has no DKIM keys.
func TestRotateDKIMWithoutKeys(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.problem(http.StatusConflict, kindConflict, "POST", "/api/v1/domains/example.com/dkim/rotate", e.admin, nil)
}
