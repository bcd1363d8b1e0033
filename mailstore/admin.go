package mailstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// adminModels returns the tables of API accounts.
func adminModels() []any {
	return []any{&Admin{}, &DomainAdmin{}}
}

// Admin is a server administrator: an API account that manages the whole
// server and need not have a mailbox.
type Admin struct {
	ID           int64  `gorm:"primaryKey"`
	Email        string `gorm:"size:320;not null;uniqueIndex"`
	PasswordHash string `gorm:"size:200;not null"`
	CreatedAt    time.Time
	// CredentialVersion moves on whenever the password changes: API
	// sessions issued under an older one no longer work.
	CredentialVersion int64 `gorm:"not null;default:0"`
}

// normalizeAdminEmail validates an admin's email and returns it normalised
// like a user's address.
func normalizeAdminEmail(email string) (string, error) {
	return core.NormalizeAddress(email)
}

// EnsureAdmin creates the first server admin: it does so only if no admin
// exists yet, and reports whether it did. It is the first-start bootstrap
// and safe to call on every start.
func (s *Store) EnsureAdmin(ctx context.Context, email, password string) (created bool, err error) {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		return false, fmt.Errorf("ensure admin: %w", err)
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&Admin{}).Count(&n).Error; err != nil {
		return false, fmt.Errorf("ensure admin %s: %w", e, err)
	}
	if n > 0 {
		return false, nil
	}
	if err := validatePassword(password); err != nil {
		return false, fmt.Errorf("ensure admin %s: %w", e, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return false, fmt.Errorf("ensure admin %s: %w", e, err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		created = false
		var n int64
		if err := tx.Model(&Admin{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if err := tx.Create(&Admin{Email: e, PasswordHash: hash}).Error; err != nil {
			return err
		}
		created = true
		return tx.audit("admin.create", e, map[string]any{"bootstrap": true})
	})
	if err != nil {
		return false, fmt.Errorf("ensure admin %s: %w", e, err)
	}
	return created, nil
}

// CreateAdmin adds a server admin.
func (s *Store) CreateAdmin(ctx context.Context, email, password string) (*Admin, error) {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		return nil, fmt.Errorf("create admin: %w", err)
	}
	if err := validatePassword(password); err != nil {
		return nil, fmt.Errorf("create admin %s: %w", e, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, fmt.Errorf("create admin %s: %w", e, err)
	}
	a := &Admin{Email: e, PasswordHash: hash}
	err = s.write(ctx, func(tx *writeTx) error {
		var n int64
		if err := tx.Model(&Admin{}).Where("email = ?", e).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return core.ErrExists
		}
		a.ID, a.CreatedAt = 0, time.Time{}
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		return tx.audit("admin.create", e, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create admin %s: %w", e, uniqueToExists(err))
	}
	return a, nil
}

// GetAdmin returns a server admin by email.
func (s *Store) GetAdmin(ctx context.Context, email string) (*Admin, error) {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		return nil, fmt.Errorf("get admin: %w", err)
	}
	var a Admin
	if err := s.db.WithContext(ctx).Where("email = ?", e).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("get admin %s: %w", e, notFound(err))
	}
	return &a, nil
}

// GetAdminByID returns a server admin by ID.
func (s *Store) GetAdminByID(ctx context.Context, id int64) (*Admin, error) {
	var a Admin
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("get admin %d: %w", id, notFound(err))
	}
	return &a, nil
}

// ListAdmins returns the server admins by email.
func (s *Store) ListAdmins(ctx context.Context) ([]Admin, error) {
	var as []Admin
	if err := s.db.WithContext(ctx).Order("email").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	return as, nil
}

// DeleteAdmin removes a server admin and its API tokens. Deleting the last
// admin is refused with ErrConflict.
func (s *Store) DeleteAdmin(ctx context.Context, email string) error {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		return fmt.Errorf("delete admin: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var a Admin
		if err := tx.Where("email = ?", e).Take(&a).Error; err != nil {
			return notFound(err)
		}
		var n int64
		if err := tx.Model(&Admin{}).Count(&n).Error; err != nil {
			return err
		}
		if n <= 1 {
			return fmt.Errorf("the last admin cannot be deleted: %w", core.ErrConflict)
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerAdmin, ID: a.ID}, true); err != nil {
			return err
		}
		if err := tx.Delete(&a).Error; err != nil {
			return err
		}
		return tx.audit("admin.delete", e, nil)
	})
	if err != nil {
		return fmt.Errorf("delete admin %s: %w", e, err)
	}
	return nil
}

// SetAdminPassword replaces a server admin's password.
func (s *Store) SetAdminPassword(ctx context.Context, email, password string) error {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		return fmt.Errorf("set admin password: %w", err)
	}
	if err := validatePassword(password); err != nil {
		return fmt.Errorf("set password for admin %s: %w", e, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password for admin %s: %w", e, err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var a Admin
		if err := tx.Where("email = ?", e).Take(&a).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&Admin{}).Where("id = ?", a.ID).Update("password_hash", hash).Error; err != nil {
			return err
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerAdmin, ID: a.ID}, true); err != nil {
			return err
		}
		return tx.audit("admin.password", e, nil)
	})
	if err != nil {
		return fmt.Errorf("set password for admin %s: %w", e, err)
	}
	return nil
}

// adminCachePrefix keeps admins' entries in the login cache apart from
// users' (an admin may share an address with a mailbox).
const adminCachePrefix = "admin\x00"

// AuthenticateAdmin checks a server admin's email and password. Any failure
// is ErrAuthFailed and takes about as long whether or not the admin exists.
func (s *Store) AuthenticateAdmin(ctx context.Context, email, password string) (*Admin, error) {
	e, err := normalizeAdminEmail(email)
	if err != nil {
		CheckPassword(dummyHash, password)
		return nil, core.ErrAuthFailed
	}
	var a Admin
	if err := s.db.WithContext(ctx).Where("email = ?", e).Take(&a).Error; err != nil {
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("authenticate admin %s: %w", e, err)
		}
		CheckPassword(dummyHash, password)
		return nil, core.ErrAuthFailed
	}
	if !s.auth.ok(adminCachePrefix+e, password, a.PasswordHash) {
		if !CheckPassword(a.PasswordHash, password) {
			return nil, core.ErrAuthFailed
		}
		s.auth.add(adminCachePrefix+e, password, a.PasswordHash)
	}
	return &a, nil
}
