package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// User-key mode (encryption at rest with the users' own keys): a user of
// a domain in this mode has a keypair (see blobcrypt.UserKey); new mail
// for them is sealed to their public key only, so that neither the server
// key nor anyone without their password can read it. The private key is
// stored sealed with their password (argon2id), optionally also to the
// domain's recovery key, and, for each app password made while the key was
// unlocked, with that app password. A mail session (IMAP, POP3) unlocks it
// at login (OpenMailSession) and reads with it through the one read path
// (BlobStore.Open, with the key in the context); nothing keeps it after
// the session. Delivery, Sieve and the filters see the plaintext before it
// is sealed: sealing needs the public key only.

// The encryption modes of a domain (Domain.EncryptionMode) and the
// server (Options.EncryptionMode).
const (
	// EncryptionServer seals bodies with the server key, if one is
	// configured (else they are stored in plaintext).
	EncryptionServer = "server"
	// EncryptionUser seals each user's new mail to the user's own key.
	EncryptionUser = "user"
)

// CheckEncryptionMode refuses a mode other than EncryptionServer,
// EncryptionUser or "" (for a domain: the server's).
func CheckEncryptionMode(mode string) error {
	switch mode {
	case "", EncryptionServer, EncryptionUser:
		return nil
	}
	return fmt.Errorf("encryption mode %q: must be server, user or empty: %w", mode, core.ErrInvalid)
}

// ErrKeyWouldBeLost is wrapped (with core.ErrConflict) when a password
// reset would make a user-key account's mail unreadable and the caller
// neither gave the domain's recovery key nor agreed to lose the mail.
var ErrKeyWouldBeLost = errors.New("the account's mail is encrypted with its password: give the domain's recovery key, or agree that the old mail becomes unreadable")

// ErrKeyNeedsPassword is wrapped (with core.ErrInvalid) when an app
// password is made for a user-key account without the account password,
// which is needed to give the app password a copy of the key.
var ErrKeyNeedsPassword = errors.New("the account's mail is encrypted with its password: the current password is needed to let the app password read it")

// userKeyRow is a user's key of user-key mode.
type userKeyRow struct {
	UserID int64  `gorm:"primaryKey;autoIncrement:false"`
	Public string `gorm:"size:100;not null"`
	Sealed []byte `gorm:"not null"`
	// Recovery is the private key sealed to the domain's recovery key
	// RecoveryPublic (nil: none).
	Recovery       []byte
	RecoveryPublic string `gorm:"size:100;not null;default:''"`
	// Moved is set once the user's older mail (in plaintext or under the
	// server key) has been sealed to this key (see MoveMailToUserKeys).
	Moved     bool `gorm:"not null;default:false"`
	UpdatedAt time.Time
}

func (userKeyRow) TableName() string { return "user_keys" }

func (r *userKeyRow) key() *blobcrypt.UserKey {
	return &blobcrypt.UserKey{Public: r.Public, Sealed: r.Sealed, Recovery: r.Recovery}
}

// appPasswordKeyRow is a user's private key sealed with one of their app
// passwords (normalized), made when the app password was.
type appPasswordKeyRow struct {
	AppPasswordID int64  `gorm:"primaryKey;autoIncrement:false"`
	UserID        int64  `gorm:"not null;index"`
	Sealed        []byte `gorm:"not null"`
}

func (appPasswordKeyRow) TableName() string { return "app_password_keys" }

func userKeyModels() []any { return []any{&userKeyRow{}, &appPasswordKeyRow{}} }

// deleteUserKeysTx deletes a user's keys (with the account).
func deleteUserKeysTx(tx *writeTx, userID int64) error {
	for _, m := range userKeyModels() {
		if err := tx.Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return err
		}
	}
	return nil
}

type sealerCtx struct{}

// withSealer returns ctx telling the blob store to seal the bodies it
// writes with sealer instead of its own (nil: its own).
func withSealer(ctx context.Context, sealer *blobcrypt.Sealer) context.Context {
	if sealer == nil {
		return ctx
	}
	return context.WithValue(ctx, sealerCtx{}, sealer)
}

// sealerFor returns the sealer ctx names (withSealer), or def.
func sealerFor(ctx context.Context, def *blobcrypt.Sealer) *blobcrypt.Sealer {
	if s, ok := ctx.Value(sealerCtx{}).(*blobcrypt.Sealer); ok {
		return s
	}
	return def
}

// usesUserKeys reports whether domain d is in user-key mode.
func (s *Store) usesUserKeys(d *Domain) bool {
	mode := d.EncryptionMode
	if mode == "" {
		mode = s.encMode
	}
	return mode == EncryptionUser
}

// userPublicKeys returns the public keys new mail for the given users is
// sealed to: those who have a key and whose domain is in user-key mode.
// A shared account's mail stays under the server key: no one logs in as
// it, its members read it with their own logins.
//
// Every delivery asks, so the query is written out (see hotsql.go), the
// same as sealingKeys builds.
func (s *Store) userPublicKeys(ctx context.Context, userIDs []int64) (map[int64]string, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(userIDs))
	for i, id := range userIDs {
		args[i] = id
	}
	rows, err := s.readRows(ctx, "SELECT k.user_id, k.public, d.encryption_mode FROM user_keys AS k "+
		"JOIN users u ON u.id = k.user_id JOIN domains d ON d.id = u.domain_id "+
		"WHERE k.user_id NOT IN (SELECT user_id FROM shared_accounts) AND k.user_id IN ("+placeholders(len(userIDs))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("users' keys: %w", err)
	}
	defer rows.Close()
	var out map[int64]string
	for rows.Next() {
		var id int64
		var public, mode string
		if err := rows.Scan(&id, &public, &mode); err != nil {
			return nil, fmt.Errorf("users' keys: %w", err)
		}
		if s.usesUserKeys(&Domain{EncryptionMode: mode}) {
			if out == nil {
				out = make(map[int64]string, 1)
			}
			out[id] = public
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users' keys: %w", err)
	}
	return out, nil
}

// sealingKeys returns, by user ID, the public keys of the users with a
// key who match the condition on user_keys AS k, are in user-key mode and
// are not shared accounts.
func (s *Store) sealingKeys(ctx context.Context, cond string, args ...any) (map[int64]string, error) {
	var rows []struct {
		UserID         int64
		Public         string
		EncryptionMode string
	}
	err := s.db.WithContext(ctx).Table("user_keys AS k").
		Select("k.user_id, k.public, d.encryption_mode").
		Joins("JOIN users u ON u.id = k.user_id JOIN domains d ON d.id = u.domain_id").
		Where("k.user_id NOT IN (SELECT user_id FROM shared_accounts)").
		Where(cond, args...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("users' keys: %w", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		if s.usesUserKeys(&Domain{EncryptionMode: r.EncryptionMode}) {
			out[r.UserID] = r.Public
		}
	}
	return out, nil
}

// userSealer returns the sealer of new mail for a user: their key in
// user-key mode, else nil (the store's own).
func (s *Store) userSealer(ctx context.Context, userID int64) (*blobcrypt.Sealer, error) {
	keys, err := s.userPublicKeys(ctx, []int64{userID})
	if err != nil || keys[userID] == "" {
		return nil, err
	}
	return blobcrypt.UserSealer(keys[userID])
}

// MailKey is a user's private key unlocked for one mail session. Its
// Context lets the reads of that session open the user's mail; drop it
// with the session.
type MailKey struct{ sealer *blobcrypt.Sealer }

// Forget drops the keys of single messages the session's reads kept in
// memory (see blobcrypt.SessionSealer), overwriting them: call it when
// the session ends. The key still opens the mail. k may be nil.
func (k *MailKey) Forget() {
	if k != nil {
		k.sealer.Forget()
	}
}

// Context returns ctx carrying the key (a nil key returns ctx).
func (k *MailKey) Context(ctx context.Context) context.Context {
	if k == nil {
		return ctx
	}
	return blobcrypt.WithSessionKey(ctx, k.sealer)
}

// OpenMailSession is AuthenticateMail for a session that reads mail (IMAP,
// POP3): it also unlocks the user's key of user-key mode with the password
// (the account password or an app password that has a copy of the key)
// and returns it (nil when the user has no key). Logging in with the
// account password makes the key of a user of a user-key domain who has
// none yet, and brings the copy for the domain's recovery key up to date.
// A key that does not unlock does not fail the login: the mail sealed to
// it then reads as locked.
func (s *Store) OpenMailSession(ctx context.Context, address, password, protocol string) (*User, *MailKey, error) {
	u, d, ap, err := s.authenticateMail(ctx, address, password, protocol)
	if err != nil {
		return nil, nil, err
	}
	key, err := s.unlockMailKey(ctx, u, d, ap, password)
	if err != nil {
		s.log.Warn("unlock the user's mail key", "user", u.Address, "err", err)
		return u, nil, nil
	}
	return u, key, nil
}

func (s *Store) unlockMailKey(ctx context.Context, u *User, d *Domain, ap *AppPassword, password string) (*MailKey, error) {
	db := s.db.WithContext(ctx)
	if ap != nil {
		var rows []appPasswordKeyRow
		if err := db.Where("app_password_id = ?", ap.ID).Limit(1).Find(&rows).Error; err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, nil
		}
		norm, _ := normalizeAppPassword(password)
		id, err := (&blobcrypt.UserKey{Sealed: rows[0].Sealed}).Unlock(norm)
		if err != nil {
			return nil, fmt.Errorf("app password %d: %w", ap.ID, err)
		}
		return &MailKey{blobcrypt.SessionSealer(id)}, nil
	}
	var rows []userKeyRow
	if err := db.Where("user_id = ?", u.ID).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		if !s.usesUserKeys(d) {
			return nil, nil
		}
		return s.makeUserKey(ctx, u, d, password)
	}
	row := rows[0]
	id, err := row.key().Unlock(password)
	if err != nil {
		return nil, err
	}
	if row.RecoveryPublic != d.RecoveryPublicKey {
		if err := s.resealRecovery(ctx, &row, id, d.RecoveryPublicKey); err != nil {
			s.log.Warn("update the recovery copy of the user's key", "user", u.Address, "err", err)
		}
	}
	return &MailKey{blobcrypt.SessionSealer(id)}, nil
}

// newUserKeyRow makes a new key for a user of domain d, sealed with
// password and, if d has one, to its recovery key.
func newUserKeyRow(password string, d *Domain) (*userKeyRow, error) {
	rec, err := recoveryRecipient(d.RecoveryPublicKey)
	if err != nil {
		return nil, err
	}
	k, err := blobcrypt.NewUserKey(password, rec)
	if err != nil {
		return nil, err
	}
	row := &userKeyRow{Public: k.Public, Sealed: k.Sealed, Recovery: k.Recovery}
	if rec != nil {
		row.RecoveryPublic = d.RecoveryPublicKey
	}
	return row, nil
}

// makeUserKey makes the key of a user of a user-key domain, sealed with
// password (and to the domain's recovery key), unless another login made
// one meanwhile; it returns the key unlocked.
func (s *Store) makeUserKey(ctx context.Context, u *User, d *Domain, password string) (*MailKey, error) {
	nr, err := newUserKeyRow(password, d)
	if err != nil {
		return nil, err
	}
	row := *nr
	row.UserID = u.ID
	made := false
	err = s.write(ctx, func(tx *writeTx) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		made = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return nil, fmt.Errorf("store the user's key: %w", err)
	}
	if !made {
		var cur userKeyRow
		if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Take(&cur).Error; err != nil {
			return nil, err
		}
		id, err := cur.key().Unlock(password)
		if err != nil {
			return nil, err
		}
		return &MailKey{blobcrypt.SessionSealer(id)}, nil
	}
	s.log.Info("made the user's mail key (user-key encryption)", "user", u.Address, "recovery", row.RecoveryPublic != "")
	id, err := row.key().Unlock(password)
	if err != nil {
		return nil, err
	}
	return &MailKey{blobcrypt.SessionSealer(id)}, nil
}

// recoveryRecipient parses a domain's recovery public key ("" : nil).
func recoveryRecipient(public string) (age.Recipient, error) {
	if public == "" {
		return nil, nil
	}
	r, err := age.ParseX25519Recipient(public)
	if err != nil {
		return nil, fmt.Errorf("domain recovery key: %w", err)
	}
	return r, nil
}

// resealRecovery replaces the recovery copy of an unlocked key with one
// for the domain's current recovery key (none if public is "").
func (s *Store) resealRecovery(ctx context.Context, row *userKeyRow, id *age.X25519Identity, public string) error {
	rec, err := recoveryRecipient(public)
	if err != nil {
		return err
	}
	var recovery []byte
	if rec != nil {
		if recovery, err = blobcrypt.SealIdentity(id, rec); err != nil {
			return err
		}
	}
	return s.write(ctx, func(tx *writeTx) error {
		return tx.Model(&userKeyRow{}).Where("user_id = ? AND public = ?", row.UserID, row.Public).
			Updates(map[string]any{"recovery": recovery, "recovery_public": public, "updated_at": time.Now().UTC()}).Error
	})
}

// UserEncryption says how a user's mail is encrypted at rest and what a
// password reset by an administrator would do to it.
type UserEncryption struct {
	// Mode is the user's domain's mode: "server" or "user".
	Mode string `json:"mode"`
	// HasKey is true when the user has a key of user-key mode (made at
	// their first login in that mode); mail delivered before is under the
	// server key.
	HasKey bool `json:"has_key"`
	// Recoverable is true when the key has a copy for the domain's
	// current recovery key.
	Recoverable bool `json:"recoverable"`
	// DomainRecoveryKey is true when the domain has a recovery key.
	DomainRecoveryKey bool `json:"domain_recovery_key"`
	// ResetEffect is what a password reset by an administrator does to
	// the stored mail: "none" (no key), "recovery_key_needed" (the mail
	// stays readable if the domain's recovery key is given), or
	// "mail_unreadable" (no recovery copy: a reset makes the old mail
	// unreadable for good).
	ResetEffect string `json:"reset_effect"`
}

// The values of UserEncryption.ResetEffect.
const (
	ResetKeepsMail      = "none"
	ResetNeedsRecovery  = "recovery_key_needed"
	ResetMailUnreadable = "mail_unreadable"
)

// GetUserEncryption returns how the mail of the user at address is
// encrypted.
func (s *Store) GetUserEncryption(ctx context.Context, address string) (*UserEncryption, error) {
	u, err := s.GetUser(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("user encryption: %w", err)
	}
	var d Domain
	if err := s.db.WithContext(ctx).Where("id = ?", u.DomainID).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("user encryption of %s: %w", u.Address, notFound(err))
	}
	e := &UserEncryption{Mode: EncryptionServer, DomainRecoveryKey: d.RecoveryPublicKey != "", ResetEffect: ResetKeepsMail}
	if s.usesUserKeys(&d) {
		e.Mode = EncryptionUser
	}
	var rows []userKeyRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("user encryption of %s: %w", u.Address, err)
	}
	if len(rows) == 1 {
		e.HasKey = true
		e.Recoverable = len(rows[0].Recovery) > 0 && rows[0].RecoveryPublic != "" && rows[0].RecoveryPublic == d.RecoveryPublicKey
		e.ResetEffect = ResetMailUnreadable
		if e.Recoverable {
			e.ResetEffect = ResetNeedsRecovery
		}
	}
	return e, nil
}

// KeyHandling says what a password change does with the key of a
// user-key account (it is ignored for accounts without one).
type KeyHandling struct {
	// CurrentPassword (a change by the user) re-seals the key with the new
	// password: the mail stays readable.
	CurrentPassword string
	// RecoveryKey (a reset by an administrator) is the domain's recovery
	// private key ("AGE-SECRET-KEY-1..."): it opens the key's recovery
	// copy, which is re-sealed with the new password.
	RecoveryKey string
	// DiscardKey (a reset without the recovery key) replaces the key with
	// a new one: the mail sealed to the old one becomes unreadable.
	DiscardKey bool
}

// newKeyForPassword returns what the user's key row becomes when the
// password changes to password, per how; nil row and nil error when the
// user has no key. It does the slow key derivation, outside any
// transaction.
func (s *Store) newKeyForPassword(ctx context.Context, u *User, password string, how KeyHandling) (*userKeyRow, string, error) {
	var rows []userKeyRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Limit(1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	if len(rows) == 0 {
		return nil, "", nil
	}
	row := rows[0]
	var (
		k   *blobcrypt.UserKey
		err error
	)
	switch {
	case how.CurrentPassword != "":
		k, err = row.key().ChangePassword(how.CurrentPassword, password)
		if err != nil {
			return nil, "", fmt.Errorf("re-seal the mail key: %w", err)
		}
		return &userKeyRow{UserID: u.ID, Public: k.Public, Sealed: k.Sealed, Recovery: row.Recovery, RecoveryPublic: row.RecoveryPublic}, "resealed", nil
	case how.RecoveryKey != "":
		id, perr := age.ParseX25519Identity(strings.TrimSpace(how.RecoveryKey))
		if perr != nil {
			return nil, "", fmt.Errorf("recovery key: not an age secret key (AGE-SECRET-KEY-1...): %w", core.ErrInvalid)
		}
		if !row.key().Recoverable() {
			return nil, "", fmt.Errorf("the account's key has no copy for a recovery key: %w", core.ErrInvalid)
		}
		k, err = row.key().Recover(id, password)
		if err != nil {
			return nil, "", fmt.Errorf("recovery key does not open the account's key: %w", core.ErrInvalid)
		}
		return &userKeyRow{UserID: u.ID, Public: k.Public, Sealed: k.Sealed, Recovery: row.Recovery, RecoveryPublic: row.RecoveryPublic}, "recovered", nil
	case how.DiscardKey:
		var d Domain
		if err := s.db.WithContext(ctx).Where("id = ?", u.DomainID).Take(&d).Error; err != nil {
			return nil, "", notFound(err)
		}
		nr, err := newUserKeyRow(password, &d)
		if err != nil {
			return nil, "", err
		}
		nr.UserID = u.ID
		return nr, "replaced", nil
	}
	return nil, "", fmt.Errorf("%w: %w", ErrKeyWouldBeLost, core.ErrConflict)
}

// saveUserKeyTx stores the user's key row after a password change; a
// user's app password copies of the key go (their app passwords went with
// the old password).
func saveUserKeyTx(tx *writeTx, userID int64, row *userKeyRow) error {
	if err := tx.Where("user_id = ?", userID).Delete(&appPasswordKeyRow{}).Error; err != nil {
		return err
	}
	if row == nil {
		return nil
	}
	row.UpdatedAt = time.Now().UTC()
	return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(row).Error
}

// sealKeyForAppPassword returns the user's private key sealed with the
// new app password secret (normalized), unlocked with the account
// password; nil if the user has no key.
func (s *Store) sealKeyForAppPassword(ctx context.Context, u *User, accountPassword, secret string) ([]byte, error) {
	var rows []userKeyRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if accountPassword == "" {
		return nil, fmt.Errorf("%w: %w", ErrKeyNeedsPassword, core.ErrInvalid)
	}
	if _, _, err := s.checkAccountPassword(ctx, u.Address, accountPassword); err != nil {
		return nil, err
	}
	id, err := rows[0].key().Unlock(accountPassword)
	if err != nil {
		return nil, fmt.Errorf("unlock the mail key: %w", err)
	}
	norm, _ := normalizeAppPassword(secret)
	k, err := blobcrypt.SealIdentityWithPassword(id, norm)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// CreateDomainRecoveryKey makes a new recovery key for the domain and
// returns its private key, which is not stored: the administrator keeps it
// offline and gives it to reset a password without losing the user's
// mail. Keys of the domain's users get a copy for it when they are made,
// and existing keys at their owner's next login. A previous recovery key
// stops being used for new copies.
func (s *Store) CreateDomainRecoveryKey(ctx context.Context, name string) (string, *Domain, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", nil, fmt.Errorf("domain recovery key: %w", err)
	}
	d, err := s.setRecoveryPublic(ctx, name, id.Recipient().String())
	if err != nil {
		return "", nil, err
	}
	return id.String(), d, nil
}

// DeleteDomainRecoveryKey removes the domain's recovery key and every
// copy of its users' keys made for it: from then on a password reset by
// an administrator makes a user's old mail unreadable.
func (s *Store) DeleteDomainRecoveryKey(ctx context.Context, name string) (*Domain, error) {
	return s.setRecoveryPublic(ctx, name, "")
}

func (s *Store) setRecoveryPublic(ctx context.Context, name, public string) (*Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("domain recovery key: %w", err)
	}
	var d Domain
	err = s.write(ctx, func(tx *writeTx) error {
		if err := tx.Where("name = ?", n).Take(&d).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&Domain{}).Where("id = ?", d.ID).Update("recovery_public_key", public).Error; err != nil {
			return err
		}
		d.RecoveryPublicKey = public
		if public == "" {
			err := tx.Model(&userKeyRow{}).Where("user_id IN (?)", tx.Model(&User{}).Select("id").Where("domain_id = ?", d.ID)).
				Updates(map[string]any{"recovery": gorm.Expr("NULL"), "recovery_public": ""}).Error
			if err != nil {
				return err
			}
			return tx.audit("domain.recovery_key.delete", n, nil)
		}
		return tx.audit("domain.recovery_key.create", n, map[string]any{"public_key": public})
	})
	if err != nil {
		return nil, fmt.Errorf("domain recovery key of %s: %w", n, err)
	}
	return &d, nil
}

// MoveMailToUserKeys seals to their own key the older mail of the users in
// user-key mode whose mail has not been moved yet (stored in plaintext or
// under the server key before they had a key or before their domain
// switched): each body that only their messages reference is rewritten
// in place, as SealExisting does (a crash leaves it whole, old or new). A
// body shared with another user, the outbound queue or the quarantine
// stays as it is. It returns how many bodies it moved; the server runs it
// in the background, and it resumes where it stopped. One process on the
// database moves mail at a time: while another one does, it returns
// ErrJobRunning.
func (s *Store) MoveMailToUserKeys(ctx context.Context) (int, error) {
	if _, ok := s.files.(*FileBlobStore); !ok {
		return 0, nil
	}
	// Most of the time there is nothing to do: see so without the lock.
	keys, err := s.sealingKeys(ctx, "k.moved = ?", false)
	if err != nil || len(keys) == 0 {
		if err != nil {
			err = fmt.Errorf("move mail to user keys: %w", err)
		}
		return 0, err
	}
	var moved int
	err = s.exclusive(ctx, jobMoveToUserKeys, func() (err error) {
		moved, err = s.moveMailToUserKeys(ctx)
		return err
	})
	return moved, err
}

// moveMailToUserKeys is MoveMailToUserKeys holding the job's lock.
func (s *Store) moveMailToUserKeys(ctx context.Context) (int, error) {
	fb := s.files.(*FileBlobStore)
	keys, err := s.sealingKeys(ctx, "k.moved = ?", false)
	if err != nil {
		return 0, fmt.Errorf("move mail to user keys: %w", err)
	}
	tables, err := s.blobTables(s.db.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	moved := 0
	for userID, public := range keys {
		sealer, err := blobcrypt.UserSealer(public)
		if err != nil {
			return moved, err
		}
		n, err := s.moveUserMail(ctx, fb, tables, userID, sealer)
		moved += n
		if err != nil {
			return moved, fmt.Errorf("move mail of user %d to their key: %w", userID, err)
		}
		err = s.write(ctx, func(tx *writeTx) error {
			return tx.Model(&userKeyRow{}).Where("user_id = ? AND public = ?", userID, public).Update("moved", true).Error
		})
		if err != nil {
			return moved, fmt.Errorf("move mail of user %d to their key: %w", userID, err)
		}
	}
	return moved, nil
}

// moveUserMail reseals the bodies only user userID's messages reference.
func (s *Store) moveUserMail(ctx context.Context, fb *FileBlobStore, tables []string, userID int64, sealer *blobcrypt.Sealer) (int, error) {
	db := s.db.WithContext(ctx)
	var keys []string
	if err := db.Model(&messageRow{}).Where("user_id = ?", userID).Distinct().Pluck("blob_key", &keys).Error; err != nil {
		return 0, err
	}
	moved, err := s.moveUserInline(ctx, tables, keys, userID, sealer)
	if err != nil {
		return moved, err
	}
	keys = slices.DeleteFunc(keys, IsInlineKey)
	for chunk := range slices.Chunk(keys, sweepChunk) {
		shared := map[string]bool{}
		for _, t := range tables {
			q := db.Table(t).Where("blob_key IN ?", chunk)
			if t == "messages" {
				q = q.Where("user_id <> ?", userID)
			}
			var ks []string
			if err := q.Distinct().Pluck("blob_key", &ks).Error; err != nil {
				return moved, err
			}
			for _, k := range ks {
				shared[k] = true
			}
		}
		for _, key := range chunk {
			if err := ctx.Err(); err != nil {
				return moved, err
			}
			if shared[key] {
				continue
			}
			n, err := fb.resealInPlace(key, sealer, true)
			if errors.Is(err, fs.ErrNotExist) {
				continue // expunged meanwhile
			}
			if err != nil {
				return moved, err
			}
			if n >= 0 {
				moved++
			}
		}
	}
	return moved, nil
}
