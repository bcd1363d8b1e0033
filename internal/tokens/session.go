package tokens

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
)

// ErrRefreshReused is returned (wrapping core.ErrAuthFailed) when a refresh
// token that was already used is presented again: someone holds a copy, so
// its whole family of sessions has been revoked.
var ErrRefreshReused = fmt.Errorf("refresh token used twice; the session was revoked: %w", core.ErrAuthFailed)

// RefreshToken is one refresh token of an API session. A refresh token is
// used once: using it marks it used and issues the next one of its family
// (the session); presenting a used one again revokes the family. A
// session belongs to a server admin or a mail user as they were when it
// began (their ID and credential version); changing their password,
// disabling or deleting them revokes it.
type RefreshToken struct {
	ID                int64      `gorm:"primaryKey"`
	JTI               string     `gorm:"size:64;not null;uniqueIndex"` // the token's ID (JWT "jti")
	Family            string     `gorm:"size:64;not null;index"`       // the session it belongs to
	AdminID           *int64     `gorm:"index"`
	UserID            *int64     `gorm:"index"`
	CredentialVersion int64      `gorm:"not null"`
	ExpiresAt         time.Time  `gorm:"not null;index"`
	UsedAt            *time.Time // set when it was exchanged for the next one
	CreatedAt         time.Time
}

// TableName names the refresh tokens' table.
func (RefreshToken) TableName() string { return "refresh_tokens" }

// Account kinds that own sessions and tokens.
const (
	OwnerAdmin = "admin" // a server admin
	OwnerUser  = "user"  // a mail user
)

// Owner names who a session belongs to and the credential version it was
// issued under.
type Owner struct {
	Kind              string // OwnerAdmin or OwnerUser
	ID                int64
	CredentialVersion int64
	// Family names the session itself, when RotateSession returns it.
	Family string
}

func (o Owner) ids() (adminID, userID *int64, err error) {
	id := o.ID
	switch o.Kind {
	case OwnerAdmin:
		return &id, nil, nil
	case OwnerUser:
		return nil, &id, nil
	}
	return nil, nil, fmt.Errorf("session owner kind %q: %w", o.Kind, core.ErrInvalid)
}

func newTokenID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// StartSession records the first refresh token of a new session for owner
// and returns its ID (the JWT "jti").
func (s *Store) StartSession(ctx context.Context, owner Owner, expires time.Time) (string, error) {
	return s.StartSessionFrom(ctx, owner, expires, ClientInfo{})
}

// RotateSession exchanges the refresh token jti for a new one of the same
// session, valid until expires, and returns the new one's ID with the
// session's owner. The exchange happens once: a token already used
// revokes its whole session and gives ErrRefreshReused; an unknown,
// revoked or expired one gives core.ErrAuthFailed.
func (s *Store) RotateSession(ctx context.Context, jti string, expires time.Time) (string, Owner, error) {
	var next string
	var owner Owner
	reused := false
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		next, owner, reused = "", Owner{}, false
		var rt RefreshToken
		if err := tx.Where("jti = ?", jti).Take(&rt).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return core.ErrAuthFailed
			}
			return err
		}
		now := time.Now().UTC()
		if rt.UsedAt != nil {
			reused = true
			if err := tx.Where("family = ?", rt.Family).Delete(&RefreshToken{}).Error; err != nil {
				return err
			}
			if err := tx.Where("family = ?", rt.Family).Delete(&APISession{}).Error; err != nil {
				return err
			}
			return audit.Record(tx, "session.revoke", "session/"+rt.Family[:8], map[string]any{"reason": "refresh token reused"})
		}
		if !now.Before(rt.ExpiresAt) {
			return core.ErrAuthFailed
		}
		if err := tx.Model(&RefreshToken{}).Where("id = ?", rt.ID).Update("used_at", now).Error; err != nil {
			return err
		}
		if err := tx.Model(&APISession{}).Where("family = ?", rt.Family).Update("last_seen_at", now).Error; err != nil {
			return err
		}
		next = newTokenID()
		owner = Owner{Kind: OwnerUser, CredentialVersion: rt.CredentialVersion, Family: rt.Family}
		if rt.AdminID != nil {
			owner.Kind, owner.ID = OwnerAdmin, *rt.AdminID
		} else if rt.UserID != nil {
			owner.ID = *rt.UserID
		}
		return tx.Create(&RefreshToken{JTI: next, Family: rt.Family, AdminID: rt.AdminID, UserID: rt.UserID,
			CredentialVersion: rt.CredentialVersion, ExpiresAt: expires.UTC()}).Error
	})
	switch {
	case err != nil:
		return "", Owner{}, fmt.Errorf("refresh session: %w", err)
	case reused:
		return "", Owner{}, ErrRefreshReused
	}
	return next, owner, nil
}

// EndSession revokes the session the refresh token jti belongs to (sign
// out). An unknown token is not an error.
func (s *Store) EndSession(ctx context.Context, jti string) error {
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var rt RefreshToken
		if err := tx.Where("jti = ?", jti).Take(&rt).Error; err != nil {
			return notFoundOK(err)
		}
		if err := tx.Where("family = ?", rt.Family).Delete(&APISession{}).Error; err != nil {
			return err
		}
		return tx.Where("family = ?", rt.Family).Delete(&RefreshToken{}).Error
	})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// notFoundOK turns "record not found" into success.
func notFoundOK(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	return err
}

// pruneSessionsTx drops refresh tokens that expired a while ago.
func (s *Store) pruneSessionsTx(tx *gorm.DB) {
	cutoff := time.Now().UTC().Add(-24 * time.Hour)
	if err := tx.Where("expires_at < ?", cutoff).Delete(&RefreshToken{}).Error; err != nil {
		s.log.Warn("prune expired sessions", "err", err)
	}
	if err := tx.Where("family NOT IN (SELECT family FROM refresh_tokens)").Delete(&APISession{}).Error; err != nil {
		s.log.Warn("prune ended sessions", "err", err)
	}
}

// RevokeTx ends, inside tx (the write transaction that changes account id
// of kind's credentials), the API sessions granted on them and, with
// apiTokens, the account's API tokens too. The account's credential
// version, which access tokens carry, is moved on by its owner in the same
// transaction.
func RevokeTx(tx *gorm.DB, kind string, id int64, apiTokens bool) error {
	col, err := ownerColumn(Owner{Kind: kind})
	if err != nil {
		return err
	}
	if err := tx.Where(col+" = ?", id).Delete(&RefreshToken{}).Error; err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	if err := tx.Where(col+" = ?", id).Delete(&APISession{}).Error; err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if !apiTokens {
		return nil
	}
	if err := tx.Where(col+" = ?", id).Delete(&APIToken{}).Error; err != nil {
		return fmt.Errorf("revoke API tokens: %w", err)
	}
	return nil
}
