package mailstore

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"gorm.io/gorm/clause"
)

// SignInPlace is a network a user has signed in to the dashboard or the
// API from (an IPv4 /24 or an IPv6 /64), so that a sign-in from a new one
// can be told to them.
type SignInPlace struct {
	ID        int64  `gorm:"primaryKey"`
	UserID    int64  `gorm:"not null;uniqueIndex:idx_sign_in_place,priority:1"`
	Prefix    string `gorm:"size:64;not null;uniqueIndex:idx_sign_in_place,priority:2"`
	FirstSeen time.Time
	LastSeen  time.Time
}

// placeOf is the network of ip that counts as one place.
func placeOf(ip netip.Addr) string {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// RecordSignInPlace notes that the user with ID userID signed in from ip
// and reports whether that is a new place for an account that had signed
// in from somewhere before (the first place of all is no news).
func (s *Store) RecordSignInPlace(ctx context.Context, userID int64, ip netip.Addr) (bool, error) {
	if !ip.IsValid() {
		return false, nil
	}
	place := placeOf(ip)
	isNew := false
	err := s.write(ctx, func(tx *writeTx) error {
		isNew = false
		var known int64
		if err := tx.Model(&SignInPlace{}).Where("user_id = ?", userID).Count(&known).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&SignInPlace{UserID: userID, Prefix: place, FirstSeen: now, LastSeen: now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			isNew = known > 0
			return nil
		}
		return tx.Model(&SignInPlace{}).Where("user_id = ? AND prefix = ?", userID, place).Update("last_seen", now).Error
	})
	if err != nil {
		return false, fmt.Errorf("record sign-in place: %w", err)
	}
	return isNew, nil
}
