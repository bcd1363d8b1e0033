package mailstore

import (
	"context"
	"crypto/rand"
	"fmt"

	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
)

// urlAuthKey is a user's URLAUTH key for one mailbox (RFC 4467 §7): the
// secret the INTERNAL mechanism signs that mailbox's URLs with. RESETKEY
// replaces it, which invalidates every URL signed before.
type urlAuthKey struct {
	UserID    int64  `gorm:"primaryKey;autoIncrement:false"`
	MailboxID int64  `gorm:"primaryKey;autoIncrement:false"`
	Key       []byte `gorm:"not null"`
}

func (urlAuthKey) TableName() string { return "urlauth_keys" }

func urlAuthModels() []any { return []any{&urlAuthKey{}} }

// URLAuthKeySize is the size of the keys URLAuthKey returns.
const URLAuthKeySize = 32

// URLAuthKey returns a user's URLAUTH key for a mailbox, creating it on
// first use (create true) or, without create, failing with
// core.ErrNotFound when there is none yet. A mailbox that is not the
// user's gives core.ErrNotFound.
func (s *Store) URLAuthKey(ctx context.Context, userID, mailboxID int64, create bool) ([]byte, error) {
	var row urlAuthKey
	err := s.db.WithContext(ctx).Where("user_id = ? AND mailbox_id = ?", userID, mailboxID).Limit(1).Find(&row).Error
	if err != nil {
		return nil, fmt.Errorf("urlauth key of mailbox %d: %w", mailboxID, err)
	}
	if len(row.Key) > 0 {
		return row.Key, nil
	}
	if !create {
		return nil, fmt.Errorf("urlauth key of mailbox %d: %w", mailboxID, core.ErrNotFound)
	}
	key := make([]byte, URLAuthKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("urlauth key: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var n int64
		if err := tx.Model(&Mailbox{}).Where("id = ? AND user_id = ?", mailboxID, userID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return core.ErrNotFound
		}
		// A key made meanwhile by another session wins.
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&urlAuthKey{UserID: userID, MailboxID: mailboxID, Key: key}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("urlauth key of mailbox %d: %w", mailboxID, err)
	}
	return s.URLAuthKey(ctx, userID, mailboxID, false)
}

// ResetURLAuthKeys drops a user's URLAUTH key for a mailbox (mailboxID 0:
// for all of them), so that every URL signed with it stops verifying; a
// new key is made on the next GENURLAUTH.
func (s *Store) ResetURLAuthKeys(ctx context.Context, userID, mailboxID int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		q := tx.Where("user_id = ?", userID)
		if mailboxID != 0 {
			q = q.Where("mailbox_id = ?", mailboxID)
		}
		return q.Delete(&urlAuthKey{}).Error
	})
	if err != nil {
		return fmt.Errorf("reset urlauth keys: %w", err)
	}
	return nil
}

// deleteURLAuthKeysTx removes the keys of a mailbox that goes away
// (mailboxID 0: of every mailbox of the user).
func deleteURLAuthKeysTx(tx *writeTx, userID, mailboxID int64) error {
	q := tx.Where("user_id = ?", userID)
	if mailboxID != 0 {
		q = q.Where("mailbox_id = ?", mailboxID)
	}
	return q.Delete(&urlAuthKey{}).Error
}
