package mailstore

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// DomainAdmin grants a mail user administration of one domain.
type DomainAdmin struct {
	UserID   int64 `gorm:"not null;uniqueIndex:idx_domain_admin_pair,priority:1"`
	DomainID int64 `gorm:"not null;uniqueIndex:idx_domain_admin_pair,priority:2;index"`
}

// lookupUserDomainTx finds a user by address and a domain by name, or
// returns ErrNotFound saying which is missing.
func lookupUserDomainTx(tx *gorm.DB, addr, domain string) (*User, *Domain, error) {
	var u User
	if err := tx.Where("address = ?", addr).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, fmt.Errorf("user %s: %w", addr, core.ErrNotFound)
		}
		return nil, nil, err
	}
	var d Domain
	if err := tx.Where("name = ?", domain).Take(&d).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, fmt.Errorf("domain %s: %w", domain, core.ErrNotFound)
		}
		return nil, nil, err
	}
	return &u, &d, nil
}

// AddDomainAdmin lets the user at userAddress administer domain. Both must
// exist (else ErrNotFound); granting twice is ErrExists.
func (s *Store) AddDomainAdmin(ctx context.Context, userAddress, domain string) error {
	a, err := core.NormalizeAddress(userAddress)
	if err != nil {
		return fmt.Errorf("add domain admin: %w", err)
	}
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("add domain admin: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		u, d, err := lookupUserDomainTx(tx.DB, a, n)
		if err != nil {
			return err
		}
		var count int64
		if err := tx.Model(&DomainAdmin{}).Where("user_id = ? AND domain_id = ?", u.ID, d.ID).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return core.ErrExists
		}
		if err := tx.Create(&DomainAdmin{UserID: u.ID, DomainID: d.ID}).Error; err != nil {
			return err
		}
		return tx.audit("domain_admin.add", n, map[string]any{"user": a})
	})
	if err != nil {
		return fmt.Errorf("add %s as admin of %s: %w", a, n, uniqueToExists(err))
	}
	return nil
}

// RemoveDomainAdmin takes administration of domain away from the user at
// userAddress. ErrNotFound if the user, the domain or the grant is missing.
func (s *Store) RemoveDomainAdmin(ctx context.Context, userAddress, domain string) error {
	a, err := core.NormalizeAddress(userAddress)
	if err != nil {
		return fmt.Errorf("remove domain admin: %w", err)
	}
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("remove domain admin: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		u, d, err := lookupUserDomainTx(tx.DB, a, n)
		if err != nil {
			return err
		}
		res := tx.Where("user_id = ? AND domain_id = ?", u.ID, d.ID).Delete(&DomainAdmin{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s is not an admin of %s: %w", a, n, core.ErrNotFound)
		}
		return tx.audit("domain_admin.remove", n, map[string]any{"user": a})
	})
	if err != nil {
		return fmt.Errorf("remove %s as admin of %s: %w", a, n, err)
	}
	return nil
}

// ListDomainAdmins returns the addresses of the users who administer domain,
// in order. An unknown domain is ErrNotFound.
func (s *Store) ListDomainAdmins(ctx context.Context, domain string) ([]string, error) {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("list domain admins: %w", err)
	}
	db := s.db.WithContext(ctx)
	var d Domain
	if err := db.Where("name = ?", n).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("list admins of %s: %w", n, notFound(err))
	}
	addrs := []string{}
	err = db.Model(&User{}).
		Where("id IN (?)", db.Model(&DomainAdmin{}).Select("user_id").Where("domain_id = ?", d.ID)).
		Order("address").Pluck("address", &addrs).Error
	if err != nil {
		return nil, fmt.Errorf("list admins of %s: %w", n, err)
	}
	return addrs, nil
}

// AdminDomains returns the names of the domains the user administers, in
// order (none if the user is unknown).
func (s *Store) AdminDomains(ctx context.Context, userID int64) ([]string, error) {
	db := s.db.WithContext(ctx)
	names := []string{}
	err := db.Model(&Domain{}).
		Where("id IN (?)", db.Model(&DomainAdmin{}).Select("domain_id").Where("user_id = ?", userID)).
		Order("name").Pluck("name", &names).Error
	if err != nil {
		return nil, fmt.Errorf("list domains administered by user %d: %w", userID, err)
	}
	return names, nil
}

// IsDomainAdmin reports whether the user administers domain.
func (s *Store) IsDomainAdmin(ctx context.Context, userID int64, domain string) (bool, error) {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return false, nil
	}
	db := s.db.WithContext(ctx)
	var count int64
	err = db.Model(&DomainAdmin{}).
		Where("user_id = ? AND domain_id IN (?)", userID, db.Model(&Domain{}).Select("id").Where("name = ?", n)).
		Count(&count).Error
	if err != nil {
		return false, fmt.Errorf("check admin of %s: %w", n, err)
	}
	return count > 0, nil
}

// deleteUserAdminRowsTx removes what refers to a user being deleted: its
// domain-admin grants and its API tokens.
func deleteUserAdminRowsTx(tx *writeTx, userID int64) error {
	if err := tx.Where("user_id = ?", userID).Delete(&DomainAdmin{}).Error; err != nil {
		return err
	}
	return revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: userID}, true)
}

// deleteDomainAdminRowsTx removes the domain-admin grants of a domain being
// deleted.
func deleteDomainAdminRowsTx(tx *writeTx, domainID int64) error {
	return tx.Where("domain_id = ?", domainID).Delete(&DomainAdmin{}).Error
}
