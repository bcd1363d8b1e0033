package mailstore

import (
	"context"
	"database/sql"
	"strings"

	yubindb "github.com/yubinmail/yubin/internal/db"
)

// Statements of the per-message paths (SMTP intake: recipient look-ups,
// Sieve scripts, sealing keys; the delivery's writes) written out and run
// on the connection pools as written: every message pays gorm's statement
// building and reflective scanning otherwise, several times over, which
// was a large share of the allocations and CPU of each message. The
// statements are prepared once (gorm's PreparedStmtDB on the readers,
// writerConn on the writer).
//
// They are written with "?" placeholders, as SQLite takes them; readRow,
// readRows, txRow and txExec, the one place these queries go through,
// rewrite them for PostgreSQL ($1, $2, ...).

// readRow runs a query that returns at most one row on the readers' pool.
// It goes through QueryContext (db.FirstRow): a statement that could not
// be prepared must come back as an error, not as gorm's empty *sql.Row.
func (s *Store) readRow(ctx context.Context, query string, args ...any) yubindb.Row {
	return yubindb.FirstRow(s.db.Statement.ConnPool.QueryContext(ctx, s.dialect.Rebind(query), args...))
}

// readRows runs a query on the readers' pool.
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.Statement.ConnPool.QueryContext(ctx, s.dialect.Rebind(query), args...)
}

// txRow runs a query that returns at most one row in the write
// transaction.
func (t *writeTx) txRow(query string, args ...any) yubindb.Row {
	return yubindb.FirstRow(t.Statement.ConnPool.QueryContext(t.Statement.Context, t.store.dialect.Rebind(query), args...))
}

// txExec runs a statement in the write transaction.
func (t *writeTx) txExec(query string, args ...any) error {
	_, err := t.Statement.ConnPool.ExecContext(t.Statement.Context, t.store.dialect.Rebind(query), args...)
	return err
}

// placeholders returns n "?" separated by commas, for an IN list.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// userColumns are the columns of User in the order scanUser reads them;
// a test checks that they are every column gorm knows for User.
const userColumns = "id, domain_id, address, display_name, password_hash, quota_bytes, quota_messages, used_bytes, used_messages, " +
	"enabled, created_at, updated_at, credential_version, language, quota_warning_percent, second_factor"

// scanUser reads a row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created, updated sql.NullTime // nullable columns: zero, as gorm reads them
	err := row.Scan(&u.ID, &u.DomainID, &u.Address, &u.DisplayName, &u.PasswordHash, &u.QuotaBytes, &u.QuotaMessages,
		&u.UsedBytes, &u.UsedMessages, &u.Enabled, &created, &updated, &u.CredentialVersion, &u.Language,
		&u.QuotaWarningPercent, &u.SecondFactor)
	if err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = created.Time, updated.Time
	return &u, nil
}

// userByAddress returns the account of an address as stored (canonical);
// sql.ErrNoRows if there is none.
func (s *Store) userByAddress(ctx context.Context, addr string) (*User, error) {
	return scanUser(s.readRow(ctx, "SELECT "+userColumns+" FROM users WHERE address = ? LIMIT 1", addr))
}

// domainColumns are the columns of Domain in the order scanDomain reads
// them; a test checks that they are every column gorm knows for Domain.
const domainColumns = "id, name, enabled, created_at, default_quota_bytes, max_quota_bytes, quota_bytes, max_users, " +
	"spam_junk_score, spam_reject_score, spam_filter, virus_scan, dmarc_enforce, quota_warning_percents, language, " +
	"used_bytes, used_messages, usage_counted, require_two_factor, encryption_mode, recovery_public_key"

// scanDomain reads a row of domainColumns.
func scanDomain(row interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	var created sql.NullTime // nullable: zero, as gorm reads it
	f := &d.DomainFilterSettings
	err := row.Scan(&d.ID, &d.Name, &d.Enabled, &created, &d.DefaultQuotaBytes, &d.MaxQuotaBytes, &d.QuotaBytes, &d.MaxUsers,
		&f.SpamJunkScore, &f.SpamRejectScore, &f.SpamFilter, &f.VirusScan, &f.DMARCEnforce, &d.QuotaWarningPercents, &d.Language,
		&d.UsedBytes, &d.UsedMessages, &d.UsageCounted, &d.RequireTwoFactor, &d.EncryptionMode, &d.RecoveryPublicKey)
	if err != nil {
		return nil, err
	}
	d.CreatedAt = created.Time
	return &d, nil
}

// domainByName returns a domain by its canonical name; sql.ErrNoRows if
// there is none.
func (s *Store) domainByName(ctx context.Context, name string) (*Domain, error) {
	return scanDomain(s.readRow(ctx, "SELECT "+domainColumns+" FROM domains WHERE name = ? LIMIT 1", name))
}
