package mailstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// sendAsModels returns the table of send-as rights.
func sendAsModels() []any { return []any{&SendAsGrant{}} }

// SendAsGrant is the right of a user to send mail as another address of a
// local domain: an account (a shared one such as info@) or an alias. With
// it, submission accepts that address, and its subaddress forms
// (info+shop@), as the envelope sender and in From and Sender, and signs
// the message with the DKIM keys of the address's domain. The rights go
// with the user and with the address: deleting either removes them.
type SendAsGrant struct {
	ID int64 `gorm:"primaryKey"`
	// UserID is the user who may send as Address.
	UserID int64 `gorm:"not null;uniqueIndex:idx_send_as_user_address,priority:1"`
	// DomainID is the domain of Address.
	DomainID int64 `gorm:"not null;index"`
	// Address is the account or alias address the user may send as.
	Address   string `gorm:"size:320;not null;uniqueIndex:idx_send_as_user_address,priority:2;index"`
	CreatedAt time.Time
}

// TableName names the table.
func (SendAsGrant) TableName() string { return "send_as_grants" }

// GrantSendAs lets the user at userAddress send as address, which must be
// another account or an alias (not a catch-all) of a local domain:
// ErrInvalid for the user's own address or a catch-all, ErrNotFound for an
// unknown user or an address that is neither an account nor an alias,
// ErrExists for a right the user already has.
func (s *Store) GrantSendAs(ctx context.Context, userAddress, address string) (*SendAsGrant, error) {
	ua, err := core.NormalizeAddress(userAddress)
	if err != nil {
		return nil, fmt.Errorf("grant send-as: user: %w", err)
	}
	a, err := core.ParseAddress(address)
	if err != nil {
		return nil, fmt.Errorf("grant send-as: address: %w", err)
	}
	addr := a.String()
	if addr == ua {
		return nil, fmt.Errorf("grant send-as: %s may always send as its own address: %w", ua, core.ErrInvalid)
	}
	var g SendAsGrant
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", ua).Take(&u).Error; err != nil {
			return fmt.Errorf("user %s: %w", ua, notFound(err))
		}
		var d Domain
		if err := tx.Where("name = ?", a.Domain).Take(&d).Error; err != nil {
			return fmt.Errorf("domain %s: %w", a.Domain, notFound(err))
		}
		var accounts, aliases int64
		if err := tx.Model(&User{}).Where("address = ?", addr).Count(&accounts).Error; err != nil {
			return err
		}
		if err := tx.Model(&Alias{}).Where("address = ?", addr).Count(&aliases).Error; err != nil {
			return err
		}
		if accounts+aliases == 0 {
			return fmt.Errorf("%s is neither an account nor an alias: %w", addr, core.ErrNotFound)
		}
		g = SendAsGrant{UserID: u.ID, DomainID: d.ID, Address: addr}
		if err := tx.Create(&g).Error; err != nil {
			return uniqueToExists(err)
		}
		return tx.audit("send_as.grant", ua, map[string]any{"address": addr})
	})
	if err != nil {
		return nil, fmt.Errorf("grant %s send-as %s: %w", ua, addr, err)
	}
	return &g, nil
}

// RevokeSendAs takes back the right of the user at userAddress to send as
// address (ErrNotFound if there is none).
func (s *Store) RevokeSendAs(ctx context.Context, userAddress, address string) error {
	ua, err := core.NormalizeAddress(userAddress)
	if err != nil {
		return fmt.Errorf("revoke send-as: user: %w", err)
	}
	a, err := core.ParseAddress(address)
	if err != nil {
		return fmt.Errorf("revoke send-as: address: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", ua).Take(&u).Error; err != nil {
			return fmt.Errorf("user %s: %w", ua, notFound(err))
		}
		res := tx.Where("user_id = ? AND address = ?", u.ID, a.String()).Delete(&SendAsGrant{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("no such right: %w", core.ErrNotFound)
		}
		return tx.audit("send_as.revoke", ua, map[string]any{"address": a.String()})
	})
	if err != nil {
		return fmt.Errorf("revoke %s send-as %s: %w", ua, a, err)
	}
	return nil
}

// ListSendAs returns the addresses the user at userAddress may send as
// beyond their own and their aliases, by address.
func (s *Store) ListSendAs(ctx context.Context, userAddress string) ([]SendAsGrant, error) {
	ua, err := core.NormalizeAddress(userAddress)
	if err != nil {
		return nil, fmt.Errorf("list send-as: %w", err)
	}
	var u User
	if err := s.db.WithContext(ctx).Where("address = ?", ua).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("list send-as of %s: %w", ua, notFound(err))
	}
	grants := []SendAsGrant{}
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Order("address").Find(&grants).Error; err != nil {
		return nil, fmt.Errorf("list send-as of %s: %w", ua, err)
	}
	return grants, nil
}

// MaySendAs reports whether the user with ID userID holds the right to
// send as any of addresses (normalised addresses without subaddress
// detail: the caller strips it).
func (s *Store) MaySendAs(ctx context.Context, userID int64, addresses []string) (bool, error) {
	if len(addresses) == 0 {
		return false, nil
	}
	var g SendAsGrant
	err := s.db.WithContext(ctx).Select("id").Where("user_id = ? AND address IN ?", userID, addresses).Take(&g).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("send-as rights of user %d: %w", userID, err)
	}
	return true, nil
}

// deleteSendAsTx removes the rights held by a user, or to send as an
// address, or as any address of a domain, being deleted.
func deleteSendAsTx(tx *writeTx, query string, args ...any) error {
	if err := tx.Where(query, args...).Delete(&SendAsGrant{}).Error; err != nil {
		return fmt.Errorf("delete send-as rights: %w", err)
	}
	return nil
}
