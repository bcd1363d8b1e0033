package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Dialect is what the SQL of the engines does not share. The zero value is
// SQLite's. What they share needs no method: INSERT … ON CONFLICT DO
// NOTHING (or DO UPDATE) for inserts that may meet an existing row,
// UPDATE … RETURNING, and "?" placeholders in statements run through gorm.
type Dialect struct {
	// Engine is SQLite or Postgres.
	Engine string
}

// IsPostgres reports whether the engine is PostgreSQL.
func (d Dialect) IsPostgres() bool { return d.Engine == Postgres }

// BeginWrite is the statement that starts a write transaction: SQLite's
// takes the write lock at once (so that two writers never deadlock
// upgrading a read lock); PostgreSQL locks rows as they are written.
func (d Dialect) BeginWrite() string {
	if d.IsPostgres() {
		return "BEGIN"
	}
	return "BEGIN IMMEDIATE"
}

// ForUpdate is the clause that ends a SELECT whose rows the transaction
// then updates: " FOR UPDATE" on PostgreSQL, where another process may
// write the same rows at once; "" on SQLite, whose write transactions hold
// the database's one write lock from their BEGIN.
func (d Dialect) ForUpdate() string {
	if d.IsPostgres() {
		return " FOR UPDATE"
	}
	return ""
}

// Rebind turns the "?" placeholders of query into the engine's ($1, $2, …
// on PostgreSQL). Statements run through gorm need none of it (gorm binds
// for its dialector); statements sent to a database/sql connection
// directly do. query must have no "?" inside string literals.
func (d Dialect) Rebind(query string) string {
	if !d.IsPostgres() || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// IsBusy reports whether err means that the database was busy (another
// writer held a lock too long, a deadlock was broken, a serializable
// transaction lost): the write may succeed when tried again.
func (d Dialect) IsBusy(err error) bool {
	if err == nil {
		return false
	}
	if d.IsPostgres() {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch pe.Code {
			case "40001", "40P01", "55P03": // serialization_failure, deadlock_detected, lock_not_available
				return true
			}
		}
		return false
	}
	return isSQLiteLocked(err)
}

// isSQLiteLocked reports whether err is SQLite's SQLITE_BUSY.
func isSQLiteLocked(err error) bool {
	return strings.Contains(err.Error(), "database is locked")
}

// IsNoTransaction reports whether err is a refusal to end a transaction
// that is not open (SQLite rolls some back by itself on errors;
// PostgreSQL only warns).
func (d Dialect) IsNoTransaction(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no transaction is active")
}

// IsUniqueViolation reports whether err is a unique constraint's refusal.
func (d Dialect) IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return errors.Is(err, gorm.ErrDuplicatedKey) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// TablesWithColumn returns the tables of db that have a column named col,
// sorted by name.
func (d Dialect) TablesWithColumn(db *gorm.DB, col string) ([]string, error) {
	q := `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
	WHERE m.type = 'table' AND p.name = ? ORDER BY m.name`
	if d.IsPostgres() {
		q = `SELECT table_name FROM information_schema.columns
	WHERE table_schema = current_schema() AND column_name = ? ORDER BY table_name`
	}
	var tables []string
	if err := db.Raw(q, col).Scan(&tables).Error; err != nil {
		return nil, fmt.Errorf("tables with column %s: %w", col, err)
	}
	return tables, nil
}

// HasTable reports whether db has the table name.
func (d Dialect) HasTable(db *gorm.DB, name string) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if d.IsPostgres() {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	var n int64
	if err := db.Raw(q, name).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("has table %s: %w", name, err)
	}
	return n > 0, nil
}

// IntegrityCheck checks the database's consistency: SQLite's quick_check;
// on PostgreSQL, which checks its pages itself, that it answers.
func (d Dialect) IntegrityCheck(ctx context.Context, db *gorm.DB) error {
	if d.IsPostgres() {
		return db.WithContext(ctx).Exec("SELECT 1").Error
	}
	var check string
	if err := FirstRow(db.WithContext(ctx).Raw("PRAGMA quick_check").Rows()).Scan(&check); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if check != "ok" {
		return fmt.Errorf("integrity check: database is damaged: %s", check)
	}
	return nil
}

// Checkpoint moves what the write-ahead log holds into the database file
// and empties the log (SQLite; so that deleted content leaves the log). On
// PostgreSQL it does nothing: the server manages its own log.
func (d Dialect) Checkpoint(ctx context.Context, db *gorm.DB) error {
	if d.IsPostgres() {
		return nil
	}
	return db.WithContext(ctx).Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error
}

// LockTx takes the lock named name for the rest of the transaction tx
// (migrations: one process at a time). On PostgreSQL it is an advisory
// transaction lock; on SQLite the write transaction holds the database's
// one write lock already, and it does nothing.
func (d Dialect) LockTx(tx *gorm.DB, name string) error {
	if !d.IsPostgres() {
		return nil
	}
	if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", lockKey(name)).Error; err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}
