package mailstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// Domain usage (Domain.UsedBytes, UsedMessages) is the sum of its users'
// usage, kept exact by changing it in the same statements' places as theirs
// (insertMessages, removeRows, deleteUserTx). A domain that existed before
// these columns has UsageCounted false: its usage is counted from its users
// the first time it is read (GetDomain, ListDomains, DomainUsage) or updated
// (UpdateDomain). Only UpdateDomain can set a domain quota, so the quota
// check at delivery always sees a counted domain.

// DomainFilterSettings are a domain's settings of the inbound filter chain,
// applied to mail for its users. A nil field means the server's setting
// (YUBIN_*). When a message's recipients span domains, the strictest of
// their settings applies (see mta).
type DomainFilterSettings struct {
	// SpamJunkScore and SpamRejectScore are the spam filter's thresholds
	// (positive).
	SpamJunkScore   *float64 `gorm:"column:spam_junk_score"`
	SpamRejectScore *float64 `gorm:"column:spam_reject_score"`
	// SpamFilter false turns the spam filter off.
	SpamFilter *bool `gorm:"column:spam_filter"`
	// VirusScan false turns the virus scanner (clamd) off.
	VirusScan *bool `gorm:"column:virus_scan"`
	// DMARCEnforce false only records the DMARC results: p=reject and
	// p=quarantine are not acted upon.
	DMARCEnforce *bool `gorm:"column:dmarc_enforce"`
}

// Nullable is a change to a setting that may be null (the server's
// setting). The zero value leaves the setting as it is; Set with a nil
// Value sets it back to null. In JSON it reads a value or null as set (an
// absent field stays the zero value).
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// SetTo returns the change of a setting to v.
func SetTo[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// SetNull returns the change of a setting back to null.
func SetNull[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// UnmarshalJSON reads a value or null.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set, n.Value = true, nil
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// DomainUpdate lists the domain settings to change; nil (or zero Nullable)
// fields stay as they are.
type DomainUpdate struct {
	Enabled           *bool
	DefaultQuotaBytes *int64 // quota of users created without one; 0: none
	MaxQuotaBytes     *int64 // largest quota of one user; 0: no maximum
	QuotaBytes        *int64 // for all the domain's mail together; 0: unlimited
	MaxUsers          *int64 // 0: unlimited
	// RequireTwoFactor makes a second factor compulsory for its users.
	RequireTwoFactor *bool

	// The filter settings (see DomainFilterSettings); null: the server's.
	SpamJunkScore   Nullable[float64] // positive
	SpamRejectScore Nullable[float64] // positive
	SpamFilter      Nullable[bool]
	VirusScan       Nullable[bool]
	DMARCEnforce    Nullable[bool]

	// QuotaWarningPercents are the usage levels that warn users (1 to
	// 100, at most 5; empty: none); Language the language of the server's
	// messages to the domain's users (one of Languages, or "").
	QuotaWarningPercents *Percents
	Language             *string

	// EncryptionMode is EncryptionServer, EncryptionUser or "" (the
	// server's): see userkeys.go. It applies to mail stored from then on.
	EncryptionMode *string
}

// checkScore refuses a spam threshold that is not a positive number.
func checkScore(name string, v Nullable[float64]) error {
	if v.Value != nil && (!(*v.Value > 0) || math.IsInf(*v.Value, 0)) {
		return fmt.Errorf("%s must be a positive number: %w", name, core.ErrInvalid)
	}
	return nil
}

// UpdateDomain changes a domain's settings and returns it as it is now.
// Lowered limits apply to later changes: existing users, quotas and mail
// stay.
func (s *Store) UpdateDomain(ctx context.Context, name string, up DomainUpdate) (*Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("update domain: %w", err)
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{"default quota", up.DefaultQuotaBytes},
		{"maximum user quota", up.MaxQuotaBytes},
		{"domain quota", up.QuotaBytes},
		{"maximum number of users", up.MaxUsers},
	} {
		if f.v != nil && *f.v < 0 {
			return nil, fmt.Errorf("update domain %s: %s must not be negative: %w", n, f.name, core.ErrInvalid)
		}
	}
	for _, err := range []error{checkScore("spam junk score", up.SpamJunkScore), checkScore("spam reject score", up.SpamRejectScore)} {
		if err != nil {
			return nil, fmt.Errorf("update domain %s: %w", n, err)
		}
	}
	var levels Percents
	if up.QuotaWarningPercents != nil {
		if levels, err = up.QuotaWarningPercents.Normalized(); err != nil {
			return nil, fmt.Errorf("update domain %s: %w", n, err)
		}
	}
	if up.Language != nil {
		if err := CheckLanguage(*up.Language); err != nil {
			return nil, fmt.Errorf("update domain %s: %w", n, err)
		}
	}
	if up.EncryptionMode != nil {
		if err := CheckEncryptionMode(*up.EncryptionMode); err != nil {
			return nil, fmt.Errorf("update domain %s: %w", n, err)
		}
	}
	var d Domain
	err = s.write(ctx, func(tx *writeTx) error {
		d = Domain{}
		if err := tx.Where("name = ?", n).Take(&d).Error; err != nil {
			return notFound(err)
		}
		set := map[string]any{}
		if up.Enabled != nil {
			d.Enabled = *up.Enabled
			set["enabled"] = d.Enabled
		}
		if up.RequireTwoFactor != nil {
			d.RequireTwoFactor = *up.RequireTwoFactor
			set["require_two_factor"] = d.RequireTwoFactor
		}
		if up.DefaultQuotaBytes != nil {
			d.DefaultQuotaBytes = *up.DefaultQuotaBytes
			set["default_quota_bytes"] = d.DefaultQuotaBytes
		}
		if up.MaxQuotaBytes != nil {
			d.MaxQuotaBytes = *up.MaxQuotaBytes
			set["max_quota_bytes"] = d.MaxQuotaBytes
		}
		if up.QuotaBytes != nil {
			d.QuotaBytes = *up.QuotaBytes
			set["quota_bytes"] = d.QuotaBytes
		}
		if up.MaxUsers != nil {
			d.MaxUsers = *up.MaxUsers
			set["max_users"] = d.MaxUsers
		}
		setNullable(set, "spam_junk_score", up.SpamJunkScore, &d.SpamJunkScore)
		setNullable(set, "spam_reject_score", up.SpamRejectScore, &d.SpamRejectScore)
		setNullable(set, "spam_filter", up.SpamFilter, &d.SpamFilter)
		setNullable(set, "virus_scan", up.VirusScan, &d.VirusScan)
		setNullable(set, "dmarc_enforce", up.DMARCEnforce, &d.DMARCEnforce)
		if up.QuotaWarningPercents != nil {
			d.QuotaWarningPercents = levels
			v, _ := levels.Value()
			set["quota_warning_percents"] = v
		}
		if up.Language != nil {
			d.Language = *up.Language
			set["language"] = d.Language
		}
		if up.EncryptionMode != nil {
			d.EncryptionMode = *up.EncryptionMode
			set["encryption_mode"] = d.EncryptionMode
			// Mail stored under the server key meanwhile moves to the
			// users' keys again (MoveMailToUserKeys).
			if err := tx.Model(&userKeyRow{}).Where("user_id IN (?)", tx.Model(&User{}).Select("id").Where("domain_id = ?", d.ID)).
				Update("moved", false).Error; err != nil {
				return err
			}
		}
		if d.MaxQuotaBytes > 0 && d.DefaultQuotaBytes > d.MaxQuotaBytes {
			return fmt.Errorf("default quota (%d bytes) is above the maximum user quota (%d bytes): %w",
				d.DefaultQuotaBytes, d.MaxQuotaBytes, core.ErrInvalid)
		}
		if !d.UsageCounted {
			if err := countDomainUsageTx(tx.DB, d.ID); err != nil {
				return err
			}
		}
		if len(set) > 0 {
			if err := tx.Model(&Domain{}).Where("id = ?", d.ID).Updates(set).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", d.ID).Take(&d).Error; err != nil {
			return err
		}
		if len(set) == 0 {
			return nil
		}
		return tx.audit("domain.update", n, set)
	})
	if err != nil {
		return nil, fmt.Errorf("update domain %s: %w", n, err)
	}
	return &d, nil
}

// setNullable records the change v of the nullable column col, whose
// value in the domain read is *field.
func setNullable[T any](set map[string]any, col string, v Nullable[T], field **T) {
	if !v.Set {
		return
	}
	*field = v.Value
	if v.Value == nil {
		set[col] = nil
	} else {
		set[col] = *v.Value
	}
}

// DomainUsage is what a domain holds.
type DomainUsage struct {
	Users        int64 `json:"users"`
	UsedBytes    int64 `json:"used_bytes"`
	UsedMessages int64 `json:"used_messages"`
}

// DomainUsage returns a domain's number of users and the size and number
// of their messages.
func (s *Store) DomainUsage(ctx context.Context, name string) (*DomainUsage, error) {
	d, err := s.GetDomain(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("domain usage: %w", err)
	}
	u := DomainUsage{UsedBytes: d.UsedBytes, UsedMessages: d.UsedMessages}
	if err := s.db.WithContext(ctx).Model(&User{}).Where("domain_id = ?", d.ID).Count(&u.Users).Error; err != nil {
		return nil, fmt.Errorf("domain usage of %s: %w", d.Name, err)
	}
	return &u, nil
}

// countDomainUsageTx sets a domain's usage to the sum of its users'.
func countDomainUsageTx(tx *gorm.DB, domainID int64) error {
	var sum struct{ Bytes, Messages int64 }
	err := tx.Model(&User{}).
		Select("COALESCE(SUM(used_bytes), 0) AS bytes, COALESCE(SUM(used_messages), 0) AS messages").
		Where("domain_id = ?", domainID).Scan(&sum).Error
	if err != nil {
		return fmt.Errorf("count usage of domain %d: %w", domainID, err)
	}
	err = tx.Model(&Domain{}).Where("id = ?", domainID).Updates(map[string]any{
		"used_bytes": sum.Bytes, "used_messages": sum.Messages, "usage_counted": true,
	}).Error
	if err != nil {
		return fmt.Errorf("count usage of domain %d: %w", domainID, err)
	}
	return nil
}

// countDomainsUsage counts the usage of the domains whose usage is not
// counted yet (domains older than the usage columns).
func (s *Store) countDomainsUsage(ctx context.Context) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var ids []int64
		if err := tx.Model(&Domain{}).Where("usage_counted = ?", false).Pluck("id", &ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			if err := countDomainUsageTx(tx.DB, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count domain usage: %w", err)
	}
	return nil
}

// addDomainUsageTx adds to the usage of a user's domain (negative values
// subtract). It runs wherever the user's usage changes, in the same
// transaction.
func addDomainUsageTx(tx *writeTx, userID, bytes, messages int64) error {
	return tx.txExec("UPDATE domains SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = (SELECT domain_id FROM users WHERE id = ?)",
		bytes, messages, userID)
}

// removeUserFromDomainUsageTx takes the usage of a user being deleted off
// its domain's.
func removeUserFromDomainUsageTx(tx *gorm.DB, u *User) error {
	return tx.Model(&Domain{}).Where("id = ?", u.DomainID).Updates(map[string]any{
		"used_bytes":    gorm.Expr("used_bytes - (SELECT used_bytes FROM users WHERE id = ?)", u.ID),
		"used_messages": gorm.Expr("used_messages - (SELECT used_messages FROM users WHERE id = ?)", u.ID),
	}).Error
}

// checkNewUserTx applies the rules of domain d to the new user u, asked for
// with the given quota: the address must not be an alias (ErrExists), the
// domain's user limit (ErrConflict) and quota settings (see
// userQuotaInDomain) apply. It sets u.QuotaBytes.
func checkNewUserTx(tx *gorm.DB, d *Domain, u *User, quota int64) error {
	var count int64
	if err := tx.Model(&Alias{}).Where("address = ?", u.Address).Count(&count).Error; err != nil {
		return err
	}
	if count > 0 {
		return fmt.Errorf("%s is an alias: %w", u.Address, core.ErrExists)
	}
	if d.MaxUsers > 0 {
		if err := tx.Model(&User{}).Where("domain_id = ?", d.ID).Count(&count).Error; err != nil {
			return err
		}
		if count >= d.MaxUsers {
			return fmt.Errorf("domain has reached its user limit (%d users): %w", d.MaxUsers, core.ErrConflict)
		}
	}
	q, err := userQuotaInDomain(d, quota)
	if err != nil {
		return err
	}
	u.QuotaBytes = q
	return nil
}

// userQuotaInDomain returns the quota a new user of d gets when asked for
// quota (0: unlimited): the domain's default quota if none is asked for,
// and an error if the quota is above the domain's maximum.
func userQuotaInDomain(d *Domain, quota int64) (int64, error) {
	if quota == 0 {
		quota = d.DefaultQuotaBytes
	}
	if d.MaxQuotaBytes <= 0 {
		return quota, nil
	}
	if quota == 0 {
		return d.MaxQuotaBytes, nil
	}
	if quota > d.MaxQuotaBytes {
		return 0, fmt.Errorf("quota of %d bytes is above the domain's maximum of %d bytes: %w", quota, d.MaxQuotaBytes, core.ErrInvalid)
	}
	return quota, nil
}

// checkUserQuotaTx refuses a quota (0: unlimited) above the maximum of the
// domain of the user with the given address.
func checkUserQuotaTx(tx *gorm.DB, address string, quota int64) error {
	var maxQuota int64
	err := tx.Raw("SELECT d.max_quota_bytes FROM domains d JOIN users u ON u.domain_id = d.id WHERE u.address = ?", address).
		Row().Scan(&maxQuota)
	if err != nil {
		return notFound(err)
	}
	switch {
	case maxQuota <= 0:
		return nil
	case quota == 0:
		return fmt.Errorf("an unlimited quota is above the domain's maximum of %d bytes: %w", maxQuota, core.ErrInvalid)
	case quota > maxQuota:
		return fmt.Errorf("quota of %d bytes is above the domain's maximum of %d bytes: %w", quota, maxQuota, core.ErrInvalid)
	}
	return nil
}
