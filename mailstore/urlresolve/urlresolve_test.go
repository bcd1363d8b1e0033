package urlresolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/core/imapurl"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const message = "Subject: hi\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\none\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--B--\r\n"

func setup(t *testing.T) (*Resolver, *mailstore.User, uint32) {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	var alice *mailstore.User
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		u, err := st.CreateUser(ctx, mailstore.NewUser{Address: a, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if alice == nil {
			alice = u
		}
	}
	res, err := st.Deliver(ctx, mailstore.Delivery{Targets: []mailstore.DeliveryTarget{{UserID: alice.ID}}, Body: strings.NewReader(message)})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	return New(st), alice, res[0].UID
}

func mustParse(t *testing.T, s string) *imapurl.URL {
	t.Helper()
	u, err := imapurl.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The sections of a URL resolve like FETCH's, parts that do not exist are
// bad URLs, and a limit gives core.ErrTooLarge.
func TestFetchOwn(t *testing.T) {
	rv, alice, uid := setup(t)
	ctx := context.Background()
	me := imapurl.Requester{User: alice.Address}
	base := fmt.Sprintf("/INBOX/;UID=%d", uid)
	for _, c := range []struct{ url, want string }{
		{base + "/;SECTION=1", "one"},
		{base + "/;SECTION=2.HEADER", "Subject: inner\r\n\r\n"},
		{base + "/;SECTION=2.TEXT/;PARTIAL=6", "body"},
		{base + "/;SECTION=2.MIME", "Content-Type: message/rfc822\r\n\r\n"},
		{base + "/;PARTIAL=9.2", "hi"},
		{base + "/;PARTIAL=99999", ""},
	} {
		got, err := rv.Fetch(ctx, mustParse(t, c.url), me, 0)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.url, got, err, c.want)
		}
	}
	for _, bad := range []string{base + "/;SECTION=3", base + "/;SECTION=1.1.1", "/INBOX/;UID=99", "/Nope/;UID=1"} {
		if _, err := rv.Fetch(ctx, mustParse(t, bad), me, 0); !errors.Is(err, imapurl.ErrBadURL) {
			t.Errorf("%s: %v, want a bad URL", bad, err)
		}
	}
	if _, err := rv.Fetch(ctx, mustParse(t, base), me, 10); !errors.Is(err, core.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	// Without URLAUTH only the owner's own session may resolve it.
	for _, r := range []imapurl.Requester{{User: "bob@example.test"}, {User: alice.Address, Submit: true}, {}} {
		if _, err := rv.Fetch(ctx, mustParse(t, base), r, 0); !errors.Is(err, imapurl.ErrBadURL) {
			t.Errorf("plain URL for %+v: %v", r, err)
		}
	}
}

// A submit+ URL signed by its owner resolves for the submission server
// acting for the named user only, until the key is reset (BURL's check).
func TestSubmitURL(t *testing.T) {
	rv, alice, uid := setup(t)
	ctx := context.Background()
	rump := fmt.Sprintf("imap://alice%%40example.test@mail.test/INBOX/;UID=%d;URLAUTH=submit+bob%%40example.test", uid)
	signed, err := rv.Sign(ctx, alice.ID, alice.Address, mustParse(t, rump))
	if err != nil {
		t.Fatal(err)
	}
	u := mustParse(t, signed)
	if got, err := rv.Fetch(ctx, u, imapurl.Requester{User: "bob@example.test", Submit: true}, 0); err != nil || string(got) != message {
		t.Fatalf("submission for bob: %q, %v", got, err)
	}
	for _, r := range []imapurl.Requester{{User: "bob@example.test"}, {User: alice.Address, Submit: true}} {
		if _, err := rv.Fetch(ctx, u, r, 0); !errors.Is(err, imapurl.ErrAccess) {
			t.Errorf("%+v: %v, want ErrAccess", r, err)
		}
	}
	if _, err := rv.Sign(ctx, alice.ID, "bob@example.test", mustParse(t, rump)); !errors.Is(err, imapurl.ErrBadURL) {
		t.Errorf("signing another's URL: %v", err)
	}
	// EXPIRE is checked against the resolver's clock.
	exp, err := rv.Sign(ctx, alice.ID, alice.Address, mustParse(t, strings.Replace(rump, ";URLAUTH=", ";EXPIRE=2030-01-01T00:00:00Z;URLAUTH=", 1)))
	if err != nil {
		t.Fatal(err)
	}
	bob := imapurl.Requester{User: "bob@example.test", Submit: true}
	rv.Now = func() time.Time { return time.Date(2029, 12, 31, 23, 59, 59, 0, time.UTC) }
	if _, err := rv.Fetch(ctx, mustParse(t, exp), bob, 0); err != nil {
		t.Errorf("before EXPIRE: %v", err)
	}
	rv.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	if _, err := rv.Fetch(ctx, mustParse(t, exp), bob, 0); !errors.Is(err, imapurl.ErrExpired) {
		t.Errorf("at EXPIRE: %v", err)
	}
	rv.Now = nil
	if err := rv.ResetKeys(ctx, alice.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Fetch(ctx, u, imapurl.Requester{User: "bob@example.test", Submit: true}, 0); !errors.Is(err, imapurl.ErrBadURL) {
		t.Errorf("after RESETKEY: %v", err)
	}
}
