package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/sqltext"
)

// defaultMailboxes are created for every new user (RFC 6154 special uses).
var defaultMailboxes = []struct{ name, use string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Archive", `\Archive`},
	{"Junk", `\Junk`},
	{"Trash", `\Trash`},
}

// CreateDomain adds a mail domain.
func (s *Store) CreateDomain(ctx context.Context, name string) (*Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("create domain: %w", err)
	}
	d := &Domain{Name: n, Enabled: true, UsageCounted: true, QuotaWarningPercents: DefaultQuotaWarningPercents()}
	err = s.write(ctx, func(tx *writeTx) error {
		var count int64
		if err := tx.Model(&Domain{}).Where("name = ?", n).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return fmt.Errorf("domain %s: %w", n, core.ErrExists)
		}
		d.ID = 0
		if err := tx.Create(d).Error; err != nil {
			return err
		}
		return tx.audit("domain.create", n, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create domain %s: %w", n, uniqueToExists(err))
	}
	return d, nil
}

// GetDomain returns a domain by name.
func (s *Store) GetDomain(ctx context.Context, name string) (*Domain, error) {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("get domain: %w", err)
	}
	// Written out (hotsql.go): intake reads the domain of every message.
	d, err := s.domainByName(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("get domain %s: %w", n, notFound(err))
	}
	if !d.UsageCounted {
		if err := s.countDomainsUsage(ctx); err != nil {
			return nil, fmt.Errorf("get domain %s: %w", n, err)
		}
		if d, err = s.domainByName(ctx, n); err != nil {
			return nil, fmt.Errorf("get domain %s: %w", n, notFound(err))
		}
	}
	return d, nil
}

// ListDomains returns all domains by name.
func (s *Store) ListDomains(ctx context.Context) ([]Domain, error) {
	var ds []Domain
	if err := s.db.WithContext(ctx).Order("name").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	if slices.ContainsFunc(ds, func(d Domain) bool { return !d.UsageCounted }) {
		if err := s.countDomainsUsage(ctx); err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		ds = nil
		if err := s.db.WithContext(ctx).Order("name").Find(&ds).Error; err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
	}
	return ds, nil
}

// DeleteDomain removes a domain. A domain that still has users or aliases
// is refused with ErrConflict unless cascade is set, which deletes the
// users and their mail, and the aliases.
func (s *Store) DeleteDomain(ctx context.Context, name string, cascade bool) error {
	n, err := core.NormalizeDomain(name)
	if err != nil {
		return fmt.Errorf("delete domain: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var d Domain
		if err := tx.Where("name = ?", n).Take(&d).Error; err != nil {
			return notFound(err)
		}
		var users []User
		if err := tx.Where("domain_id = ?", d.ID).Find(&users).Error; err != nil {
			return err
		}
		if len(users) > 0 && !cascade {
			return fmt.Errorf("domain still has %d users (delete them first or cascade): %w", len(users), core.ErrConflict)
		}
		if err := deleteDomainAliasesTx(tx, d.ID, cascade); err != nil {
			return err
		}
		for i := range users {
			if err := deleteUserTx(tx, &users[i]); err != nil {
				return err
			}
		}
		if err := deleteDomainAdminRowsTx(tx, d.ID); err != nil {
			return err
		}
		if err := deleteDomainSieveTx(tx, d.ID); err != nil {
			return err
		}
		if err := tx.Delete(&d).Error; err != nil {
			return err
		}
		return tx.audit("domain.delete", n, map[string]any{"cascade": cascade, "users_deleted": len(users)})
	})
	if err != nil {
		return fmt.Errorf("delete domain %s: %w", n, err)
	}
	return nil
}

// NewUser describes an account to create.
type NewUser struct {
	Address       string
	Password      string
	DisplayName   string
	QuotaBytes    int64
	QuotaMessages int64
}

// CreateUser adds an account in an existing domain, with its default
// mailboxes, in one transaction. The domain's settings apply: its user
// limit (ErrConflict), its maximum user quota (ErrInvalid), and its default
// quota for a user created without one (or its maximum, if it has no
// default: a user quota of 0 would be unlimited). An address that is an
// alias is refused with ErrExists.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	addr, err := core.ParseAddress(nu.Address)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if err := validatePassword(nu.Password); err != nil {
		return nil, fmt.Errorf("create user %s: %w", addr, err)
	}
	if nu.QuotaBytes < 0 || nu.QuotaMessages < 0 {
		return nil, fmt.Errorf("create user %s: quota must not be negative: %w", addr, core.ErrInvalid)
	}
	if len(nu.DisplayName) > 200 || !utf8.ValidString(nu.DisplayName) {
		return nil, fmt.Errorf("create user %s: display name must be valid UTF-8 of at most 200 bytes: %w", addr, core.ErrInvalid)
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", addr, err)
	}
	// A user of a user-key domain gets their key now, while the password
	// is at hand (the slow derivation happens outside the transaction).
	var key *userKeyRow
	if d, err := s.GetDomain(ctx, addr.Domain); err == nil && s.usesUserKeys(d) {
		if key, err = newUserKeyRow(nu.Password, d); err != nil {
			return nil, fmt.Errorf("create user %s: %w", addr, err)
		}
	}
	u := &User{
		Address:       addr.String(),
		DisplayName:   nu.DisplayName,
		PasswordHash:  hash,
		QuotaBytes:    nu.QuotaBytes,
		QuotaMessages: nu.QuotaMessages,
		Enabled:       true,
	}
	err = s.write(ctx, func(tx *writeTx) error {
		// The domain's row stays locked to the end of the transaction
		// (on PostgreSQL, where another node may write at once): the
		// checks below (the address free among users and aliases, the
		// domain's user cap) hold until the commit.
		var d Domain
		if err := lockRow(tx.DB).Where("name = ?", addr.Domain).Take(&d).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("domain %s is not set up (add it first): %w", addr.Domain, core.ErrNotFound)
			}
			return err
		}
		var count int64
		if err := tx.Model(&User{}).Where("address = ?", u.Address).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return core.ErrExists
		}
		if err := checkNewUserTx(tx.DB, &d, u, nu.QuotaBytes); err != nil {
			return err
		}
		u.ID, u.DomainID = 0, d.ID
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		for _, mb := range defaultMailboxes {
			if _, err := createMailboxTx(tx, u.ID, mb.name, mb.use); err != nil {
				return err
			}
		}
		if key != nil {
			k := *key
			k.UserID = u.ID
			if err := tx.Create(&k).Error; err != nil {
				return err
			}
		}
		return tx.audit("user.create", u.Address, map[string]any{
			"display_name": u.DisplayName, "quota_bytes": u.QuotaBytes, "quota_messages": u.QuotaMessages,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", addr, uniqueToExists(err))
	}
	return u, nil
}

func validatePassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return fmt.Errorf("password must have at least %d characters: %w", MinPasswordLength, core.ErrInvalid)
	}
	if len(pw) > 1024 {
		return fmt.Errorf("password longer than 1024 bytes: %w", core.ErrInvalid)
	}
	if !utf8.ValidString(pw) || strings.ContainsAny(pw, "\x00\r\n") {
		return fmt.Errorf("password must be UTF-8 without NUL or line breaks: %w", core.ErrInvalid)
	}
	return nil
}

// GetUser returns an account by address.
func (s *Store) GetUser(ctx context.Context, address string) (*User, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	var u User
	if err := s.db.WithContext(ctx).Where("address = ?", a).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("get user %s: %w", a, notFound(err))
	}
	return &u, nil
}

// GetUserByID returns an account by its ID.
func (s *Store) GetUserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, notFound(err))
	}
	return &u, nil
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Domain string // only this domain's users
	Search string // substring of the address
	Limit  int    // 0 = no limit
	Offset int
}

// ListUsers returns accounts ordered by address.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]User, error) {
	q, err := filterUsers(s.db.WithContext(ctx).Model(&User{}).Order("address"), f)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	var us []User
	if err := q.Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// CountUsers returns how many accounts ListUsers would return without
// Limit and Offset.
func (s *Store) CountUsers(ctx context.Context, f UserFilter) (int64, error) {
	q, err := filterUsers(s.db.WithContext(ctx).Model(&User{}), f)
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func filterUsers(q *gorm.DB, f UserFilter) (*gorm.DB, error) {
	if f.Domain != "" {
		d, err := core.NormalizeDomain(f.Domain)
		if err != nil {
			return nil, err
		}
		q = q.Where("address LIKE ? ESCAPE '\\'", "%@"+escapeLike(d))
	}
	if f.Search != "" {
		q = q.Where("address LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Search))+"%")
	}
	return q, nil
}

// escapeLike escapes the LIKE wildcards of s (see sqltext.EscapeLike).
func escapeLike(s string) string { return sqltext.EscapeLike(s) }

// DeleteUser removes an account with all its mailboxes and mail.
func (s *Store) DeleteUser(ctx context.Context, address string) error {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		if err := deleteUserTx(tx, &u); err != nil {
			return err
		}
		return tx.audit("user.delete", a, nil)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", a, err)
	}
	return nil
}

func deleteUserTx(tx *writeTx, u *User) error {
	var keys []string
	if err := tx.Model(&messageRow{}).Where("user_id = ?", u.ID).Distinct().Pluck("blob_key", &keys).Error; err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&messageRow{}).Error; err != nil {
		return err
	}
	// The account goes with its mail: what its sessions could still read
	// of recent expunges goes too.
	gone, err := forgetExpungedOfUserTx(tx, u.ID)
	if err != nil {
		return err
	}
	keys = append(keys, gone...)
	if err := tx.Where("user_id = ?", u.ID).Delete(&subscription{}).Error; err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&metadataEntry{}).Error; err != nil {
		return err
	}
	if err := deleteURLAuthKeysTx(tx, u.ID, 0); err != nil {
		return err
	}
	if err := deleteUserSieveTx(tx, u.ID); err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&Mailbox{}).Error; err != nil {
		return err
	}
	if err := deleteUserACLTx(tx.DB, u.ID); err != nil {
		return err
	}
	if err := deleteUserThreadsTx(tx, u.ID); err != nil {
		return err
	}
	if err := removeUserFromDomainUsageTx(tx.DB, u); err != nil {
		return err
	}
	if err := deleteUserAdminRowsTx(tx, u.ID); err != nil {
		return err
	}
	if err := deleteSendAsTx(tx, "user_id = ? OR address = ?", u.ID, u.Address); err != nil {
		return err
	}
	if err := deleteAccountSecurityRowsTx(tx, u.ID); err != nil {
		return err
	}
	if err := deleteUserKeysTx(tx, u.ID); err != nil {
		return err
	}
	if err := deleteUserImportsTx(tx, u.ID); err != nil {
		return err
	}
	if err := tx.Delete(u).Error; err != nil {
		return err
	}
	if err := releaseBlobs(tx, keys); err != nil {
		return err
	}
	tx.publish(Event{Kind: MailboxesChanged, UserID: u.ID})
	return nil
}

// SetPassword replaces an account's password and revokes the API sessions
// and tokens granted under the old one. For a user-key account it fails
// (ErrKeyWouldBeLost): use ChangePassword, which says what becomes of the
// key.
func (s *Store) SetPassword(ctx context.Context, address, password string) error {
	return s.ChangePassword(ctx, address, password, KeyHandling{})
}

// ChangePassword is SetPassword that also re-seals, recovers or replaces
// the key of a user-key account, per how (see KeyHandling).
func (s *Store) ChangePassword(ctx context.Context, address, password string, how KeyHandling) error {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := validatePassword(password); err != nil {
		return fmt.Errorf("set password for %s: %w", a, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", a, err)
	}
	cur, err := s.GetUser(ctx, a)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", a, err)
	}
	key, keyChange, err := s.newKeyForPassword(ctx, cur, password, how)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", a, err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var u User
		if err := tx.Where("address = ?", a).Take(&u).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Update("password_hash", hash).Error; err != nil {
			return err
		}
		if err := revokeCredentialsTx(tx, SessionOwner{Kind: OwnerUser, ID: u.ID}, true); err != nil {
			return err
		}
		if keyChange != "" {
			if err := saveUserKeyTx(tx, u.ID, key); err != nil {
				return err
			}
			return tx.audit("user.password", a, map[string]any{"mail_key": keyChange})
		}
		return tx.audit("user.password", a, nil)
	})
	if err != nil {
		return fmt.Errorf("set password for %s: %w", a, err)
	}
	return nil
}

// Authenticate checks an address and account password (never an app
// password) and returns the account: the first step of signing in to the
// dashboard and the API. Mail protocols use AuthenticateMail. Any failure
// (unknown address, wrong password, disabled account or domain) is
// ErrAuthFailed, and takes about as long.
func (s *Store) Authenticate(ctx context.Context, address, password string) (*User, error) {
	a, err := core.NormalizeAddress(address)
	if err != nil {
		CheckPassword(dummyHash, password)
		return nil, core.ErrAuthFailed
	}
	u, d, err := s.checkAccountPassword(ctx, a, password)
	if err != nil {
		return nil, err
	}
	// Signing in with the password is also when a user of a user-key
	// domain gets their key, and their key a copy for the domain's
	// current recovery key (see userkeys.go); nothing is kept unlocked.
	if _, err := s.unlockMailKey(ctx, u, d, nil, password); err != nil {
		s.log.Warn("unlock the user's mail key at sign-in", "user", u.Address, "err", err)
	}
	return u, nil
}

// ResolveRecipient maps an envelope recipient to the local account that
// receives its mail. Unknown addresses are ErrNotFound; addresses in domains
// we do not serve are reported by IsLocalDomain.
func (s *Store) ResolveRecipient(ctx context.Context, address string) (*User, error) {
	a, err := core.ParseAddress(address)
	if err != nil {
		return nil, fmt.Errorf("resolve recipient: %w", err)
	}
	var u User
	if err := s.db.WithContext(ctx).Where("address = ?", a.String()).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("resolve recipient %s: %w", a, notFound(err))
	}
	if !u.Enabled {
		return nil, fmt.Errorf("resolve recipient %s: account disabled: %w", a, core.ErrNotFound)
	}
	var enabled bool
	if err := yubindb.FirstRow(s.db.WithContext(ctx).Raw("SELECT enabled FROM domains WHERE id = ?", u.DomainID).Rows()).Scan(&enabled); err != nil {
		return nil, fmt.Errorf("resolve recipient %s: domain: %w", a, notFound(err))
	}
	if !enabled {
		return nil, fmt.Errorf("resolve recipient %s: domain disabled: %w", a, core.ErrNotFound)
	}
	return &u, nil
}

// IsLocalDomain reports whether Yubin receives mail for domain.
func (s *Store) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	d, err := core.NormalizeDomain(domain)
	if err != nil {
		return false, nil
	}
	var n int64
	err = s.readRow(ctx, "SELECT COUNT(*) FROM domains WHERE name = ? AND enabled", d).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up domain %s: %w", d, err)
	}
	return n > 0, nil
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, sql.ErrNoRows) {
		return core.ErrNotFound
	}
	return err
}

// uniqueToExists turns a unique-constraint violation (a concurrent create
// that won the race) into ErrExists.
func uniqueToExists(err error) error {
	if err == nil || errors.Is(err, core.ErrExists) {
		return err
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) || strings.Contains(strings.ToLower(err.Error()), "unique constraint") {
		return fmt.Errorf("%v: %w", err, core.ErrExists)
	}
	return err
}
