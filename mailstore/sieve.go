package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
)

// Sieve scripts (RFC 5228) are kept here as text: a user has any number of
// named scripts, at most one of them active (the one run at delivery), and
// a domain may have one script its admins write, run before the user's.
// The mailstore does not read them; the service layer checks a script with
// the sieve package before it is stored.

// sieveScript is one of a user's scripts.
type sieveScript struct {
	ID        int64     `gorm:"primaryKey"`
	UserID    int64     `gorm:"not null;uniqueIndex:idx_sieve_user_name,priority:1"`
	Name      string    `gorm:"size:512;not null;uniqueIndex:idx_sieve_user_name,priority:2"`
	Content   string    `gorm:"not null"`
	Active    bool      `gorm:"not null;default:false"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (sieveScript) TableName() string { return "sieve_scripts" }

// domainSieveScript is a domain's policy script.
type domainSieveScript struct {
	DomainID  int64     `gorm:"primaryKey;autoIncrement:false"`
	Content   string    `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (domainSieveScript) TableName() string { return "domain_sieve_scripts" }

func sieveModels() []any { return []any{&sieveScript{}, &domainSieveScript{}, &vacationReply{}} }

// vacationReply records that a user's vacation (one handle) answered a
// sender, for the once-per-period rule of RFC 5230.
type vacationReply struct {
	UserID int64     `gorm:"primaryKey;autoIncrement:false"`
	Handle string    `gorm:"primaryKey;size:200"`
	Sender string    `gorm:"primaryKey;size:320"`
	SentAt time.Time `gorm:"not null;index"`
}

func (vacationReply) TableName() string { return "vacation_replies" }

// vacationKeep is how long a vacation reply is remembered: longer than
// any period a script may ask for is of no use to anyone.
const vacationKeep = 366 * 24 * time.Hour

// VacationReplied reports whether the user's vacation with handle answered
// sender (compared lower-cased) less than period before now.
func (s *Store) VacationReplied(ctx context.Context, userID int64, handle, sender string, period time.Duration, now time.Time) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&vacationReply{}).
		Where("user_id = ? AND handle = ? AND sender = ? AND sent_at > ?", userID, handle, strings.ToLower(sender), now.Add(-period).UTC()).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("vacation replies of user %d: %w", userID, err)
	}
	return n > 0, nil
}

// RecordVacationReply durably records that the user's vacation with
// handle answered sender at the time at, and forgets replies older than
// a year.
func (s *Store) RecordVacationReply(ctx context.Context, userID int64, handle, sender string, at time.Time) error {
	row := vacationReply{UserID: userID, Handle: handle, Sender: strings.ToLower(sender), SentAt: at.UTC()}
	err := s.write(ctx, func(tx *writeTx) error {
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ? AND sent_at < ?", userID, at.Add(-vacationKeep).UTC()).Delete(&vacationReply{}).Error
	})
	if err != nil {
		return fmt.Errorf("record vacation reply of user %d: %w", userID, err)
	}
	return nil
}

// SieveScript is a stored Sieve script. Content is empty in listings.
type SieveScript struct {
	Name      string
	Active    bool
	Size      int64
	UpdatedAt time.Time
	Content   string
}

// sieveUserTx finds the account of a script owner.
func sieveUserTx(tx *gorm.DB, address string) (*User, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	var u User
	if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("user %s: %w", a, notFound(err))
	}
	return &u, nil
}

// ListSieveScripts returns a user's scripts ordered by name, without their
// content.
func (s *Store) ListSieveScripts(ctx context.Context, address string) ([]SieveScript, error) {
	u, err := sieveUserTx(s.db.WithContext(ctx), address)
	if err != nil {
		return nil, fmt.Errorf("list sieve scripts: %w", err)
	}
	var rows []struct {
		Name      string
		Active    bool
		Size      int64
		UpdatedAt time.Time
	}
	err = s.db.WithContext(ctx).Model(&sieveScript{}).Select("name, active, length(content) AS size, updated_at").
		Where("user_id = ?", u.ID).Order("name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list sieve scripts of %s: %w", u.Address, err)
	}
	out := make([]SieveScript, len(rows))
	for i, r := range rows {
		out[i] = SieveScript{Name: r.Name, Active: r.Active, Size: r.Size, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// GetSieveScript returns one of a user's scripts with its content.
func (s *Store) GetSieveScript(ctx context.Context, address, name string) (*SieveScript, error) {
	u, err := sieveUserTx(s.db.WithContext(ctx), address)
	if err != nil {
		return nil, fmt.Errorf("get sieve script: %w", err)
	}
	var row sieveScript
	if err := s.db.WithContext(ctx).Where("user_id = ? AND name = ?", u.ID, name).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("sieve script %q of %s: %w", name, u.Address, notFound(err))
	}
	return row.public(), nil
}

// ActiveSieveScript returns the user's active script, or nil if none is
// active. Delivery calls it for every local recipient.
func (s *Store) ActiveSieveScript(ctx context.Context, userID int64) (*SieveScript, error) {
	var r sieveScript
	err := s.readRow(ctx, "SELECT name, active, updated_at, content FROM sieve_scripts WHERE user_id = ? AND active LIMIT 1", userID).
		Scan(&r.Name, &r.Active, &r.UpdatedAt, &r.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("active sieve script of user %d: %w", userID, err)
	}
	return r.public(), nil
}

func (r *sieveScript) public() *SieveScript {
	return &SieveScript{Name: r.Name, Active: r.Active, Size: int64(len(r.Content)), UpdatedAt: r.UpdatedAt, Content: r.Content}
}

// PutSieveScript creates or replaces a user's script. A new script that
// would give the user more than maxScripts (0: no limit) gives an error wrapping
// core.ErrOverQuota, and nothing changes. Replacing keeps the active flag.
func (s *Store) PutSieveScript(ctx context.Context, address, name, content string, maxScripts int) error {
	err := s.write(ctx, func(tx *writeTx) error {
		u, err := sieveUserTx(tx.DB, address)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		res := tx.Model(&sieveScript{}).Where("user_id = ? AND name = ?", u.ID, name).
			Updates(map[string]any{"content": content, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if maxScripts > 0 {
				var n int64
				if err := tx.Model(&sieveScript{}).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
					return err
				}
				if n >= int64(maxScripts) {
					return fmt.Errorf("%s has %d scripts, the most allowed: %w", u.Address, n, core.ErrOverQuota)
				}
			}
			if err := tx.Create(&sieveScript{UserID: u.ID, Name: name, Content: content, UpdatedAt: now}).Error; err != nil {
				return uniqueToExists(err)
			}
		}
		return tx.audit("sieve.put", u.Address, map[string]any{"name": name, "size": len(content)})
	})
	if err != nil {
		return fmt.Errorf("put sieve script %q: %w", name, err)
	}
	return nil
}

// DeleteSieveScript removes a user's script. The active script cannot be
// removed (core.ErrConflict), as RFC 5804 section 2.10 asks: deactivate it
// first.
func (s *Store) DeleteSieveScript(ctx context.Context, address, name string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		u, err := sieveUserTx(tx.DB, address)
		if err != nil {
			return err
		}
		var row sieveScript
		if err := tx.Where("user_id = ? AND name = ?", u.ID, name).Take(&row).Error; err != nil {
			return notFound(err)
		}
		if row.Active {
			return fmt.Errorf("script %q is active; deactivate it first: %w", name, core.ErrConflict)
		}
		if err := tx.Delete(&row).Error; err != nil {
			return err
		}
		return tx.audit("sieve.delete", u.Address, map[string]any{"name": name})
	})
	if err != nil {
		return fmt.Errorf("delete sieve script %q: %w", name, err)
	}
	return nil
}

// RenameSieveScript renames a user's script, keeping its active flag; a
// script of the new name already there gives core.ErrExists.
func (s *Store) RenameSieveScript(ctx context.Context, address, oldName, newName string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		u, err := sieveUserTx(tx.DB, address)
		if err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&sieveScript{}).Where("user_id = ? AND name = ?", u.ID, newName).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 && oldName != newName {
			return fmt.Errorf("a script named %q: %w", newName, core.ErrExists)
		}
		res := tx.Model(&sieveScript{}).Where("user_id = ? AND name = ?", u.ID, oldName).
			Updates(map[string]any{"name": newName, "updated_at": time.Now().UTC()})
		if res.Error != nil {
			return uniqueToExists(res.Error)
		}
		if res.RowsAffected == 0 {
			return core.ErrNotFound
		}
		return tx.audit("sieve.rename", u.Address, map[string]any{"name": oldName, "new_name": newName})
	})
	if err != nil {
		return fmt.Errorf("rename sieve script %q: %w", oldName, err)
	}
	return nil
}

// ActivateSieveScript makes name the user's one active script; "" leaves
// the user with none active.
func (s *Store) ActivateSieveScript(ctx context.Context, address, name string) error {
	err := s.write(ctx, func(tx *writeTx) error {
		u, err := sieveUserTx(tx.DB, address)
		if err != nil {
			return err
		}
		if name != "" {
			var n int64
			if err := tx.Model(&sieveScript{}).Where("user_id = ? AND name = ?", u.ID, name).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return core.ErrNotFound
			}
		}
		if err := tx.Model(&sieveScript{}).Where("user_id = ? AND active", u.ID).Update("active", false).Error; err != nil {
			return err
		}
		if name != "" {
			if err := tx.Model(&sieveScript{}).Where("user_id = ? AND name = ?", u.ID, name).Update("active", true).Error; err != nil {
				return err
			}
		}
		return tx.audit("sieve.activate", u.Address, map[string]any{"name": name})
	})
	if err != nil {
		return fmt.Errorf("activate sieve script %q: %w", name, err)
	}
	return nil
}

// DomainSieveScript returns a domain's policy script, or nil if it has
// none.
func (s *Store) DomainSieveScript(ctx context.Context, domain string) (*SieveScript, error) {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("domain sieve script: %w", err)
	}
	// One query for the domain and its script: intake asks for every
	// message.
	var content sql.NullString
	var updated sql.NullTime
	err = s.readRow(ctx, "SELECT s.content, s.updated_at FROM domains d LEFT JOIN domain_sieve_scripts s ON s.domain_id = d.id WHERE d.name = ? LIMIT 1", n).
		Scan(&content, &updated)
	if err != nil {
		return nil, fmt.Errorf("domain %s: %w", n, notFound(err))
	}
	if !content.Valid {
		return nil, nil
	}
	return &SieveScript{Name: n, Active: true, Size: int64(len(content.String)), UpdatedAt: updated.Time, Content: content.String}, nil
}

// PutDomainSieveScript sets a domain's policy script.
func (s *Store) PutDomainSieveScript(ctx context.Context, domain, content string) error {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("put domain sieve script: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var d Domain
		if err := tx.Where("name = ?", n).Take(&d).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("domain_id = ?", d.ID).Delete(&domainSieveScript{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&domainSieveScript{DomainID: d.ID, Content: content, UpdatedAt: time.Now().UTC()}).Error; err != nil {
			return err
		}
		return tx.audit("domain.sieve.put", n, map[string]any{"size": len(content)})
	})
	if err != nil {
		return fmt.Errorf("put sieve script of domain %s: %w", n, err)
	}
	return nil
}

// DeleteDomainSieveScript removes a domain's policy script; a domain
// without one gives core.ErrNotFound.
func (s *Store) DeleteDomainSieveScript(ctx context.Context, domain string) error {
	n, err := core.NormalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("delete domain sieve script: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var d Domain
		if err := tx.Where("name = ?", n).Take(&d).Error; err != nil {
			return notFound(err)
		}
		res := tx.Where("domain_id = ?", d.ID).Delete(&domainSieveScript{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("no sieve script: %w", core.ErrNotFound)
		}
		return tx.audit("domain.sieve.delete", n, nil)
	})
	if err != nil {
		return fmt.Errorf("delete sieve script of domain %s: %w", n, err)
	}
	return nil
}

// deleteUserSieveTx removes the scripts of an account that goes away.
func deleteUserSieveTx(tx *writeTx, userID int64) error {
	if err := tx.Where("user_id = ?", userID).Delete(&vacationReply{}).Error; err != nil {
		return err
	}
	return tx.Where("user_id = ?", userID).Delete(&sieveScript{}).Error
}

// deleteDomainSieveTx removes the script of a domain that goes away.
func deleteDomainSieveTx(tx *writeTx, domainID int64) error {
	return tx.Where("domain_id = ?", domainID).Delete(&domainSieveScript{}).Error
}
