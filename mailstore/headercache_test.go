package mailstore

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// checkHeaders fails unless every message of the mailbox has the cached
// header of its stored bytes.
func checkHeaders(t *testing.T, s *Store, mailboxID int64) []MessageMeta {
	t.Helper()
	metas, err := s.ListMessagesWithHeaders(context.Background(), mailboxID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range metas {
		want, _ := imapmsg.CachedHeader([]byte(readBody(t, s, &metas[i])), true)
		if !bytes.Equal(metas[i].CachedHeader, want) {
			t.Errorf("UID %d: cached header %q, want %q", metas[i].UID, metas[i].CachedHeader, want)
		}
	}
	return metas
}

// cachedHeaderRows counts the rows of the header cache.
func cachedHeaderRows(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	if err := s.db.Raw("SELECT COUNT(*) FROM message_headers").Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHeaderCacheLifecycle: delivery (one body per header prefix), APPEND
// and COPY give every message the cached header of its bytes without a
// listing having to read them; a body stored without one gets it at its
// first listing; the row goes with the body.
func TestHeaderCacheLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "cache@example.com")
	v := newTestUser(t, s, "other@example.com")
	body := "Received: from x\nFrom: =?utf-8?q?Ren=C3=A9?= <rene@example.com>\nTo: a@example.com\nSubject: hello\n\nbody\n"
	res, err := s.Deliver(ctx, Delivery{Body: strings.NewReader(body), Targets: []DeliveryTarget{
		{UserID: u.ID, HeaderPrefix: "Delivered-To: cache@example.com\r\n"},
		{UserID: v.ID, HeaderPrefix: "Delivered-To: other@example.com\r\n"},
	}})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := s.Append(ctx, u.ID, Inbox, strings.NewReader("Subject: appended\r\nFrom: b@example.com\r\n\r\nx"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	long := "Subject: long\r\nX-Long: " + strings.Repeat("y", maxHeaderTap) + "\r\n\r\nbody"
	if _, err := s.Append(ctx, u.ID, Inbox, strings.NewReader(long), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Two bodies of the delivery and one of the short APPEND; the long
	// header is cached at the first listing.
	if n := cachedHeaderRows(t, s); n != 3 {
		t.Errorf("%d cached headers after delivery and APPEND, want 3", n)
	}
	inbox, err := s.GetMailbox(ctx, u.ID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	metas := checkHeaders(t, s, inbox.ID)
	if len(metas) != 3 || metas[0].CachedHeader == nil || metas[2].CachedHeader == nil {
		t.Fatalf("listing: %+v", metas)
	}
	if n := cachedHeaderRows(t, s); n != 4 {
		t.Errorf("%d cached headers after the listing, want 4", n)
	}
	other, _ := s.GetMailbox(ctx, v.ID, Inbox)
	checkHeaders(t, s, other.ID)

	// A body of the time before the cache.
	if err := s.write(ctx, func(tx *writeTx) error {
		return tx.Exec("DELETE FROM message_headers WHERE body_key = ?", metas[1].BlobKey).Error
	}); err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, s, inbox.ID)

	// COPY shares the body and its cache.
	if _, err := s.CreateMailbox(ctx, u.ID, "Kept", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, UIDs(metas[0].UID), "Kept", false); err != nil {
		t.Fatal(err)
	}
	kept, _ := s.GetMailbox(ctx, u.ID, "Kept")
	if got := checkHeaders(t, s, kept.ID); len(got) != 1 || got[0].CachedHeader == nil {
		t.Fatalf("copy: %+v", got)
	}

	// Expunging the last message of a body removes its row.
	if _, err := s.StoreFlags(ctx, inbox.ID, nil, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	// The expunged body stays readable for the grace time (RFC 2180), and
	// its cached header with it; both go when it is released.
	if n := cachedHeaderRows(t, s); n <= 2 {
		t.Errorf("%d cached headers right after the expunge, want the expunged bodies' too", n)
	}
	if _, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := cachedHeaderRows(t, s); n != 2 { // the copy's, the other user's
		t.Errorf("%d cached headers after the expunged body's release, want 2", n)
	}
}

// TestHeaderCacheOffWhenEncrypted: with encryption at rest no header text
// goes into the database, and rows of a time before are removed.
func TestHeaderCacheOffWhenEncrypted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStoreAt(t, dir, nil)
	u := newTestUser(t, s, "crypt@example.com")
	if _, err := s.Append(ctx, u.ID, Inbox, strings.NewReader("Subject: plain\r\n\r\nx"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := cachedHeaderRows(t, s); n != 1 {
		t.Fatalf("%d cached headers, want 1", n)
	}
	s.Close()
	sealer, _ := newTestSealer(t)
	s = openStoreAt(t, dir, sealer)
	defer s.Close()
	if n := cachedHeaderRows(t, s); n != 0 {
		t.Errorf("%d cached headers with encryption at rest, want 0", n)
	}
	if _, err := s.Append(ctx, u.ID, Inbox, strings.NewReader("Subject: SECRET-SUBJECT\r\n\r\nx"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
	metas, err := s.ListMessagesWithHeaders(ctx, inbox.ID, nil)
	if err != nil || len(metas) != 2 {
		t.Fatal(err, metas)
	}
	for _, m := range metas {
		if m.CachedHeader != nil {
			t.Errorf("UID %d has a cached header with encryption at rest", m.UID)
		}
	}
	if n := cachedHeaderRows(t, s); n != 0 {
		t.Errorf("%d cached headers with encryption at rest, want 0", n)
	}
}

// TestHeaderCacheNoneForUserKeyMail: mail sealed to a user's key gets no
// cached header, neither at delivery nor at a listing, while the plaintext
// mail of the same delivery does.
func TestHeaderCacheNoneForUserKeyMail(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, d := range []string{"user.test", "plain.test"} {
		if _, err := s.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mode := EncryptionUser
	if _, err := s.UpdateDomain(ctx, "user.test", DomainUpdate{EncryptionMode: &mode}); err != nil {
		t.Fatal(err)
	}
	ann, err := s.CreateUser(ctx, NewUser{Address: "ann@user.test", Password: "ann-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, NewUser{Address: "bob@plain.test", Password: "bob-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: x@example.org\r\nSubject: SECRET-SUBJECT\r\n\r\ntext\r\n"
	res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: ann.ID}, {UserID: bob.ID}}, Body: strings.NewReader(msg)})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}
	if _, err := s.Append(ctx, ann.ID, Inbox, strings.NewReader(msg), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*User{ann, bob} {
		mb, _ := s.GetMailbox(ctx, u.ID, Inbox)
		metas, err := s.ListMessagesWithHeaders(ctx, mb.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metas {
			if (m.CachedHeader != nil) != (u == bob) {
				t.Errorf("%s UID %d: cached header %q", u.Address, m.UID, m.CachedHeader)
			}
		}
	}
	var leaked int64
	if err := s.db.Raw("SELECT COUNT(*) FROM message_headers WHERE header IS NOT NULL").Row().Scan(&leaked); err != nil || leaked != 1 {
		t.Errorf("%d cached headers, want bob's only (%v)", leaked, err)
	}
}

// TestHeaderCacheLongPrefix: a header prefix longer than the tap keeps
// gets its cached header at the first listing.
func TestHeaderCacheLongPrefix(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "long@example.com")
	v := newTestUser(t, s, "short@example.com")
	long := "X-Long: " + strings.Repeat("z", maxHeaderTap+10) + "\r\n"
	res, err := s.Deliver(ctx, Delivery{Body: strings.NewReader("Subject: s\r\n\r\nb"), Targets: []DeliveryTarget{
		{UserID: u.ID, HeaderPrefix: long}, {UserID: v.ID, HeaderPrefix: "Delivered-To: short@example.com\r\n"},
	}})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}
	for _, user := range []*User{u, v} {
		mb, _ := s.GetMailbox(ctx, user.ID, Inbox)
		if got := checkHeaders(t, s, mb.ID); len(got) != 1 || string(got[0].CachedHeader) != "Subject: s\r\n\r\n" {
			t.Errorf("%s: %+v", user.Address, got)
		}
	}
}
