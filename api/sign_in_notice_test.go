package api

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// TestSignInNoticeFromNewPlace: with the setting on, a sign-in from a new
// network (not the first ever, not the same /24 again) puts a notice in the
// user's INBOX naming the address and browser; with it off, none.
func TestSignInNoticeFromNewPlace(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	ctx := context.Background()
	actor, kind, err := e.svc.Login(ctx, "ann@example.com", "ann-password")
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(ip string) {
		t.Helper()
		if _, err := e.svc.StartSession(ctx, actor, kind, time.Now().Add(time.Hour), service.ClientInfo{RemoteIP: ip, UserAgent: "Firefox/140.0"}); err != nil {
			t.Fatal(err)
		}
	}
	inbox := func() []string {
		t.Helper()
		u, _ := e.store.GetUser(ctx, "ann@example.com")
		mb, err := e.store.GetMailbox(ctx, u.ID, mailstore.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := e.store.ListMessages(ctx, mb.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			r, err := e.store.OpenMessage(ctx, &m)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			out = append(out, string(b))
		}
		return out
	}
	on := true
	if _, err := e.svc.UpdateSecurityPolicy(ctx, service.System(), mailstore.SecurityPolicyUpdate{NotifyNewSignIn: &on}); err != nil {
		t.Fatal(err)
	}
	signIn("192.0.2.10")   // the first place: no news
	signIn("192.0.2.99")   // the same /24
	signIn("198.51.100.7") // new
	got := inbox()
	if len(got) != 1 || !strings.Contains(got[0], "From:    198.51.100.7") || !strings.Contains(got[0], "Firefox/140.0") ||
		!strings.Contains(got[0], "Subject: New sign-in to your mail account") {
		t.Fatalf("INBOX after sign-ins from two networks: %q", got)
	}
	off := false
	if _, err := e.svc.UpdateSecurityPolicy(ctx, service.System(), mailstore.SecurityPolicyUpdate{NotifyNewSignIn: &off}); err != nil {
		t.Fatal(err)
	}
	signIn("203.0.113.5")
	if got := inbox(); len(got) != 1 {
		t.Errorf("a notice with the setting off: %d messages", len(got))
	}
}
