// Package tokens keeps the credentials of the HTTP API: API tokens (bearer
// secrets of an admin or a user, of which only a hash is stored) and API
// sessions (families of one-use refresh tokens, with where each session
// was signed in from). Its tables live in the mailstore's database; it
// takes the database and the accounts through interfaces of its own
// (Database, Accounts), and RevokeTx ends what an account's credentials
// granted when they change.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/db"
)

// Database is the database the tokens live in: the mailstore's (its
// reader pool and its group-commit writer), which also migrates their
// tables with its own (Models).
type Database = db.Tables

// Accounts answers what tokens need to know about the accounts that own
// them (the mailstore today).
type Accounts interface {
	// AccountLabel names account id of kind (OwnerAdmin, OwnerUser) for
	// the audit log, read in tx; core.ErrNotFound if it does not exist.
	AccountLabel(tx *gorm.DB, kind string, id int64) (string, error)
	// UserActive reports whether user id exists and both they and their
	// domain are enabled.
	UserActive(ctx context.Context, id int64) (bool, error)
}

// Store keeps API tokens and sessions.
type Store struct {
	db       Database
	accounts Accounts
	log      *slog.Logger
}

// New returns the tokens kept in db, owned by accounts.
func New(db Database, accounts Accounts, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{db: db, accounts: accounts, log: log}
}

// Models returns the tables this package owns, for the migration.
func Models() []any { return []any{&APIToken{}, &RefreshToken{}, &APISession{}} }

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
	ID         int64  `gorm:"primaryKey"`
	Name       string `gorm:"size:400;not null"`
	Prefix     string `gorm:"size:8;not null"`              // first 8 characters of the secret after "yb_"
	SecretHash string `gorm:"size:64;not null;uniqueIndex"` // hex SHA-256 of the whole secret
	Scope      string `gorm:"size:10;not null"`             // "read" or "write"
	AdminID    *int64 `gorm:"index"`                        // owner, if an admin
	UserID     *int64 `gorm:"index"`                        // owner, if a user
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}

// TableName names the API tokens' table.
func (APIToken) TableName() string { return "api_tokens" }

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

// CreateAPIToken creates a token and returns it with its secret, which is
// not stored and cannot be shown again.
func (s *Store) CreateAPIToken(ctx context.Context, nt NewAPIToken) (*APIToken, string, error) {
	if err := core.CheckCredentialName(nt.Name); err != nil {
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
	kind, id := OwnerUser, t.UserID
	if t.AdminID != nil {
		kind, id = OwnerAdmin, t.AdminID
	}
	err = s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		owner, err := s.accounts.AccountLabel(tx, kind, *id)
		if err != nil {
			return err
		}
		t.ID, t.CreatedAt = 0, time.Time{}
		if err := tx.Create(t).Error; err != nil {
			return err
		}
		return audit.Record(tx, "token.create", fmt.Sprintf("token/%d", t.ID), map[string]any{
			"name": t.Name, "prefix": t.Prefix, "scope": t.Scope, "owner": owner, "expires_at": t.ExpiresAt,
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("create API token %q: %w", nt.Name, err)
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
	db := s.db.ReadDB(ctx)
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
		active, err := s.accounts.UserActive(ctx, *t.UserID)
		if err != nil {
			return nil, fmt.Errorf("look up API token: %w", err)
		}
		if !active {
			return nil, core.ErrAuthFailed
		}
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= tokenTouchInterval || now.Before(*t.LastUsedAt) {
		err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
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
	q := s.db.ReadDB(ctx).Model(&APIToken{}).Order("id")
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
	if err := s.db.ReadDB(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get API token %d: %w", id, notFound(err))
	}
	return &t, nil
}

// DeleteAPIToken revokes a token.
func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var t APIToken
		if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Delete(&t).Error; err != nil {
			return err
		}
		return audit.Record(tx, "token.delete", fmt.Sprintf("token/%d", t.ID), map[string]any{"name": t.Name, "prefix": t.Prefix})
	})
	if err != nil {
		return fmt.Errorf("delete API token %d: %w", id, err)
	}
	return nil
}

// notFound turns "record not found" into core.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return core.ErrNotFound
	}
	return err
}
