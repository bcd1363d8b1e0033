package mailstore

import (
	"context"
	"fmt"

	"github.com/yubinmail/yubin/core"
)

// metadataEntry is one METADATA entry (RFC 5464) of a user: of a mailbox,
// or of the server as the user sees it (MailboxID 0).
type metadataEntry struct {
	UserID    int64  `gorm:"primaryKey;autoIncrement:false"`
	MailboxID int64  `gorm:"primaryKey;autoIncrement:false"`
	Name      string `gorm:"primaryKey;size:1024"`
	Value     []byte `gorm:"not null"`
}

func (metadataEntry) TableName() string { return "metadata_entries" }

// MetadataEntry is a METADATA entry's name and value; in SetMetadata a nil
// Value removes the entry.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// GetMetadata returns a user's METADATA entries of a mailbox (mailboxID 0:
// the server's), ordered by name.
func (s *Store) GetMetadata(ctx context.Context, userID, mailboxID int64) ([]MetadataEntry, error) {
	var rows []metadataEntry
	if err := s.db.WithContext(ctx).Where("user_id = ? AND mailbox_id = ?", userID, mailboxID).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("metadata of mailbox %d: %w", mailboxID, err)
	}
	out := make([]MetadataEntry, len(rows))
	for i, r := range rows {
		out[i] = MetadataEntry{Name: r.Name, Value: r.Value}
	}
	return out, nil
}

// SetMetadata sets and removes a user's METADATA entries of a mailbox
// (mailboxID 0: the server's), all or none. Afterwards the mailbox may have
// at most maxEntries entries (0: no limit), else nothing changes and the
// error wraps core.ErrOverQuota; a mailbox that is not the user's gives
// core.ErrNotFound.
func (s *Store) SetMetadata(ctx context.Context, userID, mailboxID int64, entries []MetadataEntry, maxEntries int) error {
	err := s.write(ctx, func(tx *writeTx) error {
		if mailboxID != 0 {
			var n int64
			if err := tx.Model(&Mailbox{}).Where("id = ? AND user_id = ?", mailboxID, userID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return core.ErrNotFound
			}
		}
		for _, e := range entries {
			q := tx.Where("user_id = ? AND mailbox_id = ? AND name = ?", userID, mailboxID, e.Name)
			if err := q.Delete(&metadataEntry{}).Error; err != nil {
				return err
			}
			if e.Value == nil {
				continue
			}
			if err := tx.Create(&metadataEntry{UserID: userID, MailboxID: mailboxID, Name: e.Name, Value: e.Value}).Error; err != nil {
				return err
			}
		}
		if maxEntries > 0 {
			var n int64
			if err := tx.Model(&metadataEntry{}).Where("user_id = ? AND mailbox_id = ?", userID, mailboxID).Count(&n).Error; err != nil {
				return err
			}
			if n > int64(maxEntries) {
				return fmt.Errorf("more than %d entries: %w", maxEntries, core.ErrOverQuota)
			}
		}
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name
		}
		tx.publish(Event{Kind: MetadataChanged, UserID: userID, MailboxID: mailboxID, Names: names})
		return nil
	})
	if err != nil {
		return fmt.Errorf("set metadata of mailbox %d: %w", mailboxID, err)
	}
	return nil
}

func metadataModels() []any { return []any{&metadataEntry{}} }

// deleteMetadataTx removes the entries of a mailbox that goes away.
func deleteMetadataTx(tx *writeTx, userID, mailboxID int64) error {
	return tx.Where("user_id = ? AND mailbox_id = ?", userID, mailboxID).Delete(&metadataEntry{}).Error
}
