package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// FileName is the name of the SQLite database in a data folder.
const FileName = "yubin.db"

// DB is an open database: a handle for reads, one for the writer, and the
// dialect of its engine.
type DB struct {
	// Read serves reads (on SQLite a pool of read-only connections).
	Read *gorm.DB
	// Write serves the group-commit writer (which holds one connection of
	// it, see WriterConn) and what runs before the writer starts.
	Write *gorm.DB
	// Dialect says how the engine differs.
	Dialect Dialect
	// Path is the SQLite file ("" on PostgreSQL).
	Path string
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// SQLitePath returns the SQLite file dsn names for the data folder dir:
// dir/yubin.db for an empty dsn, dsn itself otherwise. It is "" for a
// PostgreSQL dsn.
func SQLitePath(dsn, dir string) string {
	switch {
	case IsPostgres(dsn):
		return ""
	case dsn == "":
		return filepath.Join(dir, FileName)
	default:
		return strings.TrimPrefix(dsn, "sqlite:")
	}
}

// Open opens the database dsn names ("" or a path: SQLite, the file
// dir/yubin.db for ""; postgres://…: PostgreSQL).
func Open(ctx context.Context, dsn, dir string) (*DB, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, SQLitePath(dsn, dir))
}

// gormConfig is the configuration of every gorm handle.
func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		PrepareStmt:            true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}

// Close closes both handles.
func (d *DB) Close() error {
	var errs []error
	for _, g := range []*gorm.DB{d.Read, d.Write} {
		if g == nil {
			continue
		}
		if sqlDB, err := g.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}
