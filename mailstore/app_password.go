package mailstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// The mail protocols a login names (AuthenticateMail) and an app password
// may be limited to.
const (
	ProtocolIMAP        = "imap"
	ProtocolPOP3        = "pop3"
	ProtocolSubmission  = "submission"
	ProtocolManageSieve = "managesieve"
)

// MailProtocols lists every mail protocol, in the order shown to users.
var MailProtocols = []string{ProtocolIMAP, ProtocolPOP3, ProtocolSubmission, ProtocolManageSieve}

// ValidProtocol reports whether p is one of MailProtocols.
func ValidProtocol(p string) bool { return slices.Contains(MailProtocols, p) }

// An app password is 120 random bits the server makes, written as six
// groups of four lower-case base32 letters and digits
// ("abcd-efgh-ijkl-mnop-qrst-uvwx"). Its store keeps a SHA-256 of it: with
// that much entropy a slow hash adds nothing (2^120 guesses are out of
// reach however fast each is), and a fast one lets a login find the app
// password by an indexed lookup of its hash, cheaper than the argon2id
// check of an account password.
const (
	appPasswordBytes  = 15
	appPasswordLen    = 24 // base32 characters
	appPasswordGroup  = 4
	appPasswordMaxAge = 10 * 365 * 24 * time.Hour
)

// appPasswordTouchInterval is how stale LastUsedAt may get: an app password
// used more often from the same address is written at most once per
// interval.
const appPasswordTouchInterval = time.Minute

var appPasswordEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// AppPassword is a password the server generated for one mail client of a
// user ("iPhone", "Thunderbird at home"), limited to some mail protocols.
// Only a hash of it is stored.
type AppPassword struct {
	ID        int64    `gorm:"primaryKey"`
	UserID    int64    `gorm:"not null;index"`
	Name      string   `gorm:"size:400;not null"`
	Hash      string   `gorm:"size:64;not null;uniqueIndex"` // hex SHA-256 of the normalized password
	Protocols []string `gorm:"serializer:json;size:200;not null"`
	CreatedAt time.Time
	// ExpiresAt is when it stops working; nil: never.
	ExpiresAt *time.Time
	// LastUsedAt, LastUsedFrom and LastUsedProtocol describe its last
	// successful login (to within appPasswordTouchInterval).
	LastUsedAt       *time.Time
	LastUsedFrom     string `gorm:"size:64;not null;default:''"`
	LastUsedProtocol string `gorm:"size:20;not null;default:''"`
}

// NewAppPassword describes an app password to create.
type NewAppPassword struct {
	Name      string
	Protocols []string   // a non-empty subset of MailProtocols
	ExpiresAt *time.Time // nil: never expires
	// AccountPassword is needed for a user-key account (see userkeys.go):
	// it unlocks the key, which is then sealed with the app password too,
	// so that mail clients logging in with it read the mail.
	AccountPassword string
}

// normalizeAppPassword returns password without group separators and in
// lower case, and whether it has the shape of an app password at all.
func normalizeAppPassword(password string) (string, bool) {
	if len(password) > 2*appPasswordLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range password {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z', r >= '2' && r <= '7':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		default:
			return "", false
		}
	}
	if b.Len() != appPasswordLen {
		return "", false
	}
	return b.String(), true
}

func hashAppPassword(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

// newAppPasswordSecret returns a new app password in its grouped form and
// its hash.
func newAppPasswordSecret() (string, string, error) {
	b := make([]byte, appPasswordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate app password: %w", err)
	}
	raw := strings.ToLower(appPasswordEncoding.EncodeToString(b))
	var groups []string
	for i := 0; i < len(raw); i += appPasswordGroup {
		groups = append(groups, raw[i:i+appPasswordGroup])
	}
	return strings.Join(groups, "-"), hashAppPassword(raw), nil
}

// validateAppPassword checks a new app password's description and returns
// its protocols without duplicates, in the order of MailProtocols.
func validateAppPassword(na NewAppPassword) ([]string, error) {
	var fields []core.FieldError
	if err := core.CheckCredentialName(na.Name); err != nil {
		fields = append(fields, core.FieldError{Field: "name", Message: "must be 1 to 100 characters of UTF-8 without control characters"})
	}
	var protos []string
	for _, p := range MailProtocols {
		if slices.Contains(na.Protocols, p) {
			protos = append(protos, p)
		}
	}
	for _, p := range na.Protocols {
		if !ValidProtocol(p) {
			fields = append(fields, core.FieldError{Field: "protocols", Message: fmt.Sprintf("unknown protocol %q (want %s)", p, strings.Join(MailProtocols, ", "))})
			break
		}
	}
	if len(protos) == 0 && len(fields) == 0 {
		fields = append(fields, core.FieldError{Field: "protocols", Message: "name at least one of " + strings.Join(MailProtocols, ", ")})
	}
	if na.ExpiresAt != nil {
		now := time.Now()
		if !na.ExpiresAt.After(now) {
			fields = append(fields, core.FieldError{Field: "expires_at", Message: "must be in the future"})
		} else if na.ExpiresAt.After(now.Add(appPasswordMaxAge)) {
			fields = append(fields, core.FieldError{Field: "expires_at", Message: "must be within ten years"})
		}
	}
	if len(fields) > 0 {
		return nil, &core.ValidationError{Fields: fields}
	}
	return protos, nil
}

// CreateAppPassword makes a new app password for the user at address and
// returns it with the password, which is not stored and cannot be shown
// again.
func (s *Store) CreateAppPassword(ctx context.Context, address string, na NewAppPassword) (*AppPassword, string, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, "", fmt.Errorf("create app password: %w", err)
	}
	protos, err := validateAppPassword(na)
	if err != nil {
		return nil, "", fmt.Errorf("create app password for %s: %w", a, err)
	}
	secret, hash, err := newAppPasswordSecret()
	if err != nil {
		return nil, "", fmt.Errorf("create app password for %s: %w", a, err)
	}
	owner, err := s.GetUser(ctx, a)
	if err != nil {
		return nil, "", fmt.Errorf("create app password for %s: %w", a, err)
	}
	sealedKey, err := s.sealKeyForAppPassword(ctx, owner, na.AccountPassword, secret)
	if err != nil {
		return nil, "", fmt.Errorf("create app password for %s: %w", a, err)
	}
	ap := &AppPassword{Name: na.Name, Hash: hash, Protocols: protos}
	if na.ExpiresAt != nil {
		e := na.ExpiresAt.UTC().Truncate(time.Second)
		ap.ExpiresAt = &e
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		ap.ID, ap.UserID, ap.CreatedAt = 0, u.ID, time.Time{}
		if err := tx.Create(ap).Error; err != nil {
			return err
		}
		if sealedKey != nil {
			if u.ID != owner.ID {
				return fmt.Errorf("the account changed meanwhile: %w", core.ErrConflict)
			}
			if err := tx.Create(&appPasswordKeyRow{AppPasswordID: ap.ID, UserID: u.ID, Sealed: sealedKey}).Error; err != nil {
				return err
			}
		}
		return tx.audit("app_password.create", a, map[string]any{
			"id": ap.ID, "name": ap.Name, "protocols": ap.Protocols, "expires_at": ap.ExpiresAt,
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("create app password for %s: %w", a, uniqueToExists(err))
	}
	return ap, secret, nil
}

// ListAppPasswords returns the app passwords of the user at address in
// creation order.
func (s *Store) ListAppPasswords(ctx context.Context, address string) ([]AppPassword, error) {
	u, err := s.GetUser(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	aps := []AppPassword{}
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Order("id").Find(&aps).Error; err != nil {
		return nil, fmt.Errorf("list app passwords of %s: %w", u.Address, err)
	}
	return aps, nil
}

// DeleteAppPassword revokes app password id of the user at address. An
// app password of someone else is ErrNotFound.
func (s *Store) DeleteAppPassword(ctx context.Context, address string, id int64) error {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("delete app password: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		var ap AppPassword
		if err := tx.Where("id = ? AND user_id = ?", id, u.ID).Take(&ap).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Delete(&ap).Error; err != nil {
			return err
		}
		if err := tx.Where("app_password_id = ?", ap.ID).Delete(&appPasswordKeyRow{}).Error; err != nil {
			return err
		}
		return tx.audit("app_password.delete", a, map[string]any{"id": ap.ID, "name": ap.Name})
	})
	if err != nil {
		return fmt.Errorf("delete app password %d of %s: %w", id, a, err)
	}
	return nil
}

func remoteAddrOf(ctx context.Context) string {
	if ip, ok := core.RemoteAddr(ctx); ok {
		return ip.Unmap().String()
	}
	return ""
}

// AuthenticateMail checks a login over a mail protocol (one of
// MailProtocols): address with either one of the user's app passwords
// limited to that protocol, or the account password, which mail protocols
// accept only while the account has no second factor and neither its
// domain nor the server requires one. The remote address in ctx (see
// core.WithRemoteAddr) is recorded as the app password's last use. Any failure
// is ErrAuthFailed.
func (s *Store) AuthenticateMail(ctx context.Context, address, password, protocol string) (*User, error) {
	u, _, _, err := s.authenticateMail(ctx, address, password, protocol)
	return u, err
}

// authenticateMail is AuthenticateMail, also returning the user's domain
// and the app password that matched (nil: the account password).
func (s *Store) authenticateMail(ctx context.Context, address, password, protocol string) (*User, *Domain, *AppPassword, error) {
	if !ValidProtocol(protocol) {
		return nil, nil, nil, fmt.Errorf("authenticate: unknown protocol %q: %w", protocol, core.ErrInvalid)
	}
	a, err := core.NormalizeAddress(address)
	if err != nil {
		CheckPassword(dummyHash, password)
		return nil, nil, nil, core.ErrAuthFailed
	}
	if norm, ok := normalizeAppPassword(password); ok {
		u, d, ap, err := s.authenticateAppPassword(ctx, a, norm, protocol)
		if err == nil || !errors.Is(err, errNoAppPassword) {
			return u, d, ap, err
		}
	}
	u, d, err := s.checkAccountPassword(ctx, a, password)
	if err != nil {
		return nil, nil, nil, err
	}
	need, err := s.secondFactorRequired(ctx, u, d)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("authenticate %s: %w", a, err)
	}
	if need {
		return nil, nil, nil, fmt.Errorf("%s has two-factor sign-in: mail clients need an app password: %w", a, core.ErrAuthFailed)
	}
	return u, d, nil, nil
}

// errNoAppPassword says a password of the app password shape is none of
// the user's: it may still be their account password.
var errNoAppPassword = fmt.Errorf("no such app password: %w", core.ErrAuthFailed)

// authenticateAppPassword checks the normalized app password of the user
// at address a for protocol.
func (s *Store) authenticateAppPassword(ctx context.Context, a, norm, protocol string) (*User, *Domain, *AppPassword, error) {
	db := s.db.WithContext(ctx)
	var aps []AppPassword
	if err := db.Where("hash = ?", hashAppPassword(norm)).Limit(1).Find(&aps).Error; err != nil {
		return nil, nil, nil, fmt.Errorf("authenticate %s: look up app password: %w", a, err)
	}
	if len(aps) == 0 {
		return nil, nil, nil, errNoAppPassword
	}
	ap := &aps[0]
	var u User
	if err := db.Where("id = ?", ap.UserID).Take(&u).Error; err != nil || u.Address != a {
		return nil, nil, nil, errNoAppPassword
	}
	now := time.Now().UTC()
	if ap.ExpiresAt != nil && !now.Before(*ap.ExpiresAt) {
		return nil, nil, nil, fmt.Errorf("app password %d of %s expired: %w", ap.ID, a, core.ErrAuthFailed)
	}
	if !slices.Contains(ap.Protocols, protocol) {
		return nil, nil, nil, fmt.Errorf("app password %d of %s is not for %s: %w", ap.ID, a, protocol, core.ErrAuthFailed)
	}
	if !u.Enabled {
		return nil, nil, nil, core.ErrAuthFailed
	}
	var d Domain
	if err := db.Where("id = ?", u.DomainID).Take(&d).Error; err != nil || !d.Enabled {
		return nil, nil, nil, core.ErrAuthFailed
	}
	from := remoteAddrOf(ctx)
	if ap.LastUsedAt == nil || now.Sub(*ap.LastUsedAt) >= appPasswordTouchInterval || now.Before(*ap.LastUsedAt) ||
		ap.LastUsedFrom != from || ap.LastUsedProtocol != protocol {
		err := s.write(ctx, func(tx *writeTx) error {
			return tx.Model(&AppPassword{}).Where("id = ?", ap.ID).
				Updates(map[string]any{"last_used_at": now, "last_used_from": from, "last_used_protocol": protocol}).Error
		})
		if err != nil {
			s.log.Warn("record app password use", "app_password", ap.ID, "err", err)
		}
	}
	return &u, &d, ap, nil
}

// checkAccountPassword checks the account password of the user at the
// normalized address a, through the verified-credential cache, and returns
// the user and their domain if they may log in.
func (s *Store) checkAccountPassword(ctx context.Context, a, password string) (*User, *Domain, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("address = ?", a).Take(&u).Error; err != nil {
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, fmt.Errorf("authenticate %s: %w", a, err)
		}
		CheckPassword(dummyHash, password)
		return nil, nil, core.ErrAuthFailed
	}
	if !s.auth.ok(a, password, u.PasswordHash) {
		ok, err := verifyPassword(u.PasswordHash, password)
		if err != nil {
			return nil, nil, fmt.Errorf("authenticate %s: check the password: %w", a, err)
		}
		if !ok {
			return nil, nil, core.ErrAuthFailed
		}
		s.auth.add(a, password, u.PasswordHash)
	}
	if !u.Enabled {
		return nil, nil, core.ErrAuthFailed
	}
	var d Domain
	if err := s.db.WithContext(ctx).Where("id = ?", u.DomainID).Take(&d).Error; err != nil || !d.Enabled {
		return nil, nil, core.ErrAuthFailed
	}
	return &u, &d, nil
}
