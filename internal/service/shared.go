package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// DefaultMemberRights are the rights a shared account's member gets when
// none are named: everything on its mailboxes but changing who has access
// (RFC 4314 letters; see mailstore.AllRights).
const DefaultMemberRights = "lrswipkxte"

// SharedAccount is an address such as info@ whose mail a list of users
// reads and answers over IMAP (under "Other Users/<address>/"). It has no
// login of its own.
type SharedAccount struct {
	Address      string                   `json:"address"`
	DisplayName  string                   `json:"display_name"`
	QuotaBytes   int64                    `json:"quota_bytes"`
	UsedBytes    int64                    `json:"used_bytes"`
	UsedMessages int64                    `json:"used_messages"`
	Enabled      bool                     `json:"enabled"`
	CreatedAt    time.Time                `json:"created_at"`
	Members      []mailstore.SharedMember `json:"members"`
	// Mailboxes are the account's mailboxes with their \Seen mode.
	Mailboxes []SharedMailbox `json:"mailboxes"`
}

// SharedMailbox is a mailbox of a shared account and whether each member
// has their own \Seen (read state) on it, or all share one.
type SharedMailbox struct {
	Name        string `json:"name"`
	PrivateSeen bool   `json:"private_seen"`
}

// NewSharedAccount describes a shared account to create; a nil QuotaBytes
// takes the domain's default quota.
type NewSharedAccount struct {
	Address     string
	DisplayName string
	QuotaBytes  *int64
	// Members get DefaultMemberRights.
	Members []string
}

// CreateSharedAccount makes a shared account in a domain the actor
// manages, with its first members.
func (s *Service) CreateSharedAccount(ctx context.Context, a Actor, n NewSharedAccount) (*SharedAccount, error) {
	addr, err := core.ParseAddress(n.Address)
	if err != nil {
		return nil, core.Invalid("address", "not a valid email address")
	}
	if !a.ManagesDomain(addr.Domain) {
		return nil, forbidden("creating shared accounts in " + addr.Domain)
	}
	if n.QuotaBytes != nil && *n.QuotaBytes < 0 {
		return nil, core.Invalid("quota_bytes", "must not be negative")
	}
	for _, m := range n.Members {
		if err := s.checkMember(ctx, a, m); err != nil {
			return nil, err
		}
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	quota := int64(0)
	if n.QuotaBytes != nil {
		quota = *n.QuotaBytes
	} else if d, err := s.store.GetDomain(ctx, addr.Domain); err == nil {
		quota = d.DefaultQuotaBytes
	}
	u, err := s.store.CreateSharedAccount(ctx, mailstore.NewUser{Address: addr.String(), DisplayName: n.DisplayName, QuotaBytes: quota})
	if err != nil {
		return nil, err
	}
	for _, m := range n.Members {
		if err := s.store.SetSharedMember(ctx, u.Address, m, DefaultMemberRights); err != nil {
			return nil, err
		}
	}
	return s.sharedAccount(ctx, u)
}

// checkMember refuses a member the actor may not give access: one who is
// not a user, or (for a domain admin) a user of a domain they do not
// manage.
func (s *Service) checkMember(ctx context.Context, a Actor, member string) error {
	u, err := s.store.GetUser(ctx, member)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid) {
			return core.Invalid("members", fmt.Sprintf("%q is not a user here", member))
		}
		return err
	}
	if !a.ManagesDomain(domainOf(u.Address)) {
		return forbidden("giving " + u.Address + " access (you do not manage their domain)")
	}
	if ok, err := s.store.IsSharedAccount(ctx, u.ID); err != nil {
		return err
	} else if ok {
		return core.Invalid("members", fmt.Sprintf("%s is a shared account, not a person", u.Address))
	}
	return nil
}

func (s *Service) sharedAccount(ctx context.Context, u *mailstore.User) (*SharedAccount, error) {
	members, err := s.store.SharedMembers(ctx, u.Address)
	if err != nil {
		return nil, err
	}
	if members == nil {
		members = []mailstore.SharedMember{}
	}
	boxes, err := s.store.ListMailboxes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	mailboxes := make([]SharedMailbox, 0, len(boxes))
	for _, mb := range boxes {
		private, err := s.store.PrivateSeen(ctx, mb.ID)
		if err != nil {
			return nil, err
		}
		mailboxes = append(mailboxes, SharedMailbox{Name: mb.Name, PrivateSeen: private})
	}
	return &SharedAccount{
		Address: u.Address, DisplayName: u.DisplayName, QuotaBytes: u.QuotaBytes,
		UsedBytes: u.UsedBytes, UsedMessages: u.UsedMessages, Enabled: u.Enabled,
		CreatedAt: u.CreatedAt, Members: members, Mailboxes: mailboxes,
	}, nil
}

// SetSharedSeen chooses whether each member of a shared account has their
// own \Seen on one of its mailboxes (mailbox "": on every one) or all
// share one (private is the default).
func (s *Service) SetSharedSeen(ctx context.Context, a Actor, account, mailbox string, private bool) (*SharedAccount, error) {
	u, err := s.getShared(ctx, a, account)
	if err != nil {
		return nil, err
	}
	var boxes []mailstore.Mailbox
	if mailbox == "" {
		if boxes, err = s.store.ListMailboxes(ctx, u.ID); err != nil {
			return nil, err
		}
	} else {
		mb, err := s.store.GetMailbox(ctx, u.ID, mailbox)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid) {
				return nil, core.Invalid("mailbox", fmt.Sprintf("%s has no mailbox %q", u.Address, mailbox))
			}
			return nil, err
		}
		boxes = []mailstore.Mailbox{*mb}
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	for _, mb := range boxes {
		if err := s.store.SetPrivateSeen(ctx, mb.ID, private); err != nil {
			return nil, err
		}
	}
	return s.sharedAccount(ctx, u)
}

// ListSharedAccounts lists the shared accounts of the domains the actor
// manages (a domain admin of several names one).
func (s *Service) ListSharedAccounts(ctx context.Context, a Actor, domain string) ([]SharedAccount, error) {
	domain, err := a.listDomain(domain, "shared accounts")
	if err != nil {
		return nil, err
	}
	us, err := s.store.ListSharedAccounts(ctx, domain)
	if err != nil {
		return nil, err
	}
	out := make([]SharedAccount, 0, len(us))
	for i := range us {
		sa, err := s.sharedAccount(ctx, &us[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *sa)
	}
	return out, nil
}

// getShared returns the shared account at address if the actor manages
// its domain.
func (s *Service) getShared(ctx context.Context, a Actor, address string) (*mailstore.User, error) {
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return nil, fmt.Errorf("shared account %q: %w", address, core.ErrNotFound)
		}
		return nil, err
	}
	if !a.ManagesDomain(domainOf(u.Address)) {
		return nil, forbidden("shared account " + u.Address)
	}
	ok, err := s.store.IsSharedAccount(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s is not a shared account: %w", u.Address, core.ErrNotFound)
	}
	return u, nil
}

// GetSharedAccount returns a shared account with its members.
func (s *Service) GetSharedAccount(ctx context.Context, a Actor, address string) (*SharedAccount, error) {
	u, err := s.getShared(ctx, a, address)
	if err != nil {
		return nil, err
	}
	return s.sharedAccount(ctx, u)
}

// SetSharedMember gives a user rights on every mailbox of a shared
// account (empty rights: DefaultMemberRights).
func (s *Service) SetSharedMember(ctx context.Context, a Actor, account, member, rights string) (*SharedAccount, error) {
	u, err := s.getShared(ctx, a, account)
	if err != nil {
		return nil, err
	}
	if rights == "" {
		rights = DefaultMemberRights
	}
	if _, err := mailstore.CanonicalRights(rights); err != nil {
		return nil, core.Invalid("rights", "letters of "+mailstore.AllRights+" (RFC 4314)")
	}
	if err := s.checkMember(ctx, a, member); err != nil {
		return nil, err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetSharedMember(ctx, u.Address, member, rights); err != nil {
		return nil, err
	}
	return s.sharedAccount(ctx, u)
}

// RemoveSharedMember takes a user's access to a shared account away.
func (s *Service) RemoveSharedMember(ctx context.Context, a Actor, account, member string) (*SharedAccount, error) {
	u, err := s.getShared(ctx, a, account)
	if err != nil {
		return nil, err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetSharedMember(ctx, u.Address, member, ""); err != nil {
		return nil, err
	}
	return s.sharedAccount(ctx, u)
}

// DeleteSharedAccount removes a shared account with its mail.
func (s *Service) DeleteSharedAccount(ctx context.Context, a Actor, address string) error {
	u, err := s.getShared(ctx, a, address)
	if err != nil {
		return err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeleteUser(ctx, u.Address)
}
