package mailstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
)

// Passkeys (WebAuthn credentials) are a user's second factor beside, or
// instead of, an authenticator app; a discoverable one also signs in
// without a password. The store keeps what the relying party needs to
// check an assertion: the credential's ID and public key (COSE), the
// signature counter it saw last (an authenticator that counts must count
// up, or it may have been cloned), and the flags the credential was made
// with. The ceremonies themselves (challenges, the WebAuthn checks) are
// internal/service's.

// MaxPasskeysPerUser caps the passkeys of one account.
const MaxPasskeysPerUser = 20

// maxPasskeyNameLen is the longest passkey name, in characters.
const maxPasskeyNameLen = 64

// Passkey is one of a user's WebAuthn credentials.
type Passkey struct {
	ID     int64 `gorm:"primaryKey"`
	UserID int64 `gorm:"not null;index"`
	// Name is the user's name for it ("YubiKey", "Laptop").
	Name string `gorm:"size:64;not null"`
	// CredentialID is the authenticator's ID of the credential.
	CredentialID []byte `gorm:"size:1023;not null;uniqueIndex"`
	// UserHandle is the WebAuthn user handle the credential was made for:
	// random bytes, the same for every passkey of the account.
	UserHandle []byte `gorm:"size:64;not null;index"`
	// PublicKey is the credential's public key, COSE-encoded.
	PublicKey         []byte `gorm:"not null"`
	AttestationType   string `gorm:"size:32;not null;default:''"`
	AttestationFormat string `gorm:"size:32;not null;default:''"`
	AAGUID            []byte `gorm:"size:16"`
	// Transports are the authenticator's transports, comma-separated.
	Transports string `gorm:"size:128;not null;default:''"`
	// SignCount is the signature counter of the last assertion accepted.
	SignCount      int64 `gorm:"not null;default:0"`
	UserPresent    bool  `gorm:"not null;default:false"`
	UserVerified   bool  `gorm:"not null;default:false"`
	BackupEligible bool  `gorm:"not null;default:false"`
	BackupState    bool  `gorm:"not null;default:false"`
	// Attachment is "platform" or "cross-platform" when the browser said.
	Attachment string `gorm:"size:32;not null;default:''"`
	CreatedAt  time.Time
	LastUsedAt *time.Time
	LastUsedIP string `gorm:"size:64;not null;default:''"`
}

// TransportList returns the passkey's transports.
func (p *Passkey) TransportList() []string {
	if p.Transports == "" {
		return nil
	}
	return strings.Split(p.Transports, ",")
}

// ValidPasskeyName checks a passkey's name and returns it trimmed.
func ValidPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", core.Invalid("name", "is required")
	case len([]rune(name)) > maxPasskeyNameLen:
		return "", core.Invalid("name", fmt.Sprintf("is longer than %d characters", maxPasskeyNameLen))
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", core.Invalid("name", "contains control characters")
	}
	return name, nil
}

// ListPasskeys returns the passkeys of the user with ID userID, oldest
// first.
func (s *Store) ListPasskeys(ctx context.Context, userID int64) ([]Passkey, error) {
	var ps []Passkey
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id").Find(&ps).Error; err != nil {
		return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
	}
	return ps, nil
}

// PasskeyByCredentialID returns the passkey with credential ID id (for a
// sign-in with a discoverable passkey, which names no account).
func (s *Store) PasskeyByCredentialID(ctx context.Context, id []byte) (*Passkey, error) {
	var p Passkey
	if err := s.db.WithContext(ctx).Where("credential_id = ?", id).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("passkey by credential ID: %w", notFound(err))
	}
	return &p, nil
}

// AddPasskey stores a new passkey of the user with ID userID (p.UserID is
// set). When it is the account's first second factor, two-factor sign-in
// turns on: the account gets recovery codes, returned here to be shown
// once, its sessions end (their tokens were granted on the password
// alone) and the mail protocols take app passwords only. Otherwise no
// codes are returned. A name already used or a credential stored already
// is ErrConflict.
func (s *Store) AddPasskey(ctx context.Context, userID int64, p *Passkey) ([]string, error) {
	name, err := ValidPasskeyName(p.Name)
	if err != nil {
		return nil, err
	}
	p.Name, p.UserID, p.ID = name, userID, 0
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	turnedOn := false
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return notFound(err)
		}
		var ps []Passkey
		if err := tx.Where("user_id = ?", userID).Find(&ps).Error; err != nil {
			return err
		}
		if len(ps) >= MaxPasskeysPerUser {
			return fmt.Errorf("%s has %d passkeys already, the most an account may have: %w", u.Address, len(ps), core.ErrConflict)
		}
		for _, o := range ps {
			if strings.EqualFold(o.Name, p.Name) {
				return fmt.Errorf("a passkey named %q exists already: %w", p.Name, core.ErrConflict)
			}
			// Every passkey of an account is made for the same user
			// handle (two first registrations begun at once would
			// differ): the authenticator answers with it.
			if !bytes.Equal(o.UserHandle, p.UserHandle) {
				return fmt.Errorf("another passkey was registered meanwhile; add this one again: %w", core.ErrConflict)
			}
		}
		var n int64
		if err := tx.Model(&Passkey{}).Where("credential_id = ?", p.CredentialID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("this passkey is registered already: %w", core.ErrConflict)
		}
		if err := tx.Create(p).Error; err != nil {
			return err
		}
		if err := tx.audit("user.passkey.add", u.Address, map[string]any{"name": p.Name}); err != nil {
			return err
		}
		if u.SecondFactor {
			return nil
		}
		turnedOn = true
		if err := replaceRecoveryCodesTx(tx, u.ID, hashes); err != nil {
			return err
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Update("second_factor", true).Error; err != nil {
			return err
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: u.ID}, false); err != nil {
			return err
		}
		return tx.audit("user.second_factor.enable", u.Address, map[string]any{"method": "passkey"})
	})
	if err != nil {
		if errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrNotFound) {
			return nil, fmt.Errorf("add passkey: %w", err)
		}
		return nil, fmt.Errorf("add passkey for user %d: %w", userID, err)
	}
	if !turnedOn {
		return nil, nil
	}
	return codes, nil
}

// DeletePasskey removes the passkey id of the user with ID userID. The
// account's last second factor is not removed this way (ErrConflict):
// turning two-factor sign-in off takes the password (RemoveSecondFactor).
func (s *Store) DeletePasskey(ctx context.Context, userID, id int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return notFound(err)
		}
		var p Passkey
		if err := tx.Where("id = ? AND user_id = ?", id, userID).Take(&p).Error; err != nil {
			return notFound(err)
		}
		var others, totp int64
		if err := tx.Model(&Passkey{}).Where("user_id = ? AND id <> ?", userID, id).Count(&others).Error; err != nil {
			return err
		}
		if err := tx.Model(&TOTPFactor{}).Where("user_id = ? AND confirmed = ?", userID, true).Count(&totp).Error; err != nil {
			return err
		}
		if others == 0 && totp == 0 {
			return fmt.Errorf("%q is the account's last second factor; turn two-factor sign-in off (with the password) instead: %w", p.Name, core.ErrConflict)
		}
		if err := tx.Delete(&Passkey{}, p.ID).Error; err != nil {
			return err
		}
		return tx.audit("user.passkey.delete", u.Address, map[string]any{"name": p.Name})
	})
	if err != nil {
		return fmt.Errorf("delete passkey %d: %w", id, err)
	}
	return nil
}

// PasskeyUse is an accepted assertion of a passkey, to record.
type PasskeyUse struct {
	// SignCount is the assertion's signature counter.
	SignCount uint32
	// UserVerified and BackupState are the assertion's flags.
	UserVerified bool
	BackupState  bool
	RemoteIP     string
}

// RecordPasskeyUse stores the signature counter of an accepted assertion
// of the passkey id, on the condition that the counter stored is still
// the one the check compared it with (previous): of two sign-ins racing
// with assertions of the same count, one wins. A lost race is
// ErrAuthFailed.
func (s *Store) RecordPasskeyUse(ctx context.Context, id int64, previous uint32, use PasskeyUse) error {
	now := time.Now().UTC()
	err := s.write(ctx, func(tx *writeTx) error {
		set := map[string]any{"sign_count": int64(use.SignCount), "backup_state": use.BackupState, "last_used_at": now, "last_used_ip": use.RemoteIP}
		if use.UserVerified {
			set["user_verified"] = true
		}
		res := tx.Model(&Passkey{}).Where("id = ? AND sign_count = ?", id, int64(previous)).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("passkey %d used concurrently or removed: %w", id, core.ErrAuthFailed)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			return err
		}
		return fmt.Errorf("record passkey use: %w", err)
	}
	return nil
}

// RegenerateRecoveryCodes replaces the recovery codes of the user with ID
// userID with new ones, returned to be shown once; the old ones stop
// working. A user without a second factor has none (ErrConflict).
func (s *Store) RegenerateRecoveryCodes(ctx context.Context, userID int64) ([]string, error) {
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return notFound(err)
		}
		if !u.SecondFactor {
			return fmt.Errorf("%s has no second factor, so no recovery codes: %w", u.Address, core.ErrConflict)
		}
		if err := replaceRecoveryCodesTx(tx, u.ID, hashes); err != nil {
			return err
		}
		return tx.audit("user.recovery_codes.regenerate", u.Address, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	return codes, nil
}
