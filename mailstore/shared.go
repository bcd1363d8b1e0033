package mailstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/yubinmail/yubin/core"
)

// Shared accounts: an address such as info@ whose mailboxes a list of
// users opens (over IMAP, under "Other Users/"). It receives mail like any
// account but has no login of its own: its password hash matches no
// password. Its members are users granted rights on every one of its
// mailboxes; mailboxes created in it later inherit them.

// sharedPasswordHash is the password hash of a shared account: not a hash
// of anything, so no password matches it.
const sharedPasswordHash = "!shared-account"

// sharedAccount marks a user as a shared account.
type sharedAccount struct {
	UserID    int64 `gorm:"primaryKey;autoIncrement:false"`
	CreatedAt time.Time
}

// SharedMember is a user with rights on a shared account's mailboxes.
type SharedMember struct {
	Address string `json:"address"`
	Rights  string `json:"rights"`
}

// CreateSharedAccount creates a shared account: an account with the
// default mailboxes, that receives mail and has no login.
func (s *Store) CreateSharedAccount(ctx context.Context, nu NewUser) (*User, error) {
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, fmt.Errorf("create shared account: %w", err)
	}
	nu.Password = base64.RawURLEncoding.EncodeToString(pw[:])
	u, err := s.CreateUser(ctx, nu)
	if err != nil {
		return nil, fmt.Errorf("create shared account: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Update("password_hash", sharedPasswordHash).Error; err != nil {
			return err
		}
		if err := tx.Create(&sharedAccount{UserID: u.ID, CreatedAt: time.Now().UTC()}).Error; err != nil {
			return err
		}
		return tx.audit("shared.create", u.Address, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create shared account %s: %w", u.Address, err)
	}
	u.PasswordHash = sharedPasswordHash
	return u, nil
}

// IsSharedAccount reports whether the user is a shared account.
func (s *Store) IsSharedAccount(ctx context.Context, userID int64) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&sharedAccount{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("is user %d shared: %w", userID, err)
	}
	return n > 0, nil
}

// ListSharedAccounts returns the shared accounts by address; with domain
// set, those of that domain only.
func (s *Store) ListSharedAccounts(ctx context.Context, domain string) ([]User, error) {
	q := s.db.WithContext(ctx).Where("id IN (SELECT user_id FROM shared_accounts)")
	if domain != "" {
		d, err := core.NormalizeDomain(domain)
		if err != nil {
			return nil, fmt.Errorf("list shared accounts: %w", err)
		}
		q = q.Where("address LIKE ? ESCAPE '\\'", "%@"+escapeLike(d))
	}
	var us []User
	if err := q.Order("address").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list shared accounts: %w", err)
	}
	return us, nil
}

// sharedAccountTx returns the shared account at address.
func sharedAccountTx(tx *writeTx, address string) (*User, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	var u User
	if err := tx.Where("address = ? AND id IN (SELECT user_id FROM shared_accounts)", a).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("shared account %s: %w", a, notFound(err))
	}
	return &u, nil
}

// SharedMembers returns the members of a shared account and their rights
// (those on its INBOX), by address.
func (s *Store) SharedMembers(ctx context.Context, account string) ([]SharedMember, error) {
	a, err := core.NormalizeAddress(account)
	if err != nil {
		return nil, fmt.Errorf("members of %q: %w", account, err)
	}
	var u User
	if err := s.db.WithContext(ctx).Where("address = ? AND id IN (SELECT user_id FROM shared_accounts)", a).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("shared account %s: %w", a, notFound(err))
	}
	inbox, err := s.GetMailbox(ctx, u.ID, Inbox)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", a, err)
	}
	gs, err := s.MailboxACL(ctx, inbox.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SharedMember, 0, len(gs))
	for _, g := range gs {
		out = append(out, SharedMember{Address: g.Identifier, Rights: g.Rights})
	}
	return out, nil
}

// SetSharedMember gives member (a user's address) rights on every mailbox
// of a shared account; empty rights remove the member.
func (s *Store) SetSharedMember(ctx context.Context, account, member, rights string) error {
	rights, err := CanonicalRights(rights)
	if err != nil {
		return fmt.Errorf("set member of %s: %w", account, err)
	}
	m, err := core.NormalizeAddress(member)
	if err != nil {
		return fmt.Errorf("set member of %s: %w", account, err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		u, err := sharedAccountTx(tx, account)
		if err != nil {
			return err
		}
		var mu User
		if err := tx.Select("id").Where("address = ?", m).Take(&mu).Error; err != nil {
			return fmt.Errorf("user %s: %w", m, notFound(err))
		}
		if mu.ID == u.ID {
			return fmt.Errorf("a shared account cannot be its own member: %w", core.ErrInvalid)
		}
		var ids []int64
		if err := tx.Model(&Mailbox{}).Where("user_id = ?", u.ID).Pluck("id", &ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.Where("mailbox_id = ? AND identifier = ?", id, m).Delete(&MailboxGrant{}).Error; err != nil {
				return err
			}
			if rights == "" {
				continue
			}
			if err := tx.Create(&MailboxGrant{MailboxID: id, Identifier: m, GranteeID: mu.ID, OwnerID: u.ID, Rights: rights}).Error; err != nil {
				return err
			}
		}
		tx.publish(Event{Kind: MailboxesChanged, UserID: mu.ID})
		return tx.audit("shared.member", u.Address, map[string]any{"member": m, "rights": rights})
	})
	if err != nil {
		return fmt.Errorf("set member %s of %s: %w", m, account, err)
	}
	return nil
}
