package dnsresolve

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"
)

// testLogger adapts t.Logf to mockdns.Logger.
type testLogger struct{ t *testing.T }

func (l testLogger) Printf(f string, args ...any) {
	if !strings.HasPrefix(f, "DNS TRACE") {
		l.t.Logf(f, args...)
	}
}

func startServer(t *testing.T, zones map[string]mockdns.Zone) *mockdns.Server {
	t.Helper()
	srv, err := mockdns.NewServerWithLogger(zones, testLogger{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

var testZones = map[string]mockdns.Zone{
	"example.org.": {
		A:    []string{"192.0.2.1"},
		AAAA: []string{"2001:db8::1"},
		TXT:  []string{"v=spf1 ip4:192.0.2.0/24 -all", "hello"},
		MX:   []net.MX{{Host: "mx2.example.org.", Pref: 20}, {Host: "mx1.example.org.", Pref: 10}},
	},
	"long.example.org.": {
		// Longer than 255 octets: served as several strings of one record.
		TXT: []string{longTXT},
	},
	"alias.example.org.": {CNAME: "example.org."},
	"broken.example.org.": {
		Err: errors.New("server failure"),
	},
	"1.2.0.192.in-addr.arpa.": {PTR: []string{"host.example.org."}},
}

var longTXT = func() string {
	b := make([]byte, 600)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}()

func newTestResolver(t *testing.T, srv *mockdns.Server, opts Options) *Resolver {
	opts.Server = srv.LocalAddr().String()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	return New(opts)
}

func TestLookups(t *testing.T) {
	srv := startServer(t, testZones)
	r := newTestResolver(t, srv, Options{})
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(txt)
	if want := []string{"hello", "v=spf1 ip4:192.0.2.0/24 -all"}; !slices.Equal(txt, want) {
		t.Errorf("LookupTXT = %q, want %q", txt, want)
	}

	txt, err = r.LookupTXT(ctx, "long.example.org.")
	if err != nil || len(txt) != 1 || txt[0] != longTXT {
		t.Errorf("LookupTXT(long) = %q, %v; want one record of %d octets", txt, err, len(longTXT))
	}

	txt, err = r.LookupTXT(ctx, "alias.example.org")
	if err != nil || len(txt) != 2 {
		t.Errorf("LookupTXT(alias) = %q, %v; want the records of the CNAME target", txt, err)
	}

	mx, err := r.LookupMX(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(mx) != 2 || mx[0].Host != "mx1.example.org." || mx[0].Pref != 10 || mx[1].Host != "mx2.example.org." {
		t.Errorf("LookupMX = %v, want mx1 (10), mx2 (20)", mx)
	}

	ips, err := r.LookupIPAddr(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ip := range ips {
		got = append(got, ip.IP.String())
	}
	slices.Sort(got)
	if want := []string{"192.0.2.1", "2001:db8::1"}; !slices.Equal(got, want) {
		t.Errorf("LookupIPAddr = %v, want %v", got, want)
	}

	hosts, err := r.LookupHost(ctx, "example.org")
	slices.Sort(hosts)
	if err != nil || !slices.Equal(hosts, []string{"192.0.2.1", "2001:db8::1"}) {
		t.Errorf("LookupHost = %v, %v", hosts, err)
	}

	names, err := r.LookupAddr(ctx, "192.0.2.1")
	if err != nil || !slices.Equal(names, []string{"host.example.org."}) {
		t.Errorf("LookupAddr = %v, %v; want host.example.org.", names, err)
	}
}

func TestErrors(t *testing.T) {
	srv := startServer(t, testZones)
	r := newTestResolver(t, srv, Options{})
	ctx := context.Background()

	// NXDOMAIN.
	_, err := r.LookupTXT(ctx, "nonexistent.example.org")
	if !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("NXDOMAIN: err = %v, IsNotFound %v, IsTemporary %v; want not found", err, IsNotFound(err), IsTemporary(err))
	}
	var de *net.DNSError
	if _, ok := err.(*net.DNSError); !ok {
		t.Errorf("NXDOMAIN: err is %T, want an unwrapped *net.DNSError", err)
	}
	// No record of the type (NODATA).
	_, err = r.LookupMX(ctx, "long.example.org")
	if !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("NODATA: err = %v, IsNotFound %v, IsTemporary %v; want not found", err, IsNotFound(err), IsTemporary(err))
	}
	// SERVFAIL.
	_, err = r.LookupTXT(ctx, "broken.example.org")
	if IsNotFound(err) || !IsTemporary(err) || !errors.As(err, &de) {
		t.Errorf("SERVFAIL: err = %v, IsNotFound %v, IsTemporary %v; want temporary", err, IsNotFound(err), IsTemporary(err))
	}
	if IsTemporary(nil) || IsNotFound(nil) {
		t.Error("nil error classified as temporary or not found")
	}
	if !IsTemporary(context.DeadlineExceeded) {
		t.Error("DeadlineExceeded not temporary")
	}
}

func TestTimeout(t *testing.T) {
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := New(Options{Server: pc.LocalAddr().String(), Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err = r.LookupTXT(context.Background(), "example.org")
	if !IsTemporary(err) || IsNotFound(err) {
		t.Errorf("err = %v; want a temporary error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("lookup took %v with a 200ms timeout", d)
	}
	// Temporary failures are not cached.
	if n := r.cache.len(); n != 0 {
		t.Errorf("cache has %d entries after a timeout, want 0", n)
	}
}

func TestCache(t *testing.T) {
	zones := map[string]mockdns.Zone{
		"example.org.": {TXT: []string{"one"}},
	}
	srv := startServer(t, zones)
	r := newTestResolver(t, srv, Options{})
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	r.cache.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "example.org")
	if err != nil || !slices.Equal(txt, []string{"one"}) {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}
	txt[0] = "mutated by the caller"
	if _, err := r.LookupTXT(ctx, "gone.example.org"); !IsNotFound(err) {
		t.Fatalf("LookupTXT(gone) = %v, want not found", err)
	}

	// Change the zone: cached answers still come back until they expire.
	if err := srv.AppendRR("gone.example.org.", 16 /* TXT */, "now here"); err != nil {
		t.Fatal(err)
	}
	srv.RemoveRR("example.org.", 16)
	if err := srv.AppendRR("example.org.", 16, "two"); err != nil {
		t.Fatal(err)
	}
	txt, err = r.LookupTXT(ctx, "EXAMPLE.org.")
	if err != nil || !slices.Equal(txt, []string{"one"}) {
		t.Errorf("cached LookupTXT = %q, %v; want [one]", txt, err)
	}
	if _, err := r.LookupTXT(ctx, "gone.example.org"); !IsNotFound(err) {
		t.Errorf("cached negative LookupTXT = %v, want not found", err)
	}

	// Negative answers expire after 30 s, positive ones after 60 s.
	advance(31 * time.Second)
	if txt, err := r.LookupTXT(ctx, "gone.example.org"); err != nil || !slices.Equal(txt, []string{"now here"}) {
		t.Errorf("after 31s: LookupTXT(gone) = %q, %v; want [now here]", txt, err)
	}
	if txt, _ := r.LookupTXT(ctx, "example.org"); !slices.Equal(txt, []string{"one"}) {
		t.Errorf("after 31s: LookupTXT = %q; want still cached [one]", txt)
	}
	advance(30 * time.Second)
	if txt, err := r.LookupTXT(ctx, "example.org"); err != nil || !slices.Equal(txt, []string{"two"}) {
		t.Errorf("after 61s: LookupTXT = %q, %v; want [two]", txt, err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(3, time.Minute, time.Minute, time.Now)
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, k, nil)
	}
	c.get("a") // a is now the most recently used
	c.put("d", "d", nil)
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	if _, _, ok := c.get("b"); ok {
		t.Error("b (least recently used) still cached")
	}
	for _, k := range []string{"a", "c", "d"} {
		if v, _, ok := c.get(k); !ok || v != k {
			t.Errorf("get(%q) = %v, %v", k, v, ok)
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	srv := startServer(t, map[string]mockdns.Zone{"example.org.": {TXT: []string{"one"}}})
	r := newTestResolver(t, srv, Options{CacheSize: -1})
	if r.cache != nil {
		t.Fatal("cache enabled with CacheSize -1")
	}
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	srv.RemoveRR("example.org.", 16)
	if err := srv.AppendRR("example.org.", 16, "two"); err != nil {
		t.Fatal(err)
	}
	if txt, _ := r.LookupTXT(ctx, "example.org"); !slices.Equal(txt, []string{"two"}) {
		t.Errorf("LookupTXT = %q, want [two] (no cache)", txt)
	}
}

func TestConcurrent(t *testing.T) {
	srv := startServer(t, testZones)
	r := newTestResolver(t, srv, Options{CacheSize: 2})
	names := []string{"example.org", "long.example.org", "alias.example.org", "nonexistent.example.org"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				r.LookupTXT(context.Background(), names[(i+j)%len(names)])
			}
		})
	}
	wg.Wait()
}

// TestErrorNamesServerAsked checks that with Options.Server set, a failed
// lookup's error names that server, not the system's resolver from
// /etc/resolv.conf that the standard library would name.
func TestErrorNamesServerAsked(t *testing.T) {
	srv := startServer(t, testZones)
	r := newTestResolver(t, srv, Options{})
	_, err := r.LookupTXT(context.Background(), "broken.example.org")
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *net.DNSError", err, err)
	}
	if want := srv.LocalAddr().String(); de.Server != want || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q names server %q, want %s", err, de.Server, want)
	}
}
