package authn

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"blitiri.com.ar/go/spf"

	"github.com/yubinmail/yubin/filters"
)

// TestSPFMemo checks that Check reuses the SPF outcome of CheckSender only
// for the same client address, HELO name and sender.
func TestSPFMemo(t *testing.T) {
	a := newAuthenticator(t, Options{})
	ctx := context.Background()
	raw := newMail("alice@example.info", "memo@example.info")

	// At MAIL FROM: good IP, pass.
	good := message(raw, goodIP, "client.example.com", "alice@example.com")
	if v, err := a.CheckSender(ctx, good.Conn, "alice@example.com"); err != nil || v.Evidence[0].Result != "pass" {
		t.Fatalf("CheckSender = %+v, %v", v, err)
	}
	// Nothing else may get that pass.
	for _, tt := range []struct {
		name string
		msg  *filters.Message
		want string
	}{
		{"same identity", good, "pass"},
		{"other address", message(raw, badIP, "client.example.com", "alice@example.com"), "fail"},
		{"other sender", message(raw, goodIP, "client.example.com", "bob@example.net"), "pass"},
		{"other sender, failing", message(raw, badIP, "client.example.com", "bob@example.com"), "fail"},
		{"null sender", message(raw, badIP, "client.example.com", ""), "none"},
		{"other HELO", message(raw, goodIP, "mx.example.com", ""), "pass"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := check(t, a, tt.msg)
			if got := arResults(t, v)["spf"]; len(got) != 1 || got[0] != tt.want {
				t.Errorf("spf = %q, want %s", got, tt.want)
			}
		})
	}

	// A memoized outcome is the outcome: same field, same evidence.
	fresh := newAuthenticator(t, Options{})
	want := check(t, fresh, good)
	got := check(t, a, good)
	if got.AddHeaders[0].Value != want.AddHeaders[0].Value {
		t.Errorf("memoized A-R %q, fresh %q", got.AddHeaders[0].Value, want.AddHeaders[0].Value)
	}
	if got.Evidence[0] != want.Evidence[0] {
		t.Errorf("memoized evidence %+v, fresh %+v", got.Evidence[0], want.Evidence[0])
	}
}

func TestSPFMemoBounds(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	m := newSPFMemo(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	conn := filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.10:25"), HELO: "h.example.com"}
	k := spfKeyOf(conn, "a@example.com")

	// Temporary errors are not kept.
	m.put(k, spfOutcome{result: spf.TempError})
	if _, ok := m.get(k); ok {
		t.Error("temperror memoized")
	}
	m.put(k, spfOutcome{result: spf.Pass, domain: "example.com"})
	if o, ok := m.get(k); !ok || o.result != spf.Pass {
		t.Errorf("get = %v, %v; want pass", o.result, ok)
	}
	// The port does not matter, the address does, exactly.
	conn.RemoteAddr = netip.MustParseAddrPort("192.0.2.10:2525")
	if _, ok := m.get(spfKeyOf(conn, "a@example.com")); !ok {
		t.Error("other port: not found")
	}
	for _, c := range []filters.ConnInfo{
		{RemoteAddr: netip.MustParseAddrPort("192.0.2.11:25"), HELO: "h.example.com"},
		{RemoteAddr: netip.MustParseAddrPort("[::ffff:192.0.2.10]:25"), HELO: "h.example.com"},
		{RemoteAddr: netip.MustParseAddrPort("192.0.2.10:25"), HELO: "H.example.com"},
	} {
		if _, ok := m.get(spfKeyOf(c, "a@example.com")); ok {
			t.Errorf("%v %s: got another identity's outcome", c.RemoteAddr, c.HELO)
		}
	}
	if _, ok := m.get(spfKeyOf(conn, "A@example.com")); ok {
		t.Error("other sender: got another identity's outcome")
	}

	// Outcomes expire.
	advance(spfMemoTTL)
	if _, ok := m.get(k); ok {
		t.Error("expired outcome returned")
	}

	// The memo is bounded.
	for i := range 3 * spfMemoSize {
		c := conn
		c.RemoteAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 25)
		m.put(spfKeyOf(c, "a@example.com"), spfOutcome{result: spf.Pass})
	}
	if n := len(m.cur) + len(m.prev); n > spfMemoSize {
		t.Errorf("%d outcomes kept, want at most %d", n, spfMemoSize)
	}
}

// TestSPFMemoConcurrent runs CheckSender and Check from many goroutines
// for distinct clients (run with -race).
func TestSPFMemoConcurrent(t *testing.T) {
	a := newAuthenticator(t, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ip, want := goodIP, "pass"
			if i%2 == 1 {
				ip, want = badIP, "fail"
			}
			for range 10 {
				msg := message(newMail("alice@example.info", "c@example.info"), ip, "client.example.com", "alice@example.com")
				if _, err := a.CheckSender(ctx, msg.Conn, "alice@example.com"); err != nil {
					t.Error(err)
					return
				}
				v, err := a.Check(ctx, msg)
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.Contains(v.AddHeaders[0].Value, "spf="+want) {
					t.Errorf("%s: %s, want spf=%s", ip, v.AddHeaders[0].Value, want)
				}
			}
		})
	}
	wg.Wait()
}
