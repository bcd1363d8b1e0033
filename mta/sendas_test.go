package mta

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
)

// TestSubmissionSendAs checks the send-as rights over a real submission
// socket: without a right, an address that is neither the user's nor one
// of their aliases is refused as envelope sender and as From; with one, it
// and its subaddress form are accepted, and the message is DKIM-signed for
// that address's domain; once revoked, refused again.
func TestSubmissionSendAs(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	ctx := context.Background()
	const shared = "carl@example.org" // an account of another domain, used as a shared one
	const info = "info@example.com"   // an alias that does not reach ann
	if _, err := ts.store.CreateAlias(ctx, info, []string{bob}); err != nil {
		t.Fatal(err)
	}
	c := login(t, ts, ann)
	for _, from := range []string{shared, info, "info+shop@example.com"} {
		wantCode(t, c.Mail(from, nil), 553, smtp.EnhancedCode{5, 7, 1})
		_, err := sendOn(c, ann, []string{bob}, msgFrom(from, bob, "forged"), nil)
		wantCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})
	}

	for _, addr := range []string{shared, info} {
		if _, err := ts.store.GrantSendAs(ctx, ann, addr); err != nil {
			t.Fatal(err)
		}
	}
	before := len(inbox(t, ts.store, bob))
	for _, tc := range []struct{ from, domain string }{
		{shared, "example.org"},
		{"Carl+Shop@example.org", "example.org"},
		{"Info Desk <info+shop@example.com>", "example.com"},
	} {
		env := tc.from
		if i := strings.IndexByte(env, '<'); i >= 0 {
			env = strings.TrimSuffix(env[i+1:], ">")
		}
		if _, err := sendOn(c, env, []string{bob}, msgFrom(tc.from, bob, "as "+tc.from), nil); err != nil {
			t.Fatalf("send as %s: %v", tc.from, err)
		}
		got := inbox(t, ts.store, bob)
		stored := stripDelivery(t, got[len(got)-1])
		vs, err := dkim.VerifyWithOptions(strings.NewReader(stored), &dkim.VerifyOptions{LookupTXT: anyDomainTXT(dkimKeys(t))})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("send as %s: %d signatures, want 2", tc.from, len(vs))
		}
		for _, v := range vs {
			if v.Err != nil || v.Domain != tc.domain {
				t.Errorf("send as %s: signature of domain %q (want %q), err %v", tc.from, v.Domain, tc.domain, v.Err)
			}
		}
	}
	if got := len(inbox(t, ts.store, bob)); got != before+3 {
		t.Fatalf("bob has %d new messages, want 3", got-before)
	}

	// The right is ann's alone: bob may not send as carl@.
	cb := login(t, ts, bob)
	wantCode(t, cb.Mail(shared, nil), 553, smtp.EnhancedCode{5, 7, 1})
	// Others' addresses stay refused for ann.
	wantCode(t, c.Mail("bob@example.com", nil), 553, smtp.EnhancedCode{5, 7, 1})
	_, err := sendOn(c, shared, []string{bob}, msgFrom(shared+", "+bob, bob, "mixed"), nil)
	wantCode(t, err, 553, smtp.EnhancedCode{5, 7, 1})

	// Revoked: refused again.
	if err := ts.store.RevokeSendAs(ctx, ann, shared); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Mail(shared, nil), 553, smtp.EnhancedCode{5, 7, 1})
	// Deleting the alias takes its rights with it.
	if err := ts.store.DeleteAlias(ctx, info); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.store.ListSendAs(ctx, ann); err != nil || len(got) != 0 {
		t.Fatalf("rights left after revoke and alias deletion: %v, %v", got, err)
	}
	wantCode(t, c.Mail(info, nil), 553, smtp.EnhancedCode{5, 7, 1})
}

// anyDomainTXT answers the DKIM key queries of the test keys for every
// domain.
func anyDomainTXT(k *testKeys) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		sel, _, ok := strings.Cut(name, "._domainkey.")
		if !ok || k.records[sel] == "" {
			return nil, fmt.Errorf("no TXT record for %s", name)
		}
		return []string{k.records[sel]}, nil
	}
}
