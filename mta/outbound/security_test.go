package outbound

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/queue"
)

// oneDomainKeys is an mta.DKIMSource with one key, for one domain.
type oneDomainKeys struct {
	domain string
	key    ed25519.PrivateKey
}

func (k oneDomainKeys) Signers(_ context.Context, domain string) ([]crypto.Signer, []string, error) {
	if domain != k.domain {
		return nil, nil, fmt.Errorf("keys of %s: %w", domain, core.ErrNotFound)
	}
	return []crypto.Signer{k.key}, []string{"sel"}, nil
}

// TestBounceToRemoteSenderIsSigned: issue 13 item 8. A notification from
// MAILER-DAEMON that goes elsewhere is DKIM-signed, here for the parent
// domain of the host name (mail.local.test), which DMARC aligns with.
func TestBounceToRemoteSenderIsSigned(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := oneDomainKeys{domain: "local.test", key: key}
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, func(o *Options) {
		o.SignDKIM = func(ctx context.Context, domain string, msg io.Reader) (string, error) {
			return mta.SignDKIM(ctx, src, domain, msg)
		}
	})
	enqueue(t, st, "someone@elsewhere.test", "x@nullmx.test")
	process(t, w)
	got := snk.got()
	if len(got) != 1 || got[0].from != "" {
		t.Fatalf("sink got %+v, want the bounce", got)
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(got[0].data), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if name != "sel._domainkey.local.test" {
			return nil, fmt.Errorf("no TXT for %s", name)
		}
		return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "local.test" {
		t.Fatalf("bounce signatures: %+v, %v", vs, err)
	}
	checkDSN(t, got[0].data, "failed")
}

// TestBareCRNormalisedOnTheWire: issue 11 item 9. Whatever a queued body
// holds, only CRLF ends a line on the wire: "hello\r.\rMAIL FROM:..."
// cannot end the data at a receiver that takes <CR>.<CR> for its end.
func TestBareCRNormalisedOnTheWire(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, nil)
	body := "From: ann@local.test\r\nSubject: x\r\n\r\nhello\r.\rMAIL FROM:<boss@local.test>\rRCPT TO:<v@remote.test>\r\n"
	if _, err := st.queue.Enqueue(context.Background(), queue.Input{Body: strings.NewReader(body), From: "ann@local.test", Recipients: []string{"someone@remote.test"}}); err != nil {
		t.Fatal(err)
	}
	process(t, w)
	got := snk.got()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages", len(got))
	}
	data := got[0].data
	if strings.Count(data, "\r") != strings.Count(data, "\r\n") || !strings.Contains(data, "hello\r\n.\r\nMAIL FROM:<boss@local.test>\r\n") {
		t.Fatalf("sent %q", data)
	}
}
