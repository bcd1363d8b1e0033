package mailstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/db"
)

// What the mailstore lends the other owners of tables in its database (API
// tokens and sessions, the audit log, statistics): a read handle, the
// group-commit writer, and a say when an account's credentials change.
// They take it through interfaces of their own.

// Dialect says which engine the database is (see internal/db).
func (s *Store) Dialect() db.Dialect { return s.dialect }

// ReadDB returns a handle on the database for reading with ctx.
func (s *Store) ReadDB(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// Write runs fn in a write transaction on the store's single writer (group
// commit, see write): fn may run more than once and must start from
// scratch each time. tx carries ctx, so audit.Record in fn records as the
// actor ctx names.
func (s *Store) Write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.write(ctx, func(tx *writeTx) error { return fn(tx.DB) })
}

// audit records an administrative change in the audit log inside the
// write transaction that makes it (see audit.Record).
//
//	err = s.write(ctx, func(tx *writeTx) error {
//		... change ...
//		return tx.audit("alias.create", alias, map[string]any{"to": dests})
//	})
func (tx *writeTx) audit(action, target string, details any) error {
	return audit.Record(tx.DB, action, target, details)
}

// Account kinds, as SessionOwner names them.
const (
	OwnerAdmin = "admin" // a server admin (Admin)
	OwnerUser  = "user"  // a mail user (User)
)

// SessionOwner names an account whose credentials grant API sessions and
// tokens: a server admin or a mail user.
type SessionOwner struct {
	Kind string // OwnerAdmin or OwnerUser
	ID   int64
}

// CredentialRevoker ends, inside tx (the write transaction that changes
// owner's credentials), what was granted on those credentials outside the
// mailstore: API sessions always, and with apiTokens API tokens too.
type CredentialRevoker func(tx *gorm.DB, owner SessionOwner, apiTokens bool) error

// credentialRevokers are the revokers registered by name.
type credentialRevokers struct {
	mu  sync.RWMutex
	all map[string]CredentialRevoker
}

// SetCredentialRevoker registers r under name (replacing the one of that
// name): whenever an account's password changes, its second factor is
// reset, it is disabled or deleted, r runs in the same transaction. The
// service layer registers the API tokens' revoker.
func (s *Store) SetCredentialRevoker(name string, r CredentialRevoker) {
	s.revokers.mu.Lock()
	defer s.revokers.mu.Unlock()
	if s.revokers.all == nil {
		s.revokers.all = map[string]CredentialRevoker{}
	}
	s.revokers.all[name] = r
}

// revokeCredentialsTx ends what was granted on the strength of an owner's
// current credentials: it moves the owner's credential version on (access
// tokens carry it and stop working) and runs the registered revokers (API
// sessions; with apiTokens API tokens too); with apiTokens a user's app
// passwords go as well. It is called when a password changes or an account
// is deleted (with apiTokens) and when an account is disabled (without:
// its API tokens are refused while it is disabled and work again when it
// is enabled).
func revokeCredentialsTx(tx *writeTx, owner SessionOwner, apiTokens bool) error {
	var model any
	switch owner.Kind {
	case OwnerAdmin:
		model = &Admin{}
	case OwnerUser:
		model = &User{}
	default:
		return fmt.Errorf("session owner kind %q: %w", owner.Kind, core.ErrInvalid)
	}
	if err := tx.Model(model).Where("id = ?", owner.ID).
		Update("credential_version", gorm.Expr("credential_version + 1")).Error; err != nil {
		return err
	}
	s := tx.store
	s.revokers.mu.RLock()
	names := slices.Sorted(maps.Keys(s.revokers.all))
	revokers := make([]CredentialRevoker, len(names))
	for i, n := range names {
		revokers[i] = s.revokers.all[n]
	}
	s.revokers.mu.RUnlock()
	for i, r := range revokers {
		if err := r(tx.DB, owner, apiTokens); err != nil {
			return fmt.Errorf("revoke %s: %w", names[i], err)
		}
	}
	if apiTokens && owner.Kind == OwnerUser {
		// App passwords go with the password (as at the big providers):
		// one made by someone who had the old password opens nothing.
		if err := tx.Where("user_id = ?", owner.ID).Delete(&AppPassword{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", owner.ID).Delete(&appPasswordKeyRow{}).Error; err != nil {
			return err
		}
	}
	return nil
}

// AccountLabel names account id of kind as the audit log shows an owner
// ("admin EMAIL", "user ADDRESS"), read in tx; an account that does not
// exist is core.ErrNotFound.
func (s *Store) AccountLabel(tx *gorm.DB, kind string, id int64) (string, error) {
	switch kind {
	case OwnerAdmin:
		var a Admin
		if err := tx.Where("id = ?", id).Take(&a).Error; err != nil {
			return "", fmt.Errorf("admin %d: %w", id, notFound(err))
		}
		return "admin " + a.Email, nil
	case OwnerUser:
		var u User
		if err := tx.Where("id = ?", id).Take(&u).Error; err != nil {
			return "", fmt.Errorf("user %d: %w", id, notFound(err))
		}
		return "user " + u.Address, nil
	}
	return "", fmt.Errorf("account kind %q: %w", kind, core.ErrInvalid)
}

// UserActive reports whether user id exists and both they and their
// domain are enabled.
func (s *Store) UserActive(ctx context.Context, id int64) (bool, error) {
	db := s.db.WithContext(ctx)
	var us []User
	if err := db.Where("id = ?", id).Limit(1).Find(&us).Error; err != nil {
		return false, fmt.Errorf("look up user %d: %w", id, err)
	}
	if len(us) == 0 || !us[0].Enabled {
		return false, nil
	}
	var ds []Domain
	if err := db.Where("id = ?", us[0].DomainID).Limit(1).Find(&ds).Error; err != nil {
		return false, fmt.Errorf("look up user %d: %w", id, err)
	}
	return len(ds) == 1 && ds[0].Enabled, nil
}
