package mailstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"gorm.io/gorm"
)

// newMailboxObjectID returns a new MAILBOXID (RFC 8474 §4): "M" and 24
// random hex digits, so that it tells nothing about the database.
func newMailboxObjectID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "M" + hex.EncodeToString(b[:])
}

// migrateObjectIDs gives the mailboxes created before the object_id column
// existed an id of their own.
func (s *Store) migrateObjectIDs(ctx context.Context) error {
	return s.wdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ids []int64
		if err := tx.Model(&Mailbox{}).Where("object_id = ''").Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("list mailboxes without an id: %w", err)
		}
		for _, id := range ids {
			if err := tx.Model(&Mailbox{}).Where("id = ?", id).Update("object_id", newMailboxObjectID()).Error; err != nil {
				return fmt.Errorf("set the id of mailbox %d: %w", id, err)
			}
		}
		return nil
	})
}

// migrateSaveDates fills, once, the save date of the messages stored
// before the save_date column existed with their internal date (the best
// guess of when they arrived).
func (s *Store) migrateSaveDates(ctx context.Context) error {
	return s.migrateOnce(ctx, "save_dates_filled", func(tx *gorm.DB) error {
		return tx.Exec("UPDATE messages SET save_date = internal_date WHERE save_date IS NULL").Error
	})
}

// migrateOnce runs a data migration in a transaction unless the counter
// name records that it ran, and records it.
func (s *Store) migrateOnce(ctx context.Context, name string, fn func(tx *gorm.DB) error) error {
	return s.wdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var done int64
		if err := tx.Model(&counter{}).Where("name = ?", name).Count(&done).Error; err != nil {
			return err
		}
		if done > 0 {
			return nil
		}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Create(&counter{Name: name, Value: 1}).Error
	})
}
