package authn

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// testLogger adapts t.Logf to mockdns.Logger, without the per-query trace.
type testLogger struct{ t testing.TB }

func (l testLogger) Printf(f string, args ...any) {
	if !strings.HasPrefix(f, "DNS TRACE") {
		l.t.Logf(f, args...)
	}
}

// startDNS serves zones on loopback and returns a resolver asking it.
func startDNS(t testing.TB, zones map[string]mockdns.Zone) *dnsresolve.Resolver {
	t.Helper()
	srv, err := mockdns.NewServerWithLogger(zones, testLogger{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return dnsresolve.New(dnsresolve.Options{Server: srv.LocalAddr().String(), Timeout: 2 * time.Second})
}

// Test keys, generated once.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// rsaRecord and edRecord are the DKIM key records (RFC 6376 section 3.6.1,
// RFC 8463 section 4.2) of the test keys.
func rsaRecord() string {
	der, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
	if err != nil {
		panic(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

func edRecord() string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edKey().Public().(ed25519.PublicKey))
}

// crlf turns the line ends of s into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// newMail returns a message from the author from, with a Message-ID.
func newMail(from, msgID string) string {
	return crlf("From: Alice <" + from + ">\n" +
		"To: bob@yubin.test\n" +
		"Subject: Lunch?\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\n" +
		"Message-ID: <" + msgID + ">\n" +
		"\n" +
		"Shall we meet at noon?\n" +
		"Alice\n")
}

// sign returns msg with a DKIM signature by signer for domain and selector
// prepended.
func sign(t testing.TB, msg, domain, selector string, signer crypto.Signer) string {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// message returns the filters.Message for raw sent from ip with the
// reverse path mailFrom.
func message(raw, ip, helo, mailFrom string) *filters.Message {
	conn := filters.ConnInfo{
		RemoteAddr: netip.AddrPortFrom(netip.MustParseAddr(ip), 52525),
		HELO:       helo,
		Hostname:   "mx.yubin.test",
	}
	env := filters.Envelope{MailFrom: mailFrom, Recipients: []string{"bob@yubin.test"}}
	return filters.NewMessage(conn, env, strings.NewReader(raw), int64(len(raw)))
}
