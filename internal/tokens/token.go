package mailstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
)

// API token scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// tokenPrefix starts every API token secret.
const tokenPrefix = "yb_"

// tokenTouchInterval is how stale LastUsedAt may get: a token used more
// often is written at most once per interval.
const tokenTouchInterval = time.Minute

// APIToken is a bearer credential for the HTTP API, owned by either a server
// admin or a mail user. Only a hash of the secret is stored.
type APIToken struct {
	ID         int64      `gorm:"primaryKey" json:"id"`
	Name       string     `gorm:"size:400;not null" json:"name"`
	Prefix     string     `gorm:"size:8;not null" json:"prefix"`         // first 8 characters of the secret after "yb_"
	SecretHash string     `gorm:"size:64;not null;uniqueIndex" json:"-"` // hex SHA-256 of the whole secret
	Scope      string     `gorm:"size:10;not null" json:"scope"`         // "read" or "write"
	AdminID    *int64     `gorm:"index" json:"-"`                        // owner, if an admin
	UserID     *int64     `gorm:"index" json:"-"`                        // owner, if a user
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// NewAPIToken describes a token to create. Exactly one of AdminID and
// UserID must be set.
type NewAPIToken struct {
	Name      string
	Scope     string // ScopeRead or ScopeWrite
	AdminID   *int64
	UserID    *int64
	ExpiresAt *time.Time // nil: never expires
}

// ValidScope reports whether scope is a known API token scope.
func ValidScope(scope string) bool { return scope == ScopeRead || scope == ScopeWrite }

func hashTokenSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newTokenSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return tokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b)), nil
}

func validateTokenName(name string) error {
	n := utf8.RuneCountInString(name)
	if !utf8.ValidString(name) || n < 1 || n > 100 || strings.TrimSpace(name) == "" {
		return fmt.Errorf("token name must be 1 to 100 characters of UTF-8: %w", core.ErrInvalid)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("token name must not contain control characters: %w", core.ErrInvalid)
	}
	return nil
}

// CreateAPIToken creates a token and returns it with its secret, which is
// not stored and cannot be shown again.
func (s *Store) CreateAPIToken(ctx context.Context, nt NewAPIToken) (*APIToken, string, error) {
	if err := validateTokenName(nt.Name); err != nil {
		return nil, "", fmt.Errorf("create API token: %w", err)
	}
	if !ValidScope(nt.Scope) {
		return nil, "", fmt.Errorf("create API token: scope %q: want %q or %q: %w", nt.Scope, ScopeRead, ScopeWrite, core.ErrInvalid)
	}
	if (nt.AdminID == nil) == (nt.UserID == nil) {
		return nil, "", fmt.Errorf("create API token: need exactly one owner (admin or user): %w", core.ErrInvalid)
	}
	var expires *time.Time
	if nt.ExpiresAt != nil {
		if !nt.ExpiresAt.After(time.Now()) {
			return nil, "", fmt.Errorf("create API token: expiry is in the past: %w", core.ErrInvalid)
		}
		e := nt.ExpiresAt.UTC()
		expires = &e
	}
	secret, err := newTokenSecret()
	if err != nil {
		return nil, "", fmt.Errorf("create API token: %w", err)
	}
	t := &APIToken{
		Name:       nt.Name,
		Prefix:     secret[len(tokenPrefix) : len(tokenPrefix)+8],
		SecretHash: hashTokenSecret(secret),
		Scope:      nt.Scope,
		AdminID:    copyID(nt.AdminID),
		UserID:     copyID(nt.UserID),
		ExpiresAt:  expires,
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var owner string
		if t.AdminID != nil {
			var a Admin
			if err := tx.Where("id = ?", *t.AdminID).Take(&a).Error; err != nil {
				return fmt.Errorf("admin %d: %w", *t.AdminID, notFound(err))
			}
			owner = "admin " + a.Email
		} else {
			var u User
			if err := tx.Where("id = ?", *t.UserID).Take(&u).Error; err != nil {
				return fmt.Errorf("user %d: %w", *t.UserID, notFound(err))
			}
			owner = "user " + u.Address
		}
		t.ID, t.CreatedAt = 0, time.Time{}
		if err := tx.Create(t).Error; err != nil {
			return err
		}
		return tx.audit("token.create", fmt.Sprintf("token/%d", t.ID), map[string]any{
			"name": t.Name, "prefix": t.Prefix, "scope": t.Scope, "owner": owner, "expires_at": t.ExpiresAt,
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("create API token %q: %w", nt.Name, uniqueToExists(err))
	}
	return t, secret, nil
}

func copyID(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// LookupAPIToken returns the token whose secret this is. An unknown or
// expired token, or one whose user (or the user's domain) is disabled, is
// ErrAuthFailed. It records when the token was last used, writing at most
// once a minute per token.
func (s *Store) LookupAPIToken(ctx context.Context, secret string) (*APIToken, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return nil, core.ErrAuthFailed
	}
	db := s.db.WithContext(ctx)
	var ts []APIToken
	if err := db.Where("secret_hash = ?", hashTokenSecret(secret)).Limit(1).Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	if len(ts) == 0 {
		return nil, core.ErrAuthFailed
	}
	t := &ts[0]
	now := time.Now().UTC()
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return nil, core.ErrAuthFailed
	}
	if t.UserID != nil {
		var u User
		if err := db.Where("id = ?", *t.UserID).Take(&u).Error; err != nil {
			return nil, core.ErrAuthFailed
		}
		var d Domain
		if err := db.Where("id = ?", u.DomainID).Take(&d).Error; err != nil || !u.Enabled || !d.Enabled {
			return nil, core.ErrAuthFailed
		}
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= tokenTouchInterval || now.Before(*t.LastUsedAt) {
		err := s.write(ctx, func(tx *writeTx) error {
			return tx.Model(&APIToken{}).Where("id = ?", t.ID).Update("last_used_at", now).Error
		})
		if err != nil {
			s.log.Warn("record API token use", "token", t.ID, "err", err)
		} else {
			t.LastUsedAt = &now
		}
	}
	return t, nil
}

// APITokenFilter narrows ListAPITokens; nil fields match all.
type APITokenFilter struct {
	AdminID *int64
	UserID  *int64
}

// ListAPITokens returns tokens in creation order.
func (s *Store) ListAPITokens(ctx context.Context, f APITokenFilter) ([]APIToken, error) {
	q := s.db.WithContext(ctx).Model(&APIToken{}).Order("id")
	if f.AdminID != nil {
		q = q.Where("admin_id = ?", *f.AdminID)
	}
	if f.UserID != nil {
		q = q.Where("user_id = ?", *f.UserID)
	}
	ts := []APIToken{}
	if err := q.Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return ts, nil
}

// GetAPIToken returns a token by ID.
func (s *Store) GetAPIToken(ctx context.Context, id int64) (*APIToken, error) {
	var t APIToken
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get API token %d: %w", id, notFound(err))
	}
	return &t, nil
}

// DeleteAPIToken revokes a token.
func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var t APIToken
		if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Delete(&t).Error; err != nil {
			return err
		}
		return tx.audit("token.delete", fmt.Sprintf("token/%d", t.ID), map[string]any{"name": t.Name, "prefix": t.Prefix})
	})
	if err != nil {
		return fmt.Errorf("delete API token %d: %w", id, err)
	}
	return nil
}
