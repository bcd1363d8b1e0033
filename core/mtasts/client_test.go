package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// testCA makes a CA and a certificate it signs for names.
func testCA(t *testing.T, names ...string) (*x509.CertPool, tls.Certificate) {
	tc := testpeer.NewTestCert(t, names...)
	return tc.Roots, tc.Cert
}

// txtResolver answers TXT lookups from a map; a missing name is NXDOMAIN.
type txtResolver struct {
	mu  sync.Mutex
	txt map[string][]string
}

func (r *txtResolver) set(name string, txt ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txt[name] = txt
}

func (r *txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// policyServer is a loopback HTTPS server for mta-sts.example.test.
type policyServer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	status  int
	ctype   string
	body    string
}

func (s *policyServer) set(status int, ctype, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.ctype, s.body = status, ctype, body
}

func newPolicyServer(t *testing.T, cert tls.Certificate) *policyServer {
	s := &policyServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if r.URL.Path != WellKnownPath || r.Host != "mta-sts.example.test" {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		status, ctype, body := s.status, s.ctype, s.body
		s.mu.Unlock()
		if status == http.StatusFound {
			http.Redirect(w, r, "https://mta-sts.example.test/elsewhere", status)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

const testPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 3600\r\n"

// TestClientLookup fetches a policy over HTTPS from a loopback server with
// its own CA and follows RFC 8461's rules for caching and failures.
func TestClientLookup(t *testing.T) {
	roots, cert := testCA(t, "mta-sts.example.test")
	ps := newPolicyServer(t, cert)
	ps.set(200, "text/plain; charset=utf-8", testPolicy)
	res := &txtResolver{txt: map[string][]string{}}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "mta-sts.example.test:443" {
			t.Errorf("dialled %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, ps.srv.Listener.Addr().String())
	}
	c := NewClient(Options{Resolver: res, RootCAs: roots, DialContext: dial, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ctx := context.Background()

	if p := c.Lookup(ctx, "example.test"); p != nil || ps.fetches.Load() != 0 {
		t.Fatalf("without a TXT record: %+v, %d fetches", p, ps.fetches.Load())
	}
	res.set("_mta-sts.example.test", "v=spf1 -all", "v=STSv1; id=one;")
	p := c.Lookup(ctx, "Example.Test.")
	if p == nil || p.Mode != ModeEnforce || !p.Matches("mx.example.test") || p.MaxAge != time.Hour {
		t.Fatalf("policy %+v", p)
	}
	// Cached while the id stays.
	ps.set(500, "text/plain", "")
	if p := c.Lookup(ctx, "example.test"); p == nil || ps.fetches.Load() != 1 {
		t.Fatalf("cached: %+v, %d fetches", p, ps.fetches.Load())
	}
	// A new id fetches again; a failed fetch keeps the cached policy.
	res.set("_mta-sts.example.test", "v=STSv1; id=two;")
	if p := c.Lookup(ctx, "example.test"); p == nil || p.Mode != ModeEnforce || ps.fetches.Load() != 2 {
		t.Fatalf("failed refresh: %+v, %d fetches", p, ps.fetches.Load())
	}
	ps.set(200, "text/plain", "version: STSv1\nmode: testing\nmx: *.example.test\nmax_age: 600\n")
	if p := c.Lookup(ctx, "example.test"); p == nil || p.Mode != ModeTesting || ps.fetches.Load() != 3 {
		t.Fatalf("refreshed: %+v, %d fetches", p, ps.fetches.Load())
	}
	// The TXT record gone: the cached policy holds until its max_age.
	res.set("_mta-sts.example.test")
	if p := c.Lookup(ctx, "example.test"); p == nil || p.Mode != ModeTesting {
		t.Fatalf("without TXT, cached: %+v", p)
	}
	clock.Store(now.Add(11 * time.Minute).UnixNano())
	if p := c.Lookup(ctx, "example.test"); p != nil {
		t.Fatalf("after max_age: %+v", p)
	}
}

// TestClientFetchFailures: a policy is only taken from a 200 text/plain
// answer over HTTPS verified for mta-sts.DOMAIN, without redirects.
func TestClientFetchFailures(t *testing.T) {
	roots, cert := testCA(t, "mta-sts.example.test")
	otherRoots, _ := testCA(t, "mta-sts.example.test")
	wrongNameRoots, wrongName := testCA(t, "www.example.test") // a trusted CA, another name
	for _, tc := range []struct {
		name   string
		roots  *x509.CertPool
		cert   tls.Certificate
		status int
		ctype  string
		body   string
	}{
		{"untrusted CA", otherRoots, cert, 200, "text/plain", testPolicy},
		{"wrong name", wrongNameRoots, wrongName, 200, "text/plain", testPolicy},
		{"redirect", roots, cert, http.StatusFound, "", ""},
		{"not found", roots, cert, 404, "text/plain", testPolicy},
		{"media type", roots, cert, 200, "text/html", testPolicy},
		{"invalid policy", roots, cert, 200, "text/plain", "version: STSv1\nmode: enforce\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := newPolicyServer(t, tc.cert)
			ps.set(tc.status, tc.ctype, tc.body)
			res := &txtResolver{txt: map[string][]string{"_mta-sts.example.test": {"v=STSv1; id=1"}}}
			dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ps.srv.Listener.Addr().String())
			}
			c := NewClient(Options{Resolver: res, RootCAs: tc.roots, DialContext: dial})
			if p := c.Lookup(context.Background(), "example.test"); p != nil {
				t.Fatalf("policy %+v taken", p)
			}
			if ps.fetches.Load() > 0 && (tc.name == "untrusted CA" || tc.name == "wrong name") {
				t.Fatal("the request was sent over an unverified connection")
			}
		})
	}
}

// TestClientCacheFile: the policies cached survive a restart (a new
// Client on the same file), so that a policy host made unreachable then
// does not turn enforce off.
func TestClientCacheFile(t *testing.T) {
	roots, cert := testCA(t, "mta-sts.example.test")
	ps := newPolicyServer(t, cert)
	ps.set(200, "text/plain", testPolicy)
	res := &txtResolver{txt: map[string][]string{"_mta-sts.example.test": {"v=STSv1; id=one"}}}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, ps.srv.Listener.Addr().String())
	}
	file := filepath.Join(t.TempDir(), "mta-sts-cache.json")
	o := Options{Resolver: res, RootCAs: roots, DialContext: dial, CacheFile: file}
	if p := NewClient(o).Lookup(context.Background(), "example.test"); p == nil || p.Mode != ModeEnforce {
		t.Fatalf("first lookup: %+v", p)
	}
	ps.set(503, "text/plain", "")
	res.set("_mta-sts.example.test", "v=STSv1; id=two") // a refresh is due, and fails
	if p := NewClient(o).Lookup(context.Background(), "example.test"); p == nil || p.Mode != ModeEnforce || !p.Matches("mx.example.test") {
		t.Fatalf("after a restart: %+v", p)
	}
	if ps.fetches.Load() != 2 {
		t.Fatalf("%d fetches", ps.fetches.Load())
	}
	// An expired cache file entry is not used.
	o.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if p := NewClient(o).Lookup(context.Background(), "example.test"); p != nil {
		t.Fatalf("expired policy used: %+v", p)
	}
}
