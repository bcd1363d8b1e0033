// Package limitsdb keeps the failed logins of limits.AuthLimiter in the
// database (table auth_failures), so that nodes sharing one database (on
// PostgreSQL) throttle and block a client or an account together: ten
// wrong passwords spread over two nodes count as ten. A single node on
// SQLite does not need it and keeps its counts in memory.
package limitsdb

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/limits"
)

// Database is the database the failures is kept in: the mailstore's.
type Database = db.Tables

// failureRow is one failed login.
type failureRow struct {
	ID      int64     `gorm:"primaryKey"`
	IP      string    `gorm:"size:64;not null;default:'';index"`
	Account string    `gorm:"size:320;not null;default:'';index"`
	At      time.Time `gorm:"not null;index"`
	// Forgiven: the account logged in since; the failure still counts
	// against the IP address.
	Forgiven bool `gorm:"not null;default:false"`
}

func (failureRow) TableName() string { return "auth_failures" }

// pruneEvery is how often Record removes the failures past keep.
const pruneEvery = time.Minute

// Store is a limits.FailureStore in a database.
type Store struct {
	db   Database
	keep time.Duration

	mu         sync.Mutex
	lastPruned time.Time
}

var _ limits.FailureStore = (*Store)(nil)

// Open returns the store in db, creating its table if needed. Failures
// older than keep (at least the limiter's window; 0 means 30 minutes) are
// removed as new ones come.
func Open(ctx context.Context, db Database, keep time.Duration) (*Store, error) {
	if keep <= 0 {
		keep = 2 * limits.DefaultAuthWindow
	}
	if err := db.MigrateTables(ctx, "limits", &failureRow{}); err != nil {
		return nil, fmt.Errorf("open login throttle table: %w", err)
	}
	return &Store{db: db, keep: keep}, nil
}

// Record implements limits.FailureStore.
func (s *Store) Record(ctx context.Context, ip, account string, at time.Time) error {
	prune := false
	s.mu.Lock()
	if at.Sub(s.lastPruned) >= pruneEvery {
		prune, s.lastPruned = true, at
	}
	s.mu.Unlock()
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		if prune {
			if err := tx.Where("at < ?", at.Add(-s.keep)).Delete(&failureRow{}).Error; err != nil {
				return err
			}
		}
		return tx.Create(&failureRow{IP: ip, Account: account, At: at}).Error
	})
	if err != nil {
		return fmt.Errorf("record a failed login: %w", err)
	}
	return nil
}

// Counts implements limits.FailureStore.
func (s *Store) Counts(ctx context.Context, ip, account string, since time.Time) (ipFailures, accountFailures int, err error) {
	var row struct{ IPN, AccountN int }
	err = s.db.ReadDB(ctx).Model(&failureRow{}).
		Select(`COALESCE(SUM(CASE WHEN ip = ? THEN 1 ELSE 0 END), 0) AS ip_n,
			COALESCE(SUM(CASE WHEN account = ? AND NOT forgiven THEN 1 ELSE 0 END), 0) AS account_n`, nonEmpty(ip), nonEmpty(account)).
		Where("at > ? AND (ip = ? OR account = ?)", since, nonEmpty(ip), nonEmpty(account)).
		Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("count failed logins: %w", err)
	}
	return row.IPN, row.AccountN, nil
}

// nonEmpty keeps an empty key from matching the rows without one.
func nonEmpty(key string) any {
	if key == "" {
		return nil // "= NULL" matches nothing
	}
	return key
}

// Forgive implements limits.FailureStore. Most logins have nothing to
// forgive: a read finds that out, and only a login after failures pays for
// a write transaction (a commit that waits for the disk on PostgreSQL).
// A failure recorded between the read and the login's answer is left
// standing, as one recorded just after the write would be.
func (s *Store) Forgive(ctx context.Context, ip, account string) error {
	var pending []int64
	err := s.db.ReadDB(ctx).Model(&failureRow{}).
		Where("account = ? AND (NOT forgiven OR ip = ?)", account, nonEmpty(ip)).
		Limit(1).Pluck("id", &pending).Error
	if err != nil {
		return fmt.Errorf("forgive failed logins: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	err = s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		if ip != "" {
			if err := tx.Where("ip = ? AND account = ?", ip, account).Delete(&failureRow{}).Error; err != nil {
				return err
			}
		}
		return tx.Model(&failureRow{}).Where("account = ? AND NOT forgiven", account).Update("forgiven", true).Error
	})
	if err != nil {
		return fmt.Errorf("forgive failed logins: %w", err)
	}
	return nil
}
