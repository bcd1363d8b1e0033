package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foxcpp/go-mockdns"
	"go.yaml.in/yaml/v4"

	"github.com/yubinmail/yubin/filters"
)

// TestRFC7208Suite runs the openspf test suite for RFC 7208
// (testdata/rfc7208-tests.yml, as shipped with blitiri.com.ar/go/spf,
// license in testdata/rfc7208-tests.LICENSE) through our SPF glue and our
// resolver, against the suite's zone data served by a real DNS server on
// loopback.
//
// Tests marked "skip" in the file are skipped: they are the library's
// documented deviations (it does not enforce charsets or TLD syntax,
// ignores exp=, and does not report errors after a match). TIMEOUT
// records are served as SERVFAIL, which our resolver reports as a
// temporary error, as a timeout would be.
func TestRFC7208Suite(t *testing.T) {
	f, err := os.Open("testdata/rfc7208-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var total, passed int
	for {
		var suite map[string]any
		if err := dec.Decode(&suite); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		desc, _ := suite["description"].(string)
		t.Run(strings.ReplaceAll(desc, " ", "_"), func(t *testing.T) {
			zones, err := suiteZones(suite["zonedata"])
			if err != nil {
				t.Fatal(err)
			}
			r := startDNS(t, zones)
			tests, _ := suite["tests"].(map[string]any)
			names := make([]string, 0, len(tests))
			for name := range tests {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				tc, _ := tests[name].(map[string]any)
				if skip, _ := tc["skip"].(string); skip != "" {
					continue
				}
				if why, ok := deviations[name]; ok {
					t.Logf("%s: skipped: %s", name, why)
					continue
				}
				total++
				host, _ := tc["host"].(string)
				helo, _ := tc["helo"].(string)
				from, _ := tc["mailfrom"].(string)
				want := strs(tc["result"])
				ip, err := netip.ParseAddr(host)
				if err != nil {
					t.Errorf("%s: bad host %q", name, host)
					continue
				}
				conn := filters.ConnInfo{RemoteAddr: netip.AddrPortFrom(ip, 25), HELO: helo}
				if !strings.Contains(from, "@") {
					// The suite's "mailfrom" without a local part is a
					// domain to check as is.
					from = "postmaster@" + from
				}
				o := checkSPF(context.Background(), r, conn, from)
				if !slices.Contains(want, string(o.result)) {
					t.Errorf("%s (spec %v): got %s (%v), want %v\n%s", name, tc["spec"], o.result, o.err, want, tc["description"])
					continue
				}
				passed++
			}
		})
	}
	t.Logf("RFC 7208 suite: %d of %d tests passed", passed, total)
	if total < 100 {
		t.Errorf("only %d tests ran", total)
	}
}

// deviations are the tests of the suite that our stack cannot pass, and
// why.
var deviations = map[string]string{
	"macro-mania-in-domain": "Go's resolver refuses to look up a name with spaces " +
		"(\"macro%percent  space%20url-space.example.com\")",
}

// strs returns v, a YAML scalar or sequence, as strings.
func strs(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// suiteZones turns the zonedata of a suite into mockdns zones.
func suiteZones(data any) (map[string]mockdns.Zone, error) {
	zd, _ := data.(map[string]any)
	zones := make(map[string]mockdns.Zone, len(zd))
	for domain, recs := range zd {
		name := strings.ToLower(domain)
		if !strings.HasSuffix(name, ".") {
			name += "."
		}
		var z mockdns.Zone
		var spfRecords []string
		txtNone := false
		list, _ := recs.([]any)
		for _, rec := range list {
			m, ok := rec.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: record %v", domain, rec)
			}
			for typ, v := range m {
				switch typ {
				case "A":
					z.A = append(z.A, strs(v)...)
				case "AAAA":
					z.AAAA = append(z.AAAA, strs(v)...)
				case "MX":
					mx := strs(v)
					if len(mx) != 2 {
						return nil, fmt.Errorf("%s: MX %v", domain, v)
					}
					var pref uint16
					fmt.Sscan(mx[0], &pref)
					z.MX = append(z.MX, net.MX{Host: fqdn(mx[1]), Pref: pref})
				case "TXT":
					if s, ok := v.(string); ok && s == "NONE" {
						txtNone = true // the name exists, without a TXT record
						continue
					}
					// A sequence is one record of several strings.
					z.TXT = append(z.TXT, strings.Join(strs(v), ""))
				case "SPF":
					if s := strs(v); len(s) > 0 {
						spfRecords = append(spfRecords, strings.Join(s, ""))
					}
				case "PTR":
					z.PTR = append(z.PTR, fqdn(fmt.Sprint(v)))
				case "CNAME":
					z.CNAME = strings.ToLower(fqdn(fmt.Sprint(v)))
				case "TIMEOUT", "SERVFAIL", "CNAMELOOP":
					// mockdns would follow a CNAME loop forever: answer
					// SERVFAIL, as a resolver detecting the loop does.
					z.Err = errors.New(strings.ToLower(typ))
				default:
					return nil, fmt.Errorf("%s: unknown record type %s", domain, typ)
				}
			}
		}
		// RFC 7208 dropped the SPF RR type: its records are served as TXT
		// when the name has no TXT record (as the library's own runner
		// does).
		if len(z.TXT) == 0 && !txtNone {
			z.TXT = spfRecords
		}
		zones[name] = z
	}
	return zones, nil
}

func fqdn(s string) string {
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
