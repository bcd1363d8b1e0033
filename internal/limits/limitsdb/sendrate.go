package limitsdb

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// sendRateUser is a user's lock row: a reservation updates it first, so
// that concurrent reservations of one user (on any node) run one after the
// other.
type sendRateUser struct {
	UserID       int64 `gorm:"primaryKey;autoIncrement:false"`
	Reservations int64 `gorm:"not null;default:0"`
}

func (sendRateUser) TableName() string { return "send_rate_users" }

// sendRateRow is N recipients a user sent to at At.
type sendRateRow struct {
	ID     int64     `gorm:"primaryKey"`
	UserID int64     `gorm:"not null;index:idx_send_rate_user_at,priority:1"`
	At     time.Time `gorm:"not null;index:idx_send_rate_user_at,priority:2"`
	N      int       `gorm:"not null"`
}

func (sendRateRow) TableName() string { return "send_rate_recipients" }

// SendRates keeps the users' sending rate (mta.SendRateStore) in the
// database.
type SendRates struct {
	db Database
}

// OpenSendRates returns the sending rates kept in db, creating their
// tables if needed.
func OpenSendRates(ctx context.Context, db Database) (*SendRates, error) {
	if err := db.MigrateTables(ctx, "sendrate", &sendRateUser{}, &sendRateRow{}); err != nil {
		return nil, fmt.Errorf("open sending rate tables: %w", err)
	}
	return &SendRates{db: db}, nil
}

// stamp is at as stored: both engines keep microseconds, so a reservation
// is found again by the time it was made at.
func stamp(at time.Time) time.Time { return at.UTC().Truncate(time.Microsecond) }

// Count implements mta.SendRateStore.
func (s *SendRates) Count(ctx context.Context, user int64, since time.Time) (int, error) {
	var n int
	err := s.db.ReadDB(ctx).Model(&sendRateRow{}).Select("COALESCE(SUM(n), 0)").
		Where("user_id = ? AND at > ?", user, stamp(since)).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count sent recipients: %w", err)
	}
	return n, nil
}

// Reserve implements mta.SendRateStore.
func (s *SendRates) Reserve(ctx context.Context, user int64, n int, at, since time.Time, limit int) (bool, error) {
	var fits bool
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		fits = false
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&sendRateUser{UserID: user}).Error; err != nil {
			return err
		}
		if err := tx.Model(&sendRateUser{}).Where("user_id = ?", user).
			Update("reservations", gorm.Expr("reservations + 1")).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ? AND at <= ?", user, stamp(since)).Delete(&sendRateRow{}).Error; err != nil {
			return err
		}
		var sent int
		if err := tx.Model(&sendRateRow{}).Select("COALESCE(SUM(n), 0)").
			Where("user_id = ?", user).Scan(&sent).Error; err != nil {
			return err
		}
		if sent+n > limit {
			return nil
		}
		fits = true
		return tx.Create(&sendRateRow{UserID: user, At: stamp(at), N: n}).Error
	})
	if err != nil {
		return false, fmt.Errorf("reserve sent recipients: %w", err)
	}
	return fits, nil
}

// Release implements mta.SendRateStore.
func (s *SendRates) Release(ctx context.Context, user int64, n int, at time.Time) error {
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		if err := tx.Model(&sendRateRow{}).Where("user_id = ? AND at = ?", user, stamp(at)).
			Update("n", gorm.Expr("n - ?", n)).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ? AND at = ? AND n <= 0", user, stamp(at)).Delete(&sendRateRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("release sent recipients: %w", err)
	}
	return nil
}
