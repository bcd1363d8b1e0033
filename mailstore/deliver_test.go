package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
)

// TestDeliverAllOrNothing: a delivery to several users of which one is
// over quota makes no copy at all, and uses no quota.
func TestDeliverAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	roomy := newTestUser(t, s, "roomy@example.com")
	full, err := s.CreateUser(ctx, NewUser{Address: "full@example.com", Password: "long enough", QuotaBytes: 50})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 80)
	targets := []DeliveryTarget{{UserID: roomy.ID}, {UserID: full.ID}}
	res, err := s.Deliver(ctx, Delivery{Targets: targets, Body: strings.NewReader(body), EnforceQuota: true, AllOrNothing: true})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, ErrNotDelivered) || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v", res)
	}
	u, err := s.GetUser(ctx, "roomy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedMessages != 0 || u.UsedBytes != 0 {
		t.Fatalf("a copy was kept: %+v", u)
	}
	// Without AllOrNothing, the one with room gets it.
	res, err = s.Deliver(ctx, Delivery{Targets: targets, Body: strings.NewReader(body), EnforceQuota: true})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v, %v", res, err)
	}
}

// inboxMessages returns the messages in the INBOX of user.
func inboxMessages(t *testing.T, s *Store, user *User) []MessageMeta {
	t.Helper()
	ctx := context.Background()
	mb, err := s.GetMailbox(ctx, user.ID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestDeliverHeaderPrefixes: each target's copy starts with its own
// HeaderPrefix; targets with the same prefix share one body, each distinct
// prefix has its own, and each copy's size and quota use are its own.
func TestDeliverHeaderPrefixes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	cat := newTestUser(t, s, "cat@example.com")
	dan := newTestUser(t, s, "dan@example.com")
	body := "Subject: hi\n\nbare LF lines\nand more\n"
	want := "Subject: hi\r\n\r\nbare LF lines\r\nand more\r\n"
	res, err := s.Deliver(ctx, Delivery{
		Targets: []DeliveryTarget{
			{UserID: ann.ID, HeaderPrefix: "Delivered-To: ann@example.com\n"},
			{UserID: bob.ID, HeaderPrefix: "Delivered-To: shared@example.com\r\n"},
			{UserID: cat.ID, HeaderPrefix: "Delivered-To: shared@example.com\r\n"},
			{UserID: dan.ID},
		},
		Body:         strings.NewReader(body),
		EnforceQuota: true,
		AllOrNothing: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("target %d: %v", i, r.Err)
		}
	}
	wants := map[*User]string{
		ann: "Delivered-To: ann@example.com\r\n" + want,
		bob: "Delivered-To: shared@example.com\r\n" + want,
		cat: "Delivered-To: shared@example.com\r\n" + want,
		dan: want,
	}
	keys := map[string]bool{}
	for u, w := range wants {
		msgs := inboxMessages(t, s, u)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", u.Address, len(msgs))
		}
		if got := readBody(t, s, &msgs[0]); got != w {
			t.Errorf("%s: body %q, want %q", u.Address, got, w)
		}
		if msgs[0].Size != int64(len(w)) {
			t.Errorf("%s: size %d, want %d", u.Address, msgs[0].Size, len(w))
		}
		after, err := s.GetUser(ctx, u.Address)
		if err != nil {
			t.Fatal(err)
		}
		if after.UsedBytes != int64(len(w)) || after.UsedMessages != 1 {
			t.Errorf("%s: usage %d bytes %d messages, want %d and 1", u.Address, after.UsedBytes, after.UsedMessages, len(w))
		}
		keys[msgs[0].BlobKey] = true
	}
	if len(keys) != 3 {
		t.Errorf("%d distinct bodies referenced, want 3 (bob and cat share one)", len(keys))
	}
	if files := blobFiles(t, s); len(files) != 3 {
		t.Errorf("blob folder holds %d bodies, want 3: %v", len(files), files)
	}
}

// TestDeliverHeaderPrefixesAllOrNothing: quotas are checked against each
// target's own copy (prefix included); an all-or-nothing delivery that one
// copy does not fit makes no copy and leaves no body behind.
func TestDeliverHeaderPrefixesAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	roomy := newTestUser(t, s, "roomy@example.com")
	tight, err := s.CreateUser(ctx, NewUser{Address: "tight@example.com", Password: "long enough", QuotaBytes: 50})
	if err != nil {
		t.Fatal(err)
	}
	// No quota warnings: their bodies would count among the blobs.
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaWarningPercents: &Percents{}}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 40) // fits tight's 50 bytes with a short prefix only
	long := "Delivered-To: tight@example.com\r\n"
	res, err := s.Deliver(ctx, Delivery{
		Targets:      []DeliveryTarget{{UserID: roomy.ID, HeaderPrefix: "Delivered-To: roomy@example.com\r\n"}, {UserID: tight.ID, HeaderPrefix: long}},
		Body:         strings.NewReader(body),
		EnforceQuota: true,
		AllOrNothing: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, ErrNotDelivered) || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v", res)
	}
	for _, u := range []*User{roomy, tight} {
		if msgs := inboxMessages(t, s, u); len(msgs) != 0 {
			t.Errorf("%s got a copy", u.Address)
		}
		after, _ := s.GetUser(ctx, u.Address)
		if after.UsedBytes != 0 || after.UsedMessages != 0 {
			t.Errorf("%s: quota used: %+v", u.Address, after)
		}
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("orphaned bodies: %v", files)
	}

	// A short prefix fits: the quota is the copy's, not the longest's.
	res, err = s.Deliver(ctx, Delivery{
		Targets:      []DeliveryTarget{{UserID: roomy.ID, HeaderPrefix: "Delivered-To: roomy@example.com\r\n"}, {UserID: tight.ID, HeaderPrefix: "X: y\r\n"}},
		Body:         strings.NewReader(body),
		EnforceQuota: true,
		AllOrNothing: true,
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("results %+v, %v", res, err)
	}
	if files := blobFiles(t, s); len(files) != 2 {
		t.Fatalf("blob folder holds %d bodies, want 2", len(files))
	}

	// Without AllOrNothing, the body of the target that failed is removed
	// and the other kept.
	res, err = s.Deliver(ctx, Delivery{
		Targets:      []DeliveryTarget{{UserID: roomy.ID, HeaderPrefix: "Delivered-To: roomy@example.com\r\n"}, {UserID: tight.ID, HeaderPrefix: long}},
		Body:         strings.NewReader(body),
		EnforceQuota: true,
	})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v, %v", res, err)
	}
	if files := blobFiles(t, s); len(files) != 3 {
		t.Fatalf("blob folder holds %d bodies, want 3 (the failed copy's removed)", len(files))
	}
}

// TestDeliverHeaderPrefixInvalid: a prefix that is not whole header field
// lines is refused before anything is stored.
func TestDeliverHeaderPrefixInvalid(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "ann@example.com")
	for _, p := range []string{"Delivered-To: ann", "\r\nX: y\r\n", "X: y\r\n\r\nbody\r\n", "X: a\rb\r\n", "X: \x00\r\n"} {
		_, err := s.Deliver(ctx, Delivery{
			Targets: []DeliveryTarget{{UserID: u.ID}, {UserID: u.ID, HeaderPrefix: p}},
			Body:    strings.NewReader("Subject: x\r\n\r\nbody\r\n"),
		})
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("prefix %q: err %v, want ErrInvalid", p, err)
		}
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("bodies stored: %v", files)
	}
}
