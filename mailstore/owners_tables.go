package mailstore

// Other owners' tables in the store's database. The outbound queue
// (mta/queue), the spam filter's token counts and DKIM keys keep their
// tables in the same database as the mail, but own their models and SQL:
// each reaches the database through a small interface it declares, which
// the Store implements with the methods below (its reader pool, its
// group-commit writer and its body store).

import (
	"context"
	"fmt"
	"io"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ownerSchema is one row per owner of tables migrated with MigrateTables:
// the fingerprint of the models that last migrated them, and the version
// of the owner's schema, raised by each migration that changed it.
type ownerSchema struct {
	Owner       string    `gorm:"primaryKey;size:100"`
	Version     int       `gorm:"not null;default:0"`
	Fingerprint string    `gorm:"size:64;not null"`
	MigratedAt  time.Time `gorm:"not null"`
}

func (ownerSchema) TableName() string { return "schema_owners" }

// MigrateTables creates or updates the tables of models, which the package
// named owner keeps in this database. Like the store's own migration it
// runs in one write transaction and only when the models changed since the
// last run (their fingerprint), so it is cheap at every start and safe when
// several processes start at once.
func (s *Store) MigrateTables(ctx context.Context, owner string, models ...any) error {
	want := schemaFingerprint(models)
	var cur ownerSchema
	if s.db.WithContext(ctx).Migrator().HasTable(&ownerSchema{}) &&
		s.db.WithContext(ctx).Where("owner = ?", owner).Limit(1).Find(&cur).Error == nil &&
		cur.Fingerprint == want {
		return nil
	}
	err := s.write(ctx, func(tx *writeTx) error {
		if err := s.dialect.LockTx(tx.DB, "migrate"); err != nil {
			return err
		}
		if err := tx.AutoMigrate(&ownerSchema{}); err != nil {
			return err
		}
		cur = ownerSchema{}
		if err := tx.Where("owner = ?", owner).Limit(1).Find(&cur).Error; err != nil {
			return err
		}
		if cur.Fingerprint == want {
			return nil // another process migrated while we waited
		}
		if err := tx.AutoMigrate(models...); err != nil {
			return err
		}
		row := ownerSchema{Owner: owner, Version: cur.Version + 1, Fingerprint: want, MigratedAt: time.Now().UTC()}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("migrate the tables of %s: %w", owner, err)
	}
	return nil
}

// WriteTx runs fn in a transaction of the store's single writer and returns
// once the transaction is durable (or failed). Writes are grouped into
// shared transactions (group commit): fn may run more than once and must
// start from scratch each time. afterCommit queues an action for after the
// commit. Set bodies when the transaction references bodies stored with
// PutBody: they are flushed before the commit.
func (s *Store) WriteTx(ctx context.Context, bodies bool, fn func(tx *gorm.DB, afterCommit func(func())) error) error {
	run := func(tx *writeTx) error { return fn(tx.DB, tx.onCommit) }
	if bodies {
		return s.writeBody(ctx, run)
	}
	return s.write(ctx, run)
}

// AuditTx records an administrative action in tx, a WriteTx transaction, on
// behalf of the actor its context carries (WithAudit); without one it
// records nothing.
func (s *Store) AuditTx(tx *gorm.DB, action, target string, details any) error {
	return (&writeTx{DB: tx, store: s}).audit(action, target, details)
}

// PutBody stores a new body, line endings normalised to CRLF, for a WriteTx
// with bodies set; the body is durable once that transaction is.
func (s *Store) PutBody(ctx context.Context, r io.Reader) (key string, size int64, err error) {
	return s.putBody(ctx, r)
}

// OpenBody opens a body stored with PutBody.
func (s *Store) OpenBody(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.blobs.Open(ctx, key)
}

// DeleteBody removes a body stored with PutBody; a missing one is no error.
func (s *Store) DeleteBody(ctx context.Context, key string) error {
	return s.blobs.Delete(ctx, key)
}
