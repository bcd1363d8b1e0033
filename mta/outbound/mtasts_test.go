package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/core/mtasts"
	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// policyHost serves the MTA-STS policy of remote.test over HTTPS on
// loopback, with a certificate for mta-sts.remote.test from a CA of the
// test, and returns a policy client that fetches it there, trusting that
// CA, with the TXT record in DNS.
func policyHost(t *testing.T, policy string) (*mtasts.Client, *dnsresolve.Resolver) {
	t.Helper()
	tc := testpeer.NewTestCert(t, "mta-sts.remote.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.remote.test" || r.URL.Path != mtasts.WellKnownPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(policy))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tc.Cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	zones := map[string]mockdns.Zone{
		"remote.test.":          {MX: []net.MX{{Host: "mx.remote.test.", Pref: 10}}},
		"mx.remote.test.":       {A: []string{"127.0.0.1"}},
		"_mta-sts.remote.test.": {TXT: []string{"v=STSv1; id=20261207;"}},
	}
	dns, err := mockdns.NewServerWithLogger(zones, testLogger{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	res := dnsresolve.New(dnsresolve.Options{Server: dns.LocalAddr().String(), Timeout: 2 * time.Second, CacheSize: -1})
	client := mtasts.NewClient(mtasts.Options{Resolver: res, RootCAs: tc.Roots,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != "mta-sts.remote.test:443" {
				t.Errorf("policy fetched from %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}})
	return client, res
}

// TestMTASTS: issue 18 item 2. Outbound delivery to remote.test, whose
// MTA-STS policy is fetched over HTTPS from a loopback policy host, to
// the loopback receiving MTA mx.remote.test (STARTTLS, a self-signed
// certificate): under enforce the message goes only to a listed MX with
// a certificate valid for its name, else it is deferred; under testing it
// is delivered whatever the certificate.
func TestMTASTS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    string
		trustMX   bool // the MX's certificate chains to MXRootCAs
		delivered bool
		lastError string
	}{
		{"enforce, listed MX, valid certificate", "version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n", true, true, ""},
		{"enforce, wildcard", "version: STSv1\nmode: enforce\nmx: *.remote.test\nmax_age: 86400\n", true, true, ""},
		{"enforce, certificate not trusted", "version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n", false, false, "certificate"},
		{"enforce, MX not listed", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n", true, false, "MTA-STS"},
		{"testing, MX not listed, certificate not trusted", "version: STSv1\nmode: testing\nmx: mx.elsewhere.test\nmax_age: 86400\n", false, true, ""},
		{"none", "version: STSv1\nmode: none\nmax_age: 86400\n", false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, snk, clk := testStore(t), newSink(t), newClock()
			client, res := policyHost(t, tc.policy)
			mxRoots := x509.NewCertPool()
			if tc.trustMX {
				mxRoots.AddCert(snk.tls.Certificates[0].Leaf)
			}
			w := testWorker(t, st, snk, clk, func(o *Options) {
				o.Resolver = res
				o.TLSPolicy = client
				o.MXRootCAs = mxRoots
			})
			enqueue(t, st, "ann@local.test", "bob@remote.test")
			process(t, w)
			got := snk.got()
			if !tc.delivered {
				q := queued(t, st)
				if len(got) != 0 || len(q) != 1 || q[0].Recipients[0].Status != "queued" || q[0].Recipients[0].LastCode != 451 ||
					!strings.Contains(q[0].Recipients[0].LastError, tc.lastError) {
					t.Fatalf("delivered %d; queue %+v; want deferred with %q", len(got), q, tc.lastError)
				}
				return
			}
			if len(got) != 1 || !got[0].tls {
				t.Fatalf("sink got %+v, want one message over TLS", got)
			}
		})
	}
}
