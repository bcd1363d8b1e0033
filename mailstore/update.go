package mailstore

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
)

// UserUpdate lists the account fields to change; nil fields stay as they are.
type UserUpdate struct {
	DisplayName   *string
	QuotaBytes    *int64 // 0 means unlimited
	QuotaMessages *int64 // 0 means unlimited
	Enabled       *bool
	Language      *string // one of Languages, or "" for the domain's
}

// UpdateUser changes an account's settings and returns it as it is now. A
// lowered quota applies to mail that arrives later; nothing stored is
// removed, but a quota warning is given if the usage reaches a warning
// level of the new quota (see quota_warning.go).
func (s *Store) UpdateUser(ctx context.Context, address string, up UserUpdate) (*User, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	set := map[string]any{}
	if up.DisplayName != nil {
		if len(*up.DisplayName) > 200 || !utf8.ValidString(*up.DisplayName) {
			return nil, fmt.Errorf("update user %s: display name must be valid UTF-8 of at most 200 bytes: %w", a, core.ErrInvalid)
		}
		set["display_name"] = *up.DisplayName
	}
	if up.QuotaBytes != nil {
		if *up.QuotaBytes < 0 {
			return nil, fmt.Errorf("update user %s: quota must not be negative: %w", a, core.ErrInvalid)
		}
		set["quota_bytes"] = *up.QuotaBytes
	}
	if up.QuotaMessages != nil {
		if *up.QuotaMessages < 0 {
			return nil, fmt.Errorf("update user %s: message quota must not be negative: %w", a, core.ErrInvalid)
		}
		set["quota_messages"] = *up.QuotaMessages
	}
	if up.Enabled != nil {
		set["enabled"] = *up.Enabled
	}
	if up.Language != nil {
		if err := CheckLanguage(*up.Language); err != nil {
			return nil, fmt.Errorf("update user %s: %w", a, err)
		}
		set["language"] = *up.Language
	}
	var u User
	err = s.write(ctx, func(tx *writeTx) error {
		if up.QuotaBytes != nil {
			if err := checkUserQuotaTx(tx.DB, a, *up.QuotaBytes); err != nil {
				return err
			}
		}
		if len(set) > 0 {
			res := tx.Model(&User{}).Where("address = ?", a).Updates(set)
			if res.Error != nil {
				return res.Error
			}
		}
		if err := notFound(tx.Where("address = ?", a).Take(&u).Error); err != nil {
			return err
		}
		if up.QuotaBytes != nil || up.QuotaMessages != nil {
			// A lowered quota may reach a warning level, a raised one
			// take the usage below one.
			usage := quotaUsage{u.QuotaBytes, u.QuotaMessages, u.UsedBytes, u.UsedMessages, u.QuotaWarningPercent}
			if err := quotaWarningTx(tx, u.ID, usage, true); err != nil {
				return err
			}
			if err := tx.Where("id = ?", u.ID).Take(&u).Error; err != nil {
				return err
			}
		}
		if up.Enabled != nil && !*up.Enabled {
			// Disabling ends the account's API sessions: they must not
			// come back to life when it is enabled again.
			if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: u.ID}, false); err != nil {
				return err
			}
		}
		if len(set) == 0 {
			return nil
		}
		return tx.audit("user.update", a, set)
	})
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", a, err)
	}
	return &u, nil
}

// SetDomainEnabled turns a domain on or off. A disabled domain receives no
// mail (its addresses are unknown to SMTP) and its users cannot log in;
// nothing is deleted.
func (s *Store) SetDomainEnabled(ctx context.Context, name string, enabled bool) (*Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("set domain enabled: %w", err)
	}
	var d Domain
	err = s.write(ctx, func(tx *writeTx) error {
		if err := tx.Model(&Domain{}).Where("name = ?", n).Update("enabled", enabled).Error; err != nil {
			return err
		}
		if err := notFound(tx.Where("name = ?", n).Take(&d).Error); err != nil {
			return err
		}
		return tx.audit("domain.update", n, map[string]any{"enabled": enabled})
	})
	if err != nil {
		return nil, fmt.Errorf("set domain %s enabled=%t: %w", n, enabled, err)
	}
	return &d, nil
}
