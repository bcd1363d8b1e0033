package tokens

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/sqltext"
)

// APISession describes one signed-in session of the dashboard or the API
// (a family of refresh tokens, see RefreshToken): where it started and
// when it was last refreshed, for the account's list of sessions.
type APISession struct {
	ID         int64  `gorm:"primaryKey"`
	Family     string `gorm:"size:64;not null;uniqueIndex"`
	AdminID    *int64 `gorm:"index"`
	UserID     *int64 `gorm:"index"`
	CreatedAt  time.Time
	LastSeenAt time.Time // the last refresh (every 15 minutes while in use)
	RemoteIP   string    `gorm:"size:64;not null;default:''"`
	UserAgent  string    `gorm:"size:300;not null;default:''"`
	// Current marks the session of the request that lists them.
	Current bool `gorm:"-"`
}

// TableName names the API sessions' table.
func (APISession) TableName() string { return "api_sessions" }

// ClientInfo is where a sign-in comes from.
type ClientInfo struct {
	RemoteIP  string
	UserAgent string
}

// StartSessionFrom is StartSession recording where the sign-in came from.
func (s *Store) StartSessionFrom(ctx context.Context, owner Owner, expires time.Time, ci ClientInfo) (string, error) {
	adminID, userID, err := owner.ids()
	if err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	jti := newTokenID()
	err = s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		s.pruneSessionsTx(tx)
		if err := tx.Create(&RefreshToken{JTI: jti, Family: jti, AdminID: adminID, UserID: userID,
			CredentialVersion: owner.CredentialVersion, ExpiresAt: expires.UTC()}).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		return tx.Create(&APISession{Family: jti, AdminID: adminID, UserID: userID, CreatedAt: now, LastSeenAt: now,
			RemoteIP: sqltext.Clip(ci.RemoteIP, 64), UserAgent: sqltext.Clip(ci.UserAgent, 300)}).Error
	})
	if err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return jti, nil
}

// SessionLive reports whether the session family has not ended (signed
// out, ended from the list, revoked or expired).
func (s *Store) SessionLive(ctx context.Context, family string) (bool, error) {
	var n int64
	err := s.db.ReadDB(ctx).Model(&RefreshToken{}).
		Where("family = ? AND used_at IS NULL AND expires_at > ?", family, time.Now().UTC()).Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("look up session: %w", err)
	}
	return n > 0, nil
}

// ListSessions returns the live sessions of owner, newest first; the one
// of family current is marked Current.
func (s *Store) ListSessions(ctx context.Context, owner Owner, current string) ([]APISession, error) {
	col, err := ownerColumn(owner)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := []APISession{}
	err = s.db.ReadDB(ctx).Where(col+" = ?", owner.ID).
		Where("family IN (SELECT family FROM refresh_tokens WHERE used_at IS NULL AND expires_at > ?)", time.Now().UTC()).
		Order("last_seen_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	for i := range out {
		out[i].Current = out[i].Family == current
	}
	return out, nil
}

// EndSessionByID ends session id of owner (ErrNotFound if it is not
// theirs): its refresh tokens go, and access tokens naming it stop working.
func (s *Store) EndSessionByID(ctx context.Context, owner Owner, id int64) error {
	col, err := ownerColumn(owner)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	err = s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var ses APISession
		if err := tx.Where("id = ? AND "+col+" = ?", id, owner.ID).Take(&ses).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("family = ?", ses.Family).Delete(&RefreshToken{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(&ses).Error; err != nil {
			return err
		}
		return audit.Record(tx, "session.end", fmt.Sprintf("%s/%d", owner.Kind, owner.ID), map[string]any{"session": id, "remote_ip": ses.RemoteIP})
	})
	if err != nil {
		return fmt.Errorf("end session %d: %w", id, err)
	}
	return nil
}

// ownerColumn is the column naming owner's kind of account.
func ownerColumn(owner Owner) (string, error) {
	switch owner.Kind {
	case OwnerAdmin:
		return "admin_id", nil
	case OwnerUser:
		return "user_id", nil
	}
	return "", fmt.Errorf("session owner kind %q: %w", owner.Kind, core.ErrInvalid)
}
