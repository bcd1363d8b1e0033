package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
)

// TestUserKeyPasswordResets walks the password changes of an account in
// user-key mode through the API: what a reset would do is shown first, a
// reset that would lose the mail is refused unless asked for, the
// domain's recovery key keeps the mail readable, and the user's own change
// re-seals the key.
func TestUserKeyPasswordResets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addDomain("example.com")
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"encryption_mode": "user"}, nil)
	e.addUser("ann@example.com", "ann-password-1")
	ann, err := e.store.GetUser(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	msg := "Subject: kept\r\n\r\nRESET-MARKER body\r\n"
	if _, err := e.store.Deliver(ctx, mailstore.Delivery{Targets: []mailstore.DeliveryTarget{{UserID: ann.ID}}, Body: strings.NewReader(msg)}); err != nil {
		t.Fatal(err)
	}
	reads := func(password string) bool {
		t.Helper()
		_, key, err := e.store.OpenMailSession(ctx, "ann@example.com", password, mailstore.ProtocolIMAP)
		if err != nil {
			t.Fatalf("log in with %q: %v", password, err)
		}
		mb, _ := e.store.GetMailbox(ctx, ann.ID, mailstore.Inbox)
		msgs, _ := e.store.ListMessages(ctx, mb.ID, nil)
		b, err := e.store.OpenMessage(key.Context(ctx), &msgs[0])
		if err != nil {
			return false
		}
		defer b.Close()
		got, err := io.ReadAll(b)
		return err == nil && string(got) == msg
	}
	encryption := func() mailstore.UserEncryption {
		t.Helper()
		var ue mailstore.UserEncryption
		e.must(http.StatusOK, "GET", "/api/v1/users/ann@example.com/encryption", e.admin, nil, &ue)
		return ue
	}
	if ue := encryption(); ue.Mode != "user" || !ue.HasKey || ue.ResetEffect != mailstore.ResetMailUnreadable {
		t.Fatalf("before a recovery key: %+v", ue)
	}
	if !reads("ann-password-1") {
		t.Fatal("ann cannot read her mail")
	}

	// A reset that would make the mail unreadable needs saying so.
	e.problem(http.StatusConflict, "conflict", "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"password": "ann-password-2"})

	// With a recovery key (the key gets its copy when ann signs in).
	var rk struct {
		PrivateKey string `json:"private_key"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/domains/example.com/recovery-key", e.admin, nil, &rk)
	e.login("ann@example.com", "ann-password-1")
	if ue := encryption(); !ue.Recoverable || ue.ResetEffect != mailstore.ResetNeedsRecovery {
		t.Fatalf("with a recovery key: %+v", ue)
	}
	e.problem(http.StatusUnprocessableEntity, "validation", "PATCH", "/api/v1/users/ann@example.com", e.admin,
		map[string]any{"password": "ann-password-2", "recovery_key": "AGE-SECRET-KEY-1NOTAKEY"})
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"password": "ann-password-2", "recovery_key": rk.PrivateKey}, nil)
	if !reads("ann-password-2") {
		t.Fatal("the mail is unreadable after a reset with the recovery key")
	}

	// Her own change re-seals the key.
	tok := e.login("ann@example.com", "ann-password-2")
	e.must(http.StatusNoContent, "POST", "/api/v1/me/password", tok, map[string]any{"current_password": "ann-password-2", "new_password": "ann-password-3"}, nil)
	if !reads("ann-password-3") {
		t.Fatal("the mail is unreadable after her own password change")
	}

	// App passwords need the account password to get a copy of the key.
	tok = e.login("ann@example.com", "ann-password-3")
	p := e.problem(http.StatusUnprocessableEntity, "validation", "POST", "/api/v1/me/app-passwords", tok, map[string]any{"name": "phone", "protocols": []string{"imap"}})
	if f := fieldsOf(p); len(f) != 1 || f[0] != "current_password" {
		t.Fatalf("app password without the account password: %v", f)
	}
	var created struct{ Password string }
	e.must(http.StatusCreated, "POST", "/api/v1/me/app-passwords", tok, map[string]any{"name": "phone", "protocols": []string{"imap"}, "current_password": "ann-password-3"}, &created)
	if !reads(created.Password) {
		t.Fatal("the app password does not read the mail")
	}

	// Without a recovery key, a reset makes the old mail unreadable.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/example.com/recovery-key", e.admin, nil, nil)
	if ue := encryption(); ue.Recoverable || ue.ResetEffect != mailstore.ResetMailUnreadable {
		t.Fatalf("after removing the recovery key: %+v", ue)
	}
	e.problem(http.StatusConflict, "conflict", "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"password": "ann-password-4"})
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"password": "ann-password-4", "discard_encrypted_mail": true}, nil)
	if reads("ann-password-4") {
		t.Fatal("the old mail is still readable after a reset that discarded the key")
	}
}
