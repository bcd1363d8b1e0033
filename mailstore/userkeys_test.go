package mailstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
)

// readAll reads message m of a mailbox with the keys ctx carries.
func readMessage(ctx context.Context, s *Store, m *MessageMeta) (string, error) {
	b, err := s.OpenMessage(ctx, m)
	if err != nil {
		return "", err
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	return string(got), err
}

func inboxMetas(t *testing.T, s *Store, userID int64) []MessageMeta {
	t.Helper()
	mb, err := s.GetMailbox(context.Background(), userID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListMessages(context.Background(), mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestUserKeyMode(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	dir := t.TempDir()
	s := openStoreAt(t, dir, sealer)
	defer s.Close()
	for _, d := range []string{"user.test", "server.test"} {
		if _, err := s.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mode := EncryptionUser
	if _, err := s.UpdateDomain(ctx, "user.test", DomainUpdate{EncryptionMode: &mode}); err != nil {
		t.Fatal(err)
	}
	bad := "secret"
	if _, err := s.UpdateDomain(ctx, "user.test", DomainUpdate{EncryptionMode: &bad}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("mode %q: %v", bad, err)
	}
	ann, err := s.CreateUser(ctx, NewUser{Address: "ann@user.test", Password: "ann-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := s.CreateUser(ctx, NewUser{Address: "cat@user.test", Password: "cat-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, NewUser{Address: "bob@server.test", Password: "bob-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := s.GetUserEncryption(ctx, "ann@user.test"); err != nil || e.Mode != EncryptionUser || !e.HasKey || e.ResetEffect != ResetMailUnreadable {
		t.Fatalf("ann's encryption: %+v %v", e, err)
	}
	if e, err := s.GetUserEncryption(ctx, "bob@server.test"); err != nil || e.Mode != EncryptionServer || e.HasKey || e.ResetEffect != ResetKeepsMail {
		t.Fatalf("bob's encryption: %+v %v", e, err)
	}

	// One delivery to all three: shared prefix for ann and bob, own ones
	// for cat; every user-key user gets a body of their own.
	msg := "From: x@example.org\r\nSubject: private\r\n\r\nUSERKEY-MARKER-5d1 the text\r\n"
	res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{
		{UserID: ann.ID}, {UserID: bob.ID}, {UserID: cat.ID, HeaderPrefix: "Delivered-To: cat@user.test\r\n"},
	}, Body: strings.NewReader(msg)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if hits := grepBlobs(t, dir, "USERKEY-MARKER-5d1"); len(hits) > 0 {
		t.Fatalf("plaintext on disk: %v", hits)
	}
	annMsg := inboxMetas(t, s, ann.ID)[0]
	catMsg := inboxMetas(t, s, cat.ID)[0]
	bobMsg := inboxMetas(t, s, bob.ID)[0]
	if annMsg.BlobKey == bobMsg.BlobKey || annMsg.BlobKey == catMsg.BlobKey {
		t.Fatal("a user-key body is shared with another user")
	}
	// Without the password: the store (with the server key) cannot read it.
	if _, err := readMessage(ctx, s, &annMsg); !errors.Is(err, ErrBodyLocked) {
		t.Fatalf("read ann's mail without her key: %v", err)
	}
	if got, err := readMessage(ctx, s, &bobMsg); err != nil || got != msg {
		t.Fatalf("bob's mail with the server key: %q %v", got, err)
	}
	// The wrong password logs in nobody and unlocks nothing.
	if _, _, err := s.OpenMailSession(ctx, "ann@user.test", "wrong-password", ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	// Cat's key does not open Ann's mail.
	_, catKey, err := s.OpenMailSession(ctx, "cat@user.test", "cat-password-1", ProtocolIMAP)
	if err != nil || catKey == nil {
		t.Fatalf("cat's session: %v %v", catKey, err)
	}
	if got, err := readMessage(catKey.Context(ctx), s, &catMsg); err != nil || got != "Delivered-To: cat@user.test\r\n"+msg {
		t.Fatalf("cat's mail: %q %v", got, err)
	}
	if _, err := readMessage(catKey.Context(ctx), s, &annMsg); err == nil {
		t.Fatal("cat's key opened ann's mail")
	}
	login := func(pw string) *MailKey {
		t.Helper()
		_, key, err := s.OpenMailSession(ctx, "ann@user.test", pw, ProtocolPOP3)
		if err != nil || key == nil {
			t.Fatalf("ann's session: %v %v", key, err)
		}
		return key
	}
	key := login("ann-password-1")
	if got, err := readMessage(key.Context(ctx), s, &annMsg); err != nil || got != msg {
		t.Fatalf("ann's mail with her key: %q %v", got, err)
	}

	// APPEND seals to her key too.
	if _, err := s.Append(ctx, ann.ID, "Drafts", strings.NewReader("Subject: draft\r\n\r\nDRAFT-MARKER-77 text\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if hits := grepBlobs(t, dir, "DRAFT-MARKER-77"); len(hits) > 0 {
		t.Fatalf("appended plaintext on disk: %v", hits)
	}

	// A password change with the current password re-seals the key.
	if err := s.SetPassword(ctx, "ann@user.test", "ann-password-2"); !errors.Is(err, ErrKeyWouldBeLost) || !errors.Is(err, core.ErrConflict) {
		t.Fatalf("reset without saying what becomes of the key: %v", err)
	}
	if err := s.ChangePassword(ctx, "ann@user.test", "ann-password-2", KeyHandling{CurrentPassword: "ann-password-1"}); err != nil {
		t.Fatal(err)
	}
	key = login("ann-password-2")
	if got, err := readMessage(key.Context(ctx), s, &annMsg); err != nil || got != msg {
		t.Fatalf("after the password change: %q %v", got, err)
	}

	// App passwords: one needs the account password to get a copy of the key.
	if _, _, err := s.CreateAppPassword(ctx, "ann@user.test", NewAppPassword{Name: "phone", Protocols: []string{ProtocolIMAP}}); !errors.Is(err, ErrKeyNeedsPassword) {
		t.Fatalf("app password without the account password: %v", err)
	}
	if _, _, err := s.CreateAppPassword(ctx, "ann@user.test", NewAppPassword{Name: "phone", Protocols: []string{ProtocolIMAP}, AccountPassword: "nope-nope-nope"}); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("app password with a wrong account password: %v", err)
	}
	_, secret, err := s.CreateAppPassword(ctx, "ann@user.test", NewAppPassword{Name: "phone", Protocols: []string{ProtocolIMAP}, AccountPassword: "ann-password-2"})
	if err != nil {
		t.Fatal(err)
	}
	_, apKey, err := s.OpenMailSession(ctx, "ann@user.test", strings.ToUpper(secret), ProtocolIMAP)
	if err != nil || apKey == nil {
		t.Fatalf("app password session: %v %v", apKey, err)
	}
	if got, err := readMessage(apKey.Context(ctx), s, &annMsg); err != nil || got != msg {
		t.Fatalf("with the app password: %q %v", got, err)
	}

	// Admin reset with the domain's recovery key. The key gets its
	// recovery copy at the next login.
	recovery, _, err := s.CreateDomainRecoveryKey(ctx, "user.test")
	if err != nil || !strings.HasPrefix(recovery, "AGE-SECRET-KEY-1") {
		t.Fatalf("recovery key: %q %v", recovery, err)
	}
	if e, _ := s.GetUserEncryption(ctx, "ann@user.test"); e.Recoverable || e.ResetEffect != ResetMailUnreadable {
		t.Fatalf("recoverable before the next login: %+v", e)
	}
	login("ann-password-2")
	if e, _ := s.GetUserEncryption(ctx, "ann@user.test"); !e.Recoverable || e.ResetEffect != ResetNeedsRecovery {
		t.Fatalf("not recoverable after the login: %+v", e)
	}
	other, _, _ := s.CreateDomainRecoveryKey(ctx, "server.test")
	if err := s.ChangePassword(ctx, "ann@user.test", "ann-password-3", KeyHandling{RecoveryKey: other}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("reset with another domain's recovery key: %v", err)
	}
	if err := s.ChangePassword(ctx, "ann@user.test", "ann-password-3", KeyHandling{RecoveryKey: recovery}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OpenMailSession(ctx, "ann@user.test", secret, ProtocolIMAP); err == nil {
		t.Fatal("the app password survived the reset")
	}
	key = login("ann-password-3")
	if got, err := readMessage(key.Context(ctx), s, &annMsg); err != nil || got != msg {
		t.Fatalf("after the recovery reset: %q %v", got, err)
	}

	// Without a recovery key, a reset makes the old mail unreadable.
	if _, err := s.DeleteDomainRecoveryKey(ctx, "user.test"); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.GetUserEncryption(ctx, "ann@user.test"); e.Recoverable || e.ResetEffect != ResetMailUnreadable {
		t.Fatalf("recoverable without a recovery key: %+v", e)
	}
	if err := s.ChangePassword(ctx, "ann@user.test", "ann-password-4", KeyHandling{RecoveryKey: recovery}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("reset with a deleted recovery key: %v", err)
	}
	if err := s.ChangePassword(ctx, "ann@user.test", "ann-password-4", KeyHandling{DiscardKey: true}); err != nil {
		t.Fatal(err)
	}
	key = login("ann-password-4")
	if _, err := readMessage(key.Context(ctx), s, &annMsg); !errors.Is(err, ErrBodyLocked) && !errors.Is(err, ErrBodyCorrupt) {
		t.Fatalf("old mail after a reset without recovery: %v", err)
	}
	if _, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: ann.ID}}, Body: strings.NewReader(msg)}); err != nil {
		t.Fatal(err)
	}
	msgs := inboxMetas(t, s, ann.ID)
	if got, err := readMessage(key.Context(ctx), s, &msgs[len(msgs)-1]); err != nil || got != msg {
		t.Fatalf("new mail after the reset: %q %v", got, err)
	}

	// A user who predates user-key mode gets a key at the first login.
	mode = EncryptionUser
	if _, err := s.UpdateDomain(ctx, "server.test", DomainUpdate{EncryptionMode: &mode}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.GetUserEncryption(ctx, "bob@server.test"); e.Mode != EncryptionUser || e.HasKey {
		t.Fatalf("bob before his login: %+v", e)
	}
	_, bobKey, err := s.OpenMailSession(ctx, "bob@server.test", "bob-password-1", ProtocolIMAP)
	if err != nil || bobKey == nil {
		t.Fatalf("bob's first user-key login: %v %v", bobKey, err)
	}
	if got, err := readMessage(bobKey.Context(ctx), s, &bobMsg); err != nil || got != msg {
		t.Fatalf("bob's server-key mail in his session: %q %v", got, err)
	}
	if e, _ := s.GetUserEncryption(ctx, "bob@server.test"); !e.HasKey || !e.Recoverable {
		t.Fatalf("bob after his login: %+v", e)
	}

	// Released from quarantine: the user-key recipient gets a copy sealed
	// to her key; the held body (server key) is freed.
	q, err := s.Quarantine(ctx, QuarantineInput{Recipients: []string{"cat@user.test"}, Body: strings.NewReader("Subject: held\r\n\r\nHELD-MARKER-31 text\r\n"), Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseQuarantined(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	cm := inboxMetas(t, s, cat.ID)
	released := cm[len(cm)-1]
	if released.BlobKey == q.BlobKey {
		t.Fatal("the released message shares the held body (server key)")
	}
	if _, err := readMessage(ctx, s, &released); !errors.Is(err, ErrBodyLocked) {
		t.Fatalf("released mail without cat's key: %v", err)
	}
	if got, err := readMessage(catKey.Context(ctx), s, &released); err != nil || !strings.Contains(got, "HELD-MARKER-31") {
		t.Fatalf("released mail with cat's key: %q %v", got, err)
	}
	if _, err := s.blobs.Open(ctx, q.BlobKey); err == nil {
		t.Fatal("the held body was not freed")
	}
}

func TestMoveMailToUserKeys(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	dir := t.TempDir()
	s := openStoreAt(t, dir, sealer)
	defer s.Close()
	if _, err := s.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	ann, err := s.CreateUser(ctx, NewUser{Address: "ann@example.test", Password: "ann-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, NewUser{Address: "bob@example.test", Password: "bob-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Under the server key: one message of ann's own, one shared with bob.
	own := "Subject: own\r\n\r\nOWN-MARKER\r\n"
	shared := "Subject: shared\r\n\r\nSHARED-MARKER\r\n"
	for _, d := range []Delivery{
		{Targets: []DeliveryTarget{{UserID: ann.ID}}, Body: strings.NewReader(own)},
		{Targets: []DeliveryTarget{{UserID: ann.ID}, {UserID: bob.ID}}, Body: strings.NewReader(shared)},
	} {
		if _, err := s.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mode := EncryptionUser
	if _, err := s.UpdateDomain(ctx, "example.test", DomainUpdate{EncryptionMode: &mode}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MoveMailToUserKeys(ctx); err != nil || n != 0 {
		t.Fatalf("move before anyone has a key: %d %v", n, err)
	}
	_, key, err := s.OpenMailSession(ctx, "ann@example.test", "ann-password-1", ProtocolIMAP)
	if err != nil || key == nil {
		t.Fatalf("ann's first user-key login: %v %v", key, err)
	}
	if n, err := s.MoveMailToUserKeys(ctx); err != nil || n != 1 {
		t.Fatalf("moved %d bodies (%v), want 1", n, err)
	}
	if n, err := s.MoveMailToUserKeys(ctx); err != nil || n != 0 {
		t.Fatalf("second pass moved %d bodies (%v), want 0", n, err)
	}
	msgs := inboxMetas(t, s, ann.ID)
	if _, err := readMessage(ctx, s, &msgs[0]); !errors.Is(err, ErrBodyLocked) {
		t.Fatalf("ann's own old mail with the server key after the move: %v", err)
	}
	if got, err := readMessage(key.Context(ctx), s, &msgs[0]); err != nil || got != own {
		t.Fatalf("ann's own old mail with her key: %q %v", got, err)
	}
	// The body bob shares stays under the server key, readable by both.
	if got, err := readMessage(ctx, s, &msgs[1]); err != nil || got != shared {
		t.Fatalf("the shared body: %q %v", got, err)
	}
	if hits := grepBlobs(t, dir, "OWN-MARKER"); len(hits) > 0 {
		t.Fatalf("plaintext on disk: %v", hits)
	}

	// A shared account (no login of its own) stays under the server key.
	info, err := s.CreateSharedAccount(ctx, NewUser{Address: "info@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: info.ID}}, Body: strings.NewReader(own)}); err != nil {
		t.Fatal(err)
	}
	im := inboxMetas(t, s, info.ID)
	if got, err := readMessage(ctx, s, &im[0]); err != nil || got != own {
		t.Fatalf("the shared account's mail with the server key: %q %v", got, err)
	}
}
