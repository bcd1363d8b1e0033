package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
)

func TestMailboxACL(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	carol := newTestUser(t, s, "carol@example.com")
	proj, err := s.CreateMailbox(ctx, ann.ID, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ident, rights string
		want          error
	}{
		{"Bob@Example.com", "srl", nil},
		{"anyone", "l", nil},
		{"ann@example.com", "lr", core.ErrConflict},
		{"nobody@example.com", "lr", core.ErrNotFound},
		{"bob@example.com", "lrz", core.ErrInvalid},
		{"not an address", "lr", core.ErrInvalid},
	} {
		if err := s.SetMailboxRights(ctx, proj.ID, tc.ident, tc.rights); !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
			t.Errorf("SetMailboxRights(%s, %s) = %v, want %v", tc.ident, tc.rights, err, tc.want)
		}
	}
	acl, err := s.MailboxACL(ctx, proj.ID)
	if err != nil || len(acl) != 2 || acl[0].Identifier != "anyone" || acl[1].Identifier != "bob@example.com" || acl[1].Rights != "lrs" {
		t.Fatalf("ACL %+v %v", acl, err)
	}
	for _, tc := range []struct {
		user *User
		want string
	}{{ann, AllRights}, {bob, "lrs"}, {carol, "l"}} {
		if got, err := s.RightsOn(ctx, proj.ID, tc.user.ID); err != nil || got != tc.want {
			t.Errorf("RightsOn %s = %q %v, want %q", tc.user.Address, got, err, tc.want)
		}
	}
	shared, err := s.SharedWith(ctx, bob.ID)
	if err != nil || len(shared) != 1 || shared[0].Owner != "ann@example.com" || shared[0].Mailbox.Name != "Projects" || shared[0].Rights != "lrs" {
		t.Fatalf("SharedWith bob: %+v %v", shared, err)
	}
	if own, err := s.SharedWith(ctx, ann.ID); err != nil || len(own) != 0 {
		t.Fatalf("SharedWith the owner: %+v %v", own, err)
	}

	// A child inherits the ACL when asked to.
	sub, err := s.CreateMailbox(ctx, ann.ID, "Projects/2027", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CopyMailboxACL(ctx, proj.ID, sub.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RightsOn(ctx, sub.ID, bob.ID); got != "lrs" {
		t.Errorf("inherited rights %q", got)
	}
	bobInbox, _ := s.GetMailbox(ctx, bob.ID, Inbox)
	if err := s.CopyMailboxACL(ctx, proj.ID, bobInbox.ID); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("CopyMailboxACL across owners: %v", err)
	}

	// Empty rights remove the entry; deleting the mailbox or the grantee
	// removes theirs.
	if err := s.SetMailboxRights(ctx, proj.ID, "anyone", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RightsOn(ctx, proj.ID, carol.ID); got != "" {
		t.Errorf("carol after removing anyone: %q", got)
	}
	if err := s.DeleteMailbox(ctx, ann.ID, "Projects/2027"); err != nil {
		t.Fatal(err)
	}
	if acl, _ := s.MailboxACL(ctx, sub.ID); len(acl) != 0 {
		t.Errorf("ACL of a deleted mailbox: %+v", acl)
	}
	if err := s.DeleteUser(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if acl, _ := s.MailboxACL(ctx, proj.ID); len(acl) != 0 {
		t.Errorf("ACL after deleting the grantee: %+v", acl)
	}
}

// TestCopyMessagesToOtherOwner: a copy into another user's mailbox counts
// against that user's quota, a move too, and frees the mover's.
func TestCopyMessagesToOtherOwner(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: bob.ID}}, Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n")})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	bobInbox, _ := s.GetMailbox(ctx, bob.ID, Inbox)
	annInbox, _ := s.GetMailbox(ctx, ann.ID, Inbox)
	if _, err := s.CopyMessagesTo(ctx, bobInbox.ID, nil, annInbox.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessagesTo(ctx, bobInbox.ID, nil, annInbox.ID, true); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetUserByID(ctx, ann.ID)
	b, _ := s.GetUserByID(ctx, bob.ID)
	if a.UsedMessages != 2 || b.UsedMessages != 0 {
		t.Fatalf("usage: ann %d, bob %d messages", a.UsedMessages, b.UsedMessages)
	}
	// Over the quota: refused.
	limit := int64(1)
	if _, err := s.UpdateUser(ctx, "ann@example.com", UserUpdate{QuotaMessages: &limit}); err != nil {
		t.Fatal(err)
	}
	annMsgs, _ := s.ListMessages(ctx, annInbox.ID, nil)
	if _, err := s.CopyMessagesTo(ctx, annInbox.ID, UIDs(annMsgs[0].UID), bobInbox.ID, false); err != nil {
		t.Fatalf("copy back to bob: %v", err)
	}
	if _, err := s.CopyMessagesTo(ctx, bobInbox.ID, nil, annInbox.ID, true); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("move over ann's quota: %v", err)
	}
}

func TestSharedAccount(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	info, err := s.CreateSharedAccount(ctx, NewUser{Address: "info@example.com", DisplayName: "Info"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "info@example.com", sharedPasswordHash); !errors.Is(err, core.ErrAuthFailed) {
		t.Fatalf("a shared account logged in: %v", err)
	}
	if ok, err := s.IsSharedAccount(ctx, info.ID); err != nil || !ok {
		t.Fatalf("IsSharedAccount: %v %v", ok, err)
	}
	if ok, _ := s.IsSharedAccount(ctx, ann.ID); ok {
		t.Fatal("ann is a shared account")
	}
	if err := s.SetSharedMember(ctx, "info@example.com", "ann@example.com", "lrswite"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSharedMember(ctx, "ann@example.com", "info@example.com", "lr"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("ann as a shared account: %v", err)
	}
	boxes, _ := s.ListMailboxes(ctx, info.ID)
	for _, mb := range boxes {
		if got, _ := s.RightsOn(ctx, mb.ID, ann.ID); got != "lrswite" {
			t.Errorf("ann's rights on %s: %q", mb.Name, got)
		}
	}
	ms, err := s.SharedMembers(ctx, "info@example.com")
	if err != nil || len(ms) != 1 || ms[0].Address != "ann@example.com" || ms[0].Rights != "lrswite" {
		t.Fatalf("members %+v %v", ms, err)
	}
	// Mail to info@ goes to its INBOX.
	u, err := s.ResolveRecipient(ctx, "info@example.com")
	if err != nil || u.ID != info.ID {
		t.Fatalf("ResolveRecipient: %v %v", u, err)
	}
	list, err := s.ListSharedAccounts(ctx, "example.com")
	if err != nil || len(list) != 1 || list[0].Address != "info@example.com" {
		t.Fatalf("ListSharedAccounts: %+v %v", list, err)
	}
	if err := s.SetSharedMember(ctx, "info@example.com", "ann@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if shared, _ := s.SharedWith(ctx, ann.ID); len(shared) != 0 {
		t.Fatalf("ann still has %+v", shared)
	}
	if err := s.DeleteUser(ctx, "info@example.com"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListSharedAccounts(ctx, ""); len(list) != 0 {
		t.Fatalf("after delete: %+v", list)
	}
}
