package mailstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
)

// TOTP (RFC 6238) as every authenticator app speaks it: HMAC-SHA1 over the
// number of 30-second steps since the Unix epoch, six digits, 160-bit
// secrets (RFC 4226 §4 asks for at least 128). A code is accepted one step
// early or late (clocks drift, people type slowly) and only for a step
// after the last one accepted: a code used once cannot be used again.
const (
	totpStep       = 30 * time.Second
	totpDigits     = 6
	totpSkew       = 1 // steps accepted before and after now
	totpSecretSize = 20
)

// Recovery codes: ten per account, each 80 random bits written as four
// groups of four base32 characters. With that entropy SHA-256 is enough to
// store them (see app_password.go), and each works once.
const (
	recoveryCodeCount = 10
	recoveryCodeBytes = 10
)

// TOTPFactor is a user's authenticator app: its shared secret, whether the
// user has proved they hold it (Confirmed), and the last time step a code
// was accepted for (replay protection).
type TOTPFactor struct {
	ID     int64  `gorm:"primaryKey"`
	UserID int64  `gorm:"not null;uniqueIndex"`
	Secret string `gorm:"size:64;not null"` // base32, no padding; empty when Sealed
	// Sealed is the secret sealed with the server key (age, bound to the
	// user's ID) when encryption at rest is configured; Secret is then
	// empty. Secrets stored before the key was configured are sealed when
	// the store opens with it.
	Sealed    []byte
	Confirmed bool  `gorm:"not null;default:false"`
	LastStep  int64 `gorm:"not null;default:0"`
	CreatedAt time.Time
}

// RecoveryCode is one of a user's single-use codes for signing in without
// the authenticator. Only a hash is stored.
type RecoveryCode struct {
	ID     int64  `gorm:"primaryKey"`
	UserID int64  `gorm:"not null;index"`
	Hash   string `gorm:"size:64;not null;uniqueIndex"`
	UsedAt *time.Time
}

// totpCode returns the code of secret for time step counter (RFC 4226 §5.3).
func totpCode(secret []byte, counter int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, bin%1_000_000)
}

// totpMatch returns the time step within the skew of now for which code is
// secret's code and that comes after lastStep, or 0.
func totpMatch(secret []byte, code string, now time.Time, lastStep int64) int64 {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0
	}
	cur := now.Unix() / int64(totpStep/time.Second)
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= lastStep {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, step)), []byte(code)) == 1 {
			return step
		}
	}
	return 0
}

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPEnrolment is a new authenticator secret to show the user once: the
// secret to type in and the otpauth URI to scan.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

// StartTOTP makes a new, unconfirmed authenticator secret for the user at
// address (replacing an unconfirmed one); issuer names the server in the
// app. A user whose authenticator is confirmed already gets ErrConflict.
func (s *Store) StartTOTP(ctx context.Context, address, issuer string) (*TOTPEnrolment, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, fmt.Errorf("start TOTP: %w", err)
	}
	raw := make([]byte, totpSecretSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("start TOTP for %s: %w", a, err)
	}
	secret := totpEncoding.EncodeToString(raw)
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		var fs []TOTPFactor
		if err := tx.Where("user_id = ?", u.ID).Limit(1).Find(&fs).Error; err != nil {
			return err
		}
		if len(fs) > 0 && fs[0].Confirmed {
			return fmt.Errorf("an authenticator is already set up (turn it off first): %w", core.ErrConflict)
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&TOTPFactor{}).Error; err != nil {
			return err
		}
		f := TOTPFactor{UserID: u.ID, Secret: secret}
		if err := s.sealTOTPFactor(&f); err != nil {
			return err
		}
		return tx.Create(&f).Error
	})
	if err != nil {
		return nil, fmt.Errorf("start TOTP for %s: %w", a, err)
	}
	label := url.PathEscape(issuer + ":" + a)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return &TOTPEnrolment{Secret: secret, URI: "otpauth://totp/" + label + "?" + q.Encode()}, nil
}

// ConfirmTOTP turns the user's new authenticator on with a code from it
// and returns their recovery codes, shown only this once. The account's
// sessions end (its credentials changed); its app passwords stay, and are
// now the only way mail clients log in. A wrong code is ErrAuthFailed.
func (s *Store) ConfirmTOTP(ctx context.Context, address, code string) ([]string, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, fmt.Errorf("confirm TOTP for %s: %w", a, err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		var f TOTPFactor
		if err := tx.Where("user_id = ?", u.ID).Take(&f).Error; err != nil {
			return fmt.Errorf("no authenticator being set up (start again): %w", notFoundAs(err, core.ErrConflict))
		}
		if f.Confirmed {
			return fmt.Errorf("the authenticator is already on: %w", core.ErrConflict)
		}
		secret, err := s.totpSecret(&f)
		if err != nil {
			return err
		}
		step := totpMatch(secret, code, time.Now(), f.LastStep)
		if step == 0 {
			return fmt.Errorf("wrong code from the authenticator: %w", core.ErrAuthFailed)
		}
		if err := tx.Model(&TOTPFactor{}).Where("id = ?", f.ID).Updates(map[string]any{"confirmed": true, "last_step": step}).Error; err != nil {
			return err
		}
		if err := replaceRecoveryCodesTx(tx, u.ID, hashes); err != nil {
			return err
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Update("second_factor", true).Error; err != nil {
			return err
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: u.ID}, false); err != nil {
			return err
		}
		return tx.audit("user.second_factor.enable", a, map[string]any{"method": "totp"})
	})
	if err != nil {
		return nil, fmt.Errorf("confirm TOTP for %s: %w", a, err)
	}
	return codes, nil
}

// notFoundAs turns "not found" into kind and keeps other errors.
func notFoundAs(err, kind error) error {
	if errors.Is(notFound(err), core.ErrNotFound) {
		return kind
	}
	return err
}

// newRecoveryCodes returns fresh recovery codes and their hashes.
func newRecoveryCodes() ([]string, []string, error) {
	var codes, hashes []string
	for range recoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("generate recovery codes: %w", err)
		}
		raw := strings.ToLower(totpEncoding.EncodeToString(b))
		codes = append(codes, raw[0:4]+"-"+raw[4:8]+"-"+raw[8:12]+"-"+raw[12:16])
		hashes = append(hashes, hashRecoveryCode(raw))
	}
	return codes, hashes, nil
}

// hashRecoveryCode hashes a normalized recovery code.
func hashRecoveryCode(normalized string) string {
	sum := sha256.Sum256([]byte("recovery:" + normalized))
	return hex.EncodeToString(sum[:])
}

// normalizeRecoveryCode returns code in lower case without separators.
func normalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func replaceRecoveryCodesTx(tx *writeTx, userID int64, hashes []string) error {
	if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
		return err
	}
	for _, h := range hashes {
		if err := tx.Create(&RecoveryCode{UserID: userID, Hash: h}).Error; err != nil {
			return err
		}
	}
	return nil
}

// Second factor kinds a sign-in presents.
const (
	FactorTOTP         = "totp"
	FactorRecoveryCode = "recovery_code"
	// FactorPasskey is an assertion of a passkey (checked by
	// internal/service, which keeps the WebAuthn ceremonies).
	FactorPasskey = "passkey"
)

// VerifySecondFactor checks the second factor of a sign-in of the user
// with ID userID: a code of their authenticator (FactorTOTP), accepted once
// per time step, or one of their recovery codes (FactorRecoveryCode), which
// is then used up. It returns how many unused recovery codes are left. A
// wrong or replayed code, or a user without a second factor, is
// ErrAuthFailed.
func (s *Store) VerifySecondFactor(ctx context.Context, userID int64, kind, code string) (int, error) {
	left := 0
	err := s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return fmt.Errorf("user %d: %w", userID, core.ErrAuthFailed)
		}
		if !u.SecondFactor {
			return fmt.Errorf("%s has no second factor: %w", u.Address, core.ErrAuthFailed)
		}
		switch kind {
		case FactorTOTP:
			var f TOTPFactor
			if err := tx.Where("user_id = ? AND confirmed = ?", userID, true).Take(&f).Error; err != nil {
				return fmt.Errorf("%s has no authenticator app: %w", u.Address, core.ErrAuthFailed)
			}
			secret, err := s.totpSecret(&f)
			if err != nil {
				return err
			}
			step := totpMatch(secret, code, time.Now(), f.LastStep)
			if step == 0 {
				return fmt.Errorf("wrong or used authenticator code for %s: %w", u.Address, core.ErrAuthFailed)
			}
			// Conditional on the step read: of two sign-ins racing with
			// the same code, one wins.
			res := tx.Model(&TOTPFactor{}).Where("id = ? AND last_step = ?", f.ID, f.LastStep).Update("last_step", step)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("authenticator code for %s used concurrently: %w", u.Address, core.ErrAuthFailed)
			}
		case FactorRecoveryCode:
			norm := normalizeRecoveryCode(code)
			now := time.Now().UTC()
			res := tx.Model(&RecoveryCode{}).Where("user_id = ? AND hash = ? AND used_at IS NULL", userID, hashRecoveryCode(norm)).Update("used_at", now)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("wrong or used recovery code for %s: %w", u.Address, core.ErrAuthFailed)
			}
			if err := tx.audit("user.recovery_code.use", u.Address, nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("second factor %q: %w", kind, core.ErrInvalid)
		}
		var n int64
		if err := tx.Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
			return err
		}
		left = int(n)
		return nil
	})
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) || errors.Is(err, core.ErrInvalid) {
			return 0, err
		}
		return 0, fmt.Errorf("verify second factor: %w", err)
	}
	return left, nil
}

// RemoveSecondFactor turns the user's two-factor sign-in off: their
// authenticator, passkeys and recovery codes are deleted and their
// sessions end.
// The user themselves do it (after proving their password) or an admin
// resets it for a user who lost their authenticator; audit tells which.
func (s *Store) RemoveSecondFactor(ctx context.Context, address string) error {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("remove second factor: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&TOTPFactor{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		res := tx.Where("user_id = ?", u.ID).Delete(&Passkey{})
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Update("second_factor", false).Error; err != nil {
			return err
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: u.ID}, false); err != nil {
			return err
		}
		return tx.audit("user.second_factor.remove", a, map[string]any{"had_second_factor": u.SecondFactor, "passkeys_removed": res.RowsAffected})
	})
	if err != nil {
		return fmt.Errorf("remove second factor of %s: %w", a, err)
	}
	return nil
}

// SecondFactorStatus describes a user's second factor for their account
// page.
type SecondFactorStatus struct {
	// Enabled: they sign in with a second factor (an authenticator code
	// or a passkey).
	Enabled bool `json:"enabled"`
	// TOTP: they have an authenticator app.
	TOTP bool `json:"totp"`
	// Passkeys counts their passkeys.
	Passkeys int `json:"passkeys"`
	// Required: their domain or the server requires a second factor.
	Required bool `json:"required"`
	// RecoveryCodesLeft counts their unused recovery codes.
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

// GetSecondFactorStatus returns the second factor status of a user.
func (s *Store) GetSecondFactorStatus(ctx context.Context, u *User) (*SecondFactorStatus, error) {
	var d Domain
	if err := s.db.WithContext(ctx).Where("id = ?", u.DomainID).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("second factor of %s: %w", u.Address, notFound(err))
	}
	p, err := s.GetSecurityPolicy(ctx)
	if err != nil {
		return nil, err
	}
	st := &SecondFactorStatus{Enabled: u.SecondFactor, Required: d.RequireTwoFactor || p.RequireTwoFactor}
	var n int64
	if err := s.db.WithContext(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", u.ID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("second factor of %s: %w", u.Address, err)
	}
	st.RecoveryCodesLeft = int(n)
	if err := s.db.WithContext(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND confirmed = ?", u.ID, true).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("second factor of %s: %w", u.Address, err)
	}
	st.TOTP = n > 0
	if err := s.db.WithContext(ctx).Model(&Passkey{}).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("second factor of %s: %w", u.Address, err)
	}
	st.Passkeys = int(n)
	return st, nil
}

// TOTPCode returns the code an authenticator app shows at time at for the
// base32 secret of a TOTPEnrolment (for tests and tools that play the
// app).
func TOTPCode(secret string, at time.Time) (string, error) {
	raw, err := totpEncoding.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", fmt.Errorf("TOTP secret: %w", core.ErrInvalid)
	}
	return totpCode(raw, at.Unix()/int64(totpStep/time.Second)), nil
}

// totpBinding names a user's authenticator secret in its sealed form, so
// that a sealed secret copied into another user's row does not open.
func totpBinding(userID int64) string { return "totp/" + strconv.FormatInt(userID, 10) }

// sealTOTPFactor moves f's secret into its sealed form when the store has
// the server key; without one it leaves f as it is.
func (s *Store) sealTOTPFactor(f *TOTPFactor) error {
	if !s.secrets.CanSeal() || f.Secret == "" {
		return nil
	}
	var buf bytes.Buffer
	w, err := s.secrets.Seal(&buf, totpBinding(f.UserID))
	if err != nil {
		return fmt.Errorf("seal TOTP secret: %w", err)
	}
	if _, err := io.WriteString(w, f.Secret); err != nil {
		return fmt.Errorf("seal TOTP secret: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("seal TOTP secret: %w", err)
	}
	f.Sealed, f.Secret = buf.Bytes(), ""
	return nil
}

// totpSecret returns the raw secret of f, opening it if it is sealed.
func (s *Store) totpSecret(f *TOTPFactor) ([]byte, error) {
	encoded := f.Secret
	if len(f.Sealed) > 0 {
		b, err := s.secrets.Open(bytes.NewReader(f.Sealed), int64(len(f.Sealed)), totpBinding(f.UserID))
		if err != nil {
			return nil, fmt.Errorf("open the sealed TOTP secret of user %d: %w", f.UserID, err)
		}
		defer b.Close()
		plain := make([]byte, b.Size())
		if _, err := b.ReadAt(plain, 0); err != nil && err != io.EOF {
			return nil, fmt.Errorf("open the sealed TOTP secret of user %d: %w", f.UserID, err)
		}
		encoded = string(plain)
	}
	secret, err := totpEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("stored TOTP secret of user %d: %w", f.UserID, err)
	}
	return secret, nil
}

// sealTOTPSecrets seals the authenticator secrets still stored in
// plaintext, when the store has the server key: those stored before
// encryption at rest was configured. Each is sealed in its own write.
func (s *Store) sealTOTPSecrets(ctx context.Context) error {
	if !s.secrets.CanSeal() {
		return nil
	}
	var fs []TOTPFactor
	if err := s.db.WithContext(ctx).Where("secret <> ''").Find(&fs).Error; err != nil {
		return fmt.Errorf("seal TOTP secrets: %w", err)
	}
	for i := range fs {
		f := &fs[i]
		plain := f.Secret
		if err := s.sealTOTPFactor(f); err != nil {
			return err
		}
		err := s.write(ctx, func(tx *writeTx) error {
			// Only if unchanged meanwhile (a new enrolment replaces it).
			return tx.Model(&TOTPFactor{}).Where("id = ? AND secret = ?", f.ID, plain).
				Updates(map[string]any{"secret": "", "sealed": f.Sealed}).Error
		})
		if err != nil {
			return fmt.Errorf("seal the TOTP secret of user %d: %w", f.UserID, err)
		}
	}
	if len(fs) > 0 {
		s.log.Info("sealed authenticator secrets with the server key", "count", len(fs))
	}
	return nil
}
