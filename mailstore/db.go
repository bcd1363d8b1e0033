package mailstore

// This file is the one place that knows the metadata database is SQLite.
// Moving to PostgreSQL means a second opener here; the rest of the package
// uses gorm's portable API.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// openSQLite opens two handles on one SQLite file in WAL mode: a pool of
// readers, and the writer's pool (the store's writer holds one connection of
// it), whose connections take the write lock at BEGIN (so two writers never
// deadlock upgrading) and fsync the WAL on every commit (synchronous=FULL).
//
// Several processes may open one fresh data folder at once (see migrate):
// while one of them turns the new file to WAL mode, another one's open can
// be refused with "database is locked" before SQLite's busy timeout
// applies; such an open is tried again, for up to openLockedFor.
func openSQLite(ctx context.Context, path string) (readDB, writeDB *gorm.DB, err error) {
	deadline := time.Now().Add(openLockedFor)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		readDB, writeDB, err = openSQLiteOnce(path)
		if err == nil || !isLocked(err) || time.Now().After(deadline) {
			return readDB, writeDB, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("open database %s: %w (%w)", path, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// openLockedFor bounds how long openSQLite tries again a database that is
// locked at open.
const openLockedFor = 30 * time.Second

// isLocked reports whether err is SQLite's SQLITE_BUSY.
func isLocked(err error) bool {
	return strings.Contains(err.Error(), "database is locked")
}

// openSQLiteOnce is one attempt of openSQLite.
func openSQLiteOnce(path string) (readDB, writeDB *gorm.DB, err error) {
	params := url.Values{}
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", "FULL")
	params.Set("_busy_timeout", "10000")
	params.Set("_foreign_keys", "1")
	params.Set("_cache_size", "-16000")
	base := "file:" + path + "?"
	cfg := &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		PrepareStmt:            true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	writeParams := url.Values{}
	for k, v := range params {
		writeParams[k] = v
	}
	writeParams.Set("_txlock", "immediate")
	// Deleted content (an expunged body kept inline, the plaintext of one
	// sealed in place) is overwritten with zeros, not left in free space.
	writeParams.Set("_secure_delete", "on")
	writeDB, err = gorm.Open(sqlite.Open(base+writeParams.Encode()), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlW, err := writeDB.DB()
	if err != nil {
		return nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The store's writer holds one connection for its lifetime (see
	// writerConn); the second serves what runs before the writer starts
	// (migrations) and direct uses in tests. _txlock=immediate keeps the
	// two from deadlocking: the second waits for the write lock.
	sqlW.SetMaxOpenConns(2)
	sqlW.SetMaxIdleConns(2)
	sqlW.SetConnMaxLifetime(0)

	// The journal mode is a property of the file, set by the writer above;
	// readers open the file read-only so that no write can bypass the writer.
	params.Del("_journal_mode")
	params.Set("mode", "ro")
	readDB, err = gorm.Open(sqlite.Open(base+params.Encode()), cfg)
	if err != nil {
		sqlW.Close()
		return nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlR, err := readDB.DB()
	if err != nil {
		sqlW.Close()
		return nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlR.SetMaxOpenConns(8)
	sqlR.SetMaxIdleConns(8)
	return readDB, writeDB, nil
}

// beginWrite starts the writer's transactions, taking the write lock at
// once as the writer's DSN asks of database/sql (_txlock=immediate).
const beginWrite = "BEGIN IMMEDIATE"

// isNoTransaction reports whether err is SQLite's refusal to end a
// transaction that is not open (SQLite rolls some back by itself on
// errors).
func isNoTransaction(err error) bool {
	return strings.Contains(err.Error(), "no transaction is active")
}
