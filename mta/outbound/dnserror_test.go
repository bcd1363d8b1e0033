package outbound

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// TestDNSErrorNamesServerAsked checks that the error of a failed MX lookup,
// which becomes the queue's last_error, names the DNS server that was
// asked (YUBIN_DNS), not the system's resolver.
func TestDNSErrorNamesServerAsked(t *testing.T) {
	srv, err := mockdns.NewServerWithLogger(map[string]mockdns.Zone{
		"broken.test.": {Err: errors.New("server failure")},
	}, testLogger{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	w := &Worker{opts: Options{Resolver: dnsresolve.New(dnsresolve.Options{Server: srv.LocalAddr().String(), Timeout: 2 * time.Second, CacheSize: -1})}}
	_, err = w.route(context.Background(), "broken.test")
	var f failure
	if !errors.As(err, &f) {
		t.Fatalf("route: %v (%T), want a failure", err, err)
	}
	if f.permanent || !strings.Contains(f.text, srv.LocalAddr().String()) {
		t.Errorf("failure %+v, want a temporary one naming %s", f, srv.LocalAddr())
	}
}
