package mailstore

import (
	"context"
	"fmt"
	"time"
)

// SecurityPolicy is the server's account security settings: one row,
// changed by server admins.
type SecurityPolicy struct {
	ID int64 `gorm:"primaryKey;autoIncrement:false"`
	// RequireTwoFactor makes a second factor compulsory for every user
	// (a domain can require it for its own users; see Domain).
	RequireTwoFactor bool `gorm:"not null;default:false"`
	// NotifyNewSignIn mails a user when their account signs in to the
	// dashboard or the API from an address it has not signed in from
	// before.
	NotifyNewSignIn bool `gorm:"not null;default:false"`
	UpdatedAt       time.Time
}

func accountSecurityModels() []any {
	return []any{&SecurityPolicy{}, &AppPassword{}, &TOTPFactor{}, &RecoveryCode{}, &SignInPlace{}, &Passkey{}}
}

// deleteAccountSecurityRowsTx deletes what secures the sign-in of the user
// with ID userID: their app passwords and second factors.
func deleteAccountSecurityRowsTx(tx *writeTx, userID int64) error {
	for _, m := range accountSecurityModels() {
		if _, ok := m.(*SecurityPolicy); ok {
			continue
		}
		if err := tx.Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return err
		}
	}
	return nil
}

// GetSecurityPolicy returns the server's account security settings.
func (s *Store) GetSecurityPolicy(ctx context.Context) (*SecurityPolicy, error) {
	var ps []SecurityPolicy
	if err := s.db.WithContext(ctx).Where("id = 1").Limit(1).Find(&ps).Error; err != nil {
		return nil, fmt.Errorf("read security policy: %w", err)
	}
	if len(ps) == 0 {
		return &SecurityPolicy{ID: 1}, nil
	}
	return &ps[0], nil
}

// SecurityPolicyUpdate lists the settings to change; nil fields stay.
type SecurityPolicyUpdate struct {
	RequireTwoFactor *bool
	NotifyNewSignIn  *bool
}

// UpdateSecurityPolicy changes the server's account security settings and
// returns them as they are now.
func (s *Store) UpdateSecurityPolicy(ctx context.Context, up SecurityPolicyUpdate) (*SecurityPolicy, error) {
	var p SecurityPolicy
	err := s.write(ctx, func(tx *writeTx) error {
		var ps []SecurityPolicy
		if err := tx.Where("id = 1").Limit(1).Find(&ps).Error; err != nil {
			return err
		}
		p = SecurityPolicy{ID: 1}
		if len(ps) > 0 {
			p = ps[0]
		}
		set := map[string]any{}
		if up.RequireTwoFactor != nil {
			p.RequireTwoFactor = *up.RequireTwoFactor
			set["require_two_factor"] = p.RequireTwoFactor
		}
		if up.NotifyNewSignIn != nil {
			p.NotifyNewSignIn = *up.NotifyNewSignIn
			set["notify_new_sign_in"] = p.NotifyNewSignIn
		}
		if len(set) == 0 {
			return nil
		}
		if err := tx.Save(&p).Error; err != nil {
			return err
		}
		return tx.audit("security.update", "server", set)
	})
	if err != nil {
		return nil, fmt.Errorf("update security policy: %w", err)
	}
	return &p, nil
}

// SecondFactorRequired reports whether the user must sign in with a
// second factor: they have one, or their domain or the server requires
// one. Mail protocols then take app passwords only.
func (s *Store) SecondFactorRequired(ctx context.Context, u *User) (bool, error) {
	var d Domain
	if err := s.db.WithContext(ctx).Where("id = ?", u.DomainID).Take(&d).Error; err != nil {
		return false, fmt.Errorf("domain of %s: %w", u.Address, notFound(err))
	}
	return s.secondFactorRequired(ctx, u, &d)
}

func (s *Store) secondFactorRequired(ctx context.Context, u *User, d *Domain) (bool, error) {
	if u.SecondFactor || d.RequireTwoFactor {
		return true, nil
	}
	p, err := s.GetSecurityPolicy(ctx)
	if err != nil {
		return false, err
	}
	return p.RequireTwoFactor, nil
}
