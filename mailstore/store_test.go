package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: t.TempDir(), Database: testdb.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestUser(t testing.TB, s *Store, addr string) *User {
	t.Helper()
	ctx := context.Background()
	dom := addr[strings.IndexByte(addr, '@')+1:]
	if _, err := s.CreateDomain(ctx, dom); err != nil && !errors.Is(err, core.ErrExists) {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Address: addr, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func readBody(t testing.TB, s *Store, m *MessageMeta) string {
	t.Helper()
	b, err := s.OpenMessage(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "Example.COM"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.com"); !errors.Is(err, core.ErrExists) {
		t.Fatalf("duplicate domain: %v", err)
	}
	if _, err := s.CreateDomain(ctx, "not a domain"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad domain: %v", err)
	}
	tests := []struct {
		name string
		nu   NewUser
		want error
	}{
		{"ok", NewUser{Address: "Ann@example.com", Password: "long enough"}, nil},
		{"duplicate", NewUser{Address: "ann@EXAMPLE.com", Password: "long enough"}, core.ErrExists},
		{"unknown domain", NewUser{Address: "bob@example.org", Password: "long enough"}, core.ErrNotFound},
		{"bad address", NewUser{Address: "bob", Password: "long enough"}, core.ErrInvalid},
		{"short password", NewUser{Address: "bob@example.com", Password: "short"}, core.ErrInvalid},
		{"negative quota", NewUser{Address: "bob@example.com", Password: "long enough", QuotaBytes: -1}, core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tt.nu)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CreateUser = %v, want %v", err, tt.want)
			}
		})
	}
	users, err := s.ListUsers(ctx, UserFilter{})
	if err != nil || len(users) != 1 || users[0].Address != "ann@example.com" {
		t.Fatalf("ListUsers = %v, %v; nothing half-written expected", users, err)
	}
	mbs, err := s.ListMailboxes(ctx, users[0].ID)
	if err != nil || len(mbs) != len(defaultMailboxes) {
		t.Fatalf("default mailboxes: %v, %v", mbs, err)
	}
	if _, err := s.Authenticate(ctx, "ANN@example.com", "long enough"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", "wrong password"); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "nobody@example.com", "long enough"); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := s.SetPassword(ctx, "ann@example.com", "new password"); err != nil {
		t.Fatal(err)
	}
	// The cached login must not survive a password change.
	if _, err := s.Authenticate(ctx, "ann@example.com", "long enough"); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("old password after change: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", "new password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.com", false); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("delete domain with users: %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "ann@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("user after cascade: %v", err)
	}
}

func TestDeliverFlagsCopyExpunge(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")

	var mu sync.Mutex
	var events []Event
	cancel := s.Notifier().Subscribe(func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	defer cancel()

	res, err := s.Deliver(ctx, Delivery{
		Targets: []DeliveryTarget{{UserID: ann.ID}, {UserID: bob.ID, Mailbox: `\Junk`}},
		Body:    strings.NewReader("Subject: hi\n\nbody\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.UID != 1 {
			t.Fatalf("result %+v", r)
		}
	}
	inbox, _ := s.GetMailbox(ctx, ann.ID, "inbox")
	msgs, err := s.ListMessages(ctx, inbox.ID, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("ListMessages: %v %v", msgs, err)
	}
	if got := readBody(t, s, &msgs[0]); got != "Subject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("body not CRLF-normalised: %q", got)
	}
	junk, _ := s.GetMailbox(ctx, bob.ID, "Junk")
	bobMsgs, _ := s.ListMessages(ctx, junk.ID, nil)
	if len(bobMsgs) != 1 || bobMsgs[0].BlobKey != msgs[0].BlobKey {
		t.Fatalf("one body for both recipients expected: %+v %+v", bobMsgs, msgs)
	}

	ups, err := s.StoreFlags(ctx, inbox.ID, nil, FlagsAdd, []string{`\seen`, "$Label1"})
	if err != nil || len(ups) != 1 || !ups[0].Changed || strings.Join(ups[0].Flags, " ") != `$Label1 \Seen` {
		t.Fatalf("StoreFlags: %+v %v", ups, err)
	}
	st, _ := s.Status(ctx, inbox.ID)
	if st.Messages != 1 || st.Unseen != 0 || st.UIDNext != 2 {
		t.Fatalf("status %+v", st)
	}

	cr, err := s.CopyMessages(ctx, inbox.ID, UIDs(1), "Archive", false)
	if err != nil || len(cr.DestUIDs) != 1 {
		t.Fatalf("copy: %+v %v", cr, err)
	}
	u, _ := s.GetUserByID(ctx, ann.ID)
	if u.UsedMessages != 2 || u.UsedBytes != 2*msgs[0].Size {
		t.Fatalf("usage after copy: %d msgs %d bytes", u.UsedMessages, u.UsedBytes)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, UIDs(1), "Trash", true); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.ListMessages(ctx, inbox.ID, nil); len(left) != 0 {
		t.Fatalf("move left %v", left)
	}
	trash, _ := s.GetMailbox(ctx, ann.ID, "Trash")
	if _, err := s.StoreFlags(ctx, trash.ID, nil, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Expunge(ctx, trash.ID, nil)
	if err != nil || len(gone) != 1 {
		t.Fatalf("expunge: %v %v", gone, err)
	}
	u, _ = s.GetUserByID(ctx, ann.ID)
	if u.UsedMessages != 1 {
		t.Fatalf("usage after expunge: %d", u.UsedMessages)
	}
	// The body is still referenced by Archive and bob's Junk.
	if !bodyExists(t, s, msgs[0].BlobKey) {
		t.Fatalf("shared body removed too early")
	}
	archive, _ := s.GetMailbox(ctx, ann.ID, "Archive")
	arch, _ := s.ListMessages(ctx, archive.ID, nil)
	if err := s.DeleteMessages(ctx, archive.ID, []uint32{arch[0].UID}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	// Expunged bodies stay for the sessions that still show them
	// (RFC 2180) until their grace time is over.
	if !bodyExists(t, s, msgs[0].BlobKey) {
		t.Fatalf("expunged body removed within its grace time")
	}
	if _, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if bodyExists(t, s, msgs[0].BlobKey) {
		t.Fatalf("unreferenced body still there")
	}

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, ev := range events {
		if ev.Kind != MailboxesChanged {
			kinds = append(kinds, fmt.Sprint(ev.Kind))
		}
	}
	// added×2, flags, added (copy), added+expunged (move), flags, expunged, expunged
	if want := "1 1 3 1 1 2 3 2 2"; strings.Join(kinds, " ") != want {
		t.Fatalf("events %v, want %v", kinds, want)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "x@example.com")
	u, err := s.CreateUser(ctx, NewUser{Address: "q@example.com", Password: "long enough", QuotaBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 80)
	if _, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader(big), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader(big), nil, time.Time{}); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("append over quota: %v", err)
	}
	res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(big), EnforceQuota: true})
	if err != nil || !errors.Is(res[0].Err, core.ErrOverQuota) {
		t.Fatalf("deliver over quota: %+v %v", res, err)
	}
}

func TestRenameInbox(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "r@example.com")
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader("m"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateMailbox(ctx, u.ID, "Work/2026", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, u.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	old, _ := s.GetMailbox(ctx, u.ID, "Old")
	if msgs, _ := s.ListMessages(ctx, old.ID, nil); len(msgs) != 3 {
		t.Fatalf("renamed INBOX has %d messages", len(msgs))
	}
	inbox, _ := s.GetMailbox(ctx, u.ID, "INBOX")
	if st, _ := s.Status(ctx, inbox.ID); st.Messages != 0 {
		t.Fatalf("INBOX not empty after rename")
	}
	if _, err := s.CreateMailbox(ctx, u.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, u.ID, "Work", "Jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMailbox(ctx, u.ID, "Jobs/2026"); err != nil {
		t.Fatalf("child not renamed: %v", err)
	}
	// Names are case-sensitive: renaming "work" leaves "Work/..." alone.
	for _, name := range []string{"work", "work/a", "Work/b"} {
		if _, err := s.CreateMailbox(ctx, u.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RenameMailbox(ctx, u.ID, "work", "job"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"job", "job/a", "Work/b"} {
		if _, err := s.GetMailbox(ctx, u.ID, name); err != nil {
			t.Errorf("after renaming work: %s: %v", name, err)
		}
	}
	if _, err := s.GetMailbox(ctx, u.ID, "job/b"); err == nil {
		t.Error("renaming work also renamed Work/b")
	}
	if subs, err := s.ListSubscriptions(ctx, u.ID); err != nil || slices.Contains(subs, "job/b") {
		t.Errorf("subscriptions after renaming work: %v, %v", subs, err)
	}
	if err := s.DeleteMailbox(ctx, u.ID, "INBOX"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("delete INBOX: %v", err)
	}
}

func TestConcurrentDeliveriesGetDistinctUIDs(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "c@example.com")
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\n.\r\n", i))})
			if err == nil {
				err = res[0].Err
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := s.GetMailbox(ctx, u.ID, "INBOX")
	uids, _, err := s.Snapshot(ctx, inbox.ID)
	if err != nil || len(uids) != n || uids[n-1] != n {
		t.Fatalf("snapshot: %d uids, last %v, %v", len(uids), uids[len(uids)-1], err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, s, "p@example.com")
	inbox, _ := s.GetMailbox(ctx, u.ID, "INBOX")
	s.Close()
	s2, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	inbox2, err := s2.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil || inbox2.UIDValidity != inbox.UIDValidity {
		t.Fatalf("reopen: %+v %v", inbox2, err)
	}
}

// The IMAP layer relies on events arriving in commit order with a strictly
// increasing MODSEQ per mailbox, and on Snapshot agreeing with them.
func TestEventsOrderedAndConsistentWithSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "e@example.com")
	inbox, _ := s.GetMailbox(ctx, u.ID, "INBOX")
	var mu sync.Mutex
	last := int64(0)
	var uids []uint32
	var bad error
	cancel := s.Notifier().Subscribe(func(ev Event) {
		if ev.MailboxID != inbox.ID {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.ModSeq <= last && bad == nil {
			bad = fmt.Errorf("modseq %d after %d", ev.ModSeq, last)
		}
		last = ev.ModSeq
		switch ev.Kind {
		case MessagesAdded:
			uids = append(uids, ev.UIDs...)
		case MessagesExpunged:
			for _, x := range ev.UIDs {
				for i, y := range uids {
					if x == y {
						uids = append(uids[:i], uids[i+1:]...)
						break
					}
				}
			}
		}
	})
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader("x")})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					s.StoreFlags(ctx, inbox.ID, UIDs(res[0].UID), FlagsAdd, []string{FlagDeleted})
					s.Expunge(ctx, inbox.ID, UIDs(res[0].UID))
				}
			}
		}(g)
	}
	wg.Wait()
	snap, modseq, err := s.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		t.Fatal(bad)
	}
	if modseq != last {
		t.Fatalf("snapshot modseq %d, last event %d", modseq, last)
	}
	if fmt.Sprint(snap) != fmt.Sprint(uids) {
		t.Fatalf("snapshot %v != replayed events %v", snap, uids)
	}
}
