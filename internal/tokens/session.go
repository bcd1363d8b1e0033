package mailstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
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

// Session owners.
const (
	OwnerAdmin = "admin" // a server admin (Admin)
	OwnerUser  = "user"  // a mail user (User)
)

// SessionOwner names who a session belongs to and the credential version
// it was issued under.
type SessionOwner struct {
	Kind              string // OwnerAdmin or OwnerUser
	ID                int64
	CredentialVersion int64
	// Family names the session itself, when RotateSession returns it.
	Family string
}

func (o SessionOwner) ids() (adminID, userID *int64, err error) {
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
func (s *Store) StartSession(ctx context.Context, owner SessionOwner, expires time.Time) (string, error) {
	return s.StartSessionFrom(ctx, owner, expires, ClientInfo{})
}

// RotateSession exchanges the refresh token jti for a new one of the same
// session, valid until expires, and returns the new one's ID with the
// session's owner. The exchange happens once: a token already used
// revokes its whole session and gives ErrRefreshReused; an unknown,
// revoked or expired one gives core.ErrAuthFailed.
func (s *Store) RotateSession(ctx context.Context, jti string, expires time.Time) (string, SessionOwner, error) {
	var next string
	var owner SessionOwner
	reused := false
	err := s.write(ctx, func(tx *writeTx) error {
		next, owner, reused = "", SessionOwner{}, false
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
			return tx.audit("session.revoke", "session/"+rt.Family[:8], map[string]any{"reason": "refresh token reused"})
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
		owner = SessionOwner{Kind: OwnerUser, CredentialVersion: rt.CredentialVersion, Family: rt.Family}
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
		return "", SessionOwner{}, fmt.Errorf("refresh session: %w", err)
	case reused:
		return "", SessionOwner{}, ErrRefreshReused
	}
	return next, owner, nil
}

// EndSession revokes the session the refresh token jti belongs to (sign
// out). An unknown token is not an error.
func (s *Store) EndSession(ctx context.Context, jti string) error {
	err := s.write(ctx, func(tx *writeTx) error {
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
func (s *Store) pruneSessionsTx(tx *writeTx) {
	cutoff := time.Now().UTC().Add(-24 * time.Hour)
	if err := tx.Where("expires_at < ?", cutoff).Delete(&RefreshToken{}).Error; err != nil {
		s.log.Warn("prune expired sessions", "err", err)
	}
	if err := tx.Where("family NOT IN (SELECT family FROM refresh_tokens)").Delete(&APISession{}).Error; err != nil {
		s.log.Warn("prune ended sessions", "err", err)
	}
}

// revokeCredentialsTx ends the API sessions granted on the strength of an
// owner's current credentials: it moves the owner's credential version on
// (access tokens carry it and stop working) and deletes their refresh
// tokens; with apiTokens, their API tokens (and a user's app passwords)
// too. It is called when a
// password changes or an account is deleted (with apiTokens) and when an
// account is disabled (without: its API tokens are refused while it is
// disabled and work again when it is enabled).
func revokeCredentialsTx(tx *writeTx, owner SessionOwner, apiTokens bool) error {
	var model any
	var col string
	switch owner.Kind {
	case OwnerAdmin:
		model, col = &Admin{}, "admin_id"
	case OwnerUser:
		model, col = &User{}, "user_id"
	default:
		return fmt.Errorf("session owner kind %q: %w", owner.Kind, core.ErrInvalid)
	}
	if err := tx.Model(model).Where("id = ?", owner.ID).
		Update("credential_version", gorm.Expr("credential_version + 1")).Error; err != nil {
		return err
	}
	if err := tx.Where(col+" = ?", owner.ID).Delete(&RefreshToken{}).Error; err != nil {
		return err
	}
	if err := tx.Where(col+" = ?", owner.ID).Delete(&APISession{}).Error; err != nil {
		return err
	}
	if !apiTokens {
		return nil
	}
	if owner.Kind == OwnerUser {
		// App passwords go with the password (as at the big providers):
		// one made by someone who had the old password opens nothing.
		if err := tx.Where("user_id = ?", owner.ID).Delete(&AppPassword{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", owner.ID).Delete(&appPasswordKeyRow{}).Error; err != nil {
			return err
		}
	}
	return tx.Where(col+" = ?", owner.ID).Delete(&APIToken{}).Error
}
