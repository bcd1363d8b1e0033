package mailstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/internal/tokens"
)

// schemaVersion numbers the layout of the database this code writes. Raise
// it with a change that needs more than AutoMigrate (a data migration);
// changes to the models are noticed without it (see schemaFingerprint).
const schemaVersion = 1

// schemaState is the one-row table that says which schema the database
// has: its version and the fingerprint of the models that made it.
type schemaState struct {
	ID          int       `gorm:"primaryKey;autoIncrement:false"`
	Version     int       `gorm:"not null"`
	Fingerprint string    `gorm:"size:64;not null"`
	MigratedAt  time.Time `gorm:"not null"`
}

func (schemaState) TableName() string { return "schema_version" }

// migrate brings the database to this code's schema. Any number of
// processes may open one database at once (`yubin serve` and a CLI
// command started together, several nodes on one PostgreSQL): the whole
// migration runs in one write transaction under the migration lock
// (SQLite's write lock, taken at BEGIN IMMEDIATE; an advisory lock on
// PostgreSQL), reads the version first and does nothing if another
// process already migrated. Counters are seeded (ON CONFLICT DO NOTHING)
// in the same transaction.
func (s *Store) migrate(ctx context.Context) error {
	want := schemaFingerprint(allModels())
	// Fast path, without the write lock: already migrated.
	var cur schemaState
	if s.db.WithContext(ctx).Migrator().HasTable(&schemaState{}) &&
		s.db.WithContext(ctx).Where("id = 1").Limit(1).Find(&cur).Error == nil &&
		cur.Version == schemaVersion && cur.Fingerprint == want {
		return nil
	}
	err := s.wdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.dialect.LockTx(tx, "migrate"); err != nil {
			return err
		}
		if err := tx.Migrator().AutoMigrate(&schemaState{}); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		cur = schemaState{}
		if err := tx.Where("id = 1").Limit(1).Find(&cur).Error; err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if cur.Version > schemaVersion {
			return fmt.Errorf("the database has schema version %d, newer than this yubin's %d: use a newer yubin", cur.Version, schemaVersion)
		}
		if cur.Version == schemaVersion && cur.Fingerprint == want {
			return nil // another process migrated while we waited
		}
		if err := tx.AutoMigrate(allModels()...); err != nil {
			return err
		}
		c := counter{Name: "uidvalidity", Value: time.Now().Unix()}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
			return fmt.Errorf("init counters: %w", err)
		}
		st := schemaState{ID: 1, Version: schemaVersion, Fingerprint: want, MigratedAt: time.Now().UTC()}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&st).Error
	})
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

// schemaFingerprint is a hash of every table, column, type and index of
// models: a binary whose models differ from the ones that migrated the
// database migrates it again.
func schemaFingerprint(models []any) string {
	var lines []string
	cache := &sync.Map{}
	for _, m := range models {
		sch, err := schema.Parse(m, cache, schema.NamingStrategy{})
		if err != nil {
			lines = append(lines, fmt.Sprintf("%T: %v", m, err))
			continue
		}
		for _, f := range sch.Fields {
			if f.DBName == "" {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s.%s %s %d %v %v %q %v %v", sch.Table, f.DBName, f.DataType, f.Size,
				f.NotNull, f.PrimaryKey, f.DefaultValue, f.Unique, f.TagSettings))
		}
		for _, idx := range sch.ParseIndexes() {
			var cols []string
			for _, o := range idx.Fields {
				cols = append(cols, o.DBName)
			}
			lines = append(lines, fmt.Sprintf("%s index %s %s (%s)", sch.Table, idx.Name, idx.Class, strings.Join(cols, ",")))
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

// otherOwnersModels returns the tables that live in the mailstore's
// database but belong to other packages: API tokens and sessions, the
// audit log, statistics. The migration creates them with the mailstore's
// own.
func otherOwnersModels() []any {
	var models []any
	models = append(models, tokens.Models()...)
	models = append(models, audit.Models()...)
	models = append(models, stats.Models()...)
	return models
}
