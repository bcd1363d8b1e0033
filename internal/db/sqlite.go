package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3" // also the "sqlite3" database/sql driver, for OpenSQLiteFile
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// openSQLite opens two handles on one SQLite file in WAL mode: a pool of
// readers, and the writer's pool (the store's writer holds one connection of
// it), whose connections take the write lock at BEGIN (so two writers never
// deadlock upgrading) and fsync the WAL on every commit (synchronous=FULL).
//
// Several processes may open one fresh data folder at once: while one of
// them turns the new file to WAL mode, another one's open can be refused
// with "database is locked" before SQLite's busy timeout applies; such an
// open is tried again, for up to openLockedFor.
func openSQLite(ctx context.Context, path string) (*DB, error) {
	deadline := time.Now().Add(openLockedFor)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		d, err := openSQLiteOnce(path)
		if err == nil || !isSQLiteLocked(err) || time.Now().After(deadline) {
			return d, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open database %s: %w (%w)", path, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// openLockedFor bounds how long openSQLite tries again a database that is
// locked at open.
const openLockedFor = 30 * time.Second

// openSQLiteOnce is one attempt of openSQLite.
func openSQLiteOnce(path string) (*DB, error) {
	params := url.Values{}
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", "FULL")
	params.Set("_busy_timeout", "10000")
	params.Set("_foreign_keys", "1")
	params.Set("_cache_size", "-16000")
	base := "file:" + path + "?"
	writeParams := url.Values{}
	for k, v := range params {
		writeParams[k] = v
	}
	writeParams.Set("_txlock", "immediate")
	// Deleted content (an expunged body kept inline, the plaintext of one
	// sealed in place) is overwritten with zeros, not left in free space.
	writeParams.Set("_secure_delete", "on")
	writeDB, err := gorm.Open(sqlite.Open(base+writeParams.Encode()), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlW, err := writeDB.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The store's writer holds one connection for its lifetime (see
	// WriterConn); the second serves what runs before the writer starts
	// (migrations) and direct uses in tests. _txlock=immediate keeps the
	// two from deadlocking: the second waits for the write lock.
	sqlW.SetMaxOpenConns(2)
	sqlW.SetMaxIdleConns(2)
	sqlW.SetConnMaxLifetime(0)

	// The journal mode is a property of the file, set by the writer above;
	// readers open the file read-only so that no write can bypass the writer,
	// and map it (see readerConnector).
	params.Del("_journal_mode")
	params.Set("mode", "ro")
	readDB, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sql.OpenDB(newReaderConnector(base + params.Encode()))}), gormConfig())
	if err != nil {
		sqlW.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlR, err := readDB.DB()
	if err != nil {
		sqlW.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlR.SetMaxOpenConns(8)
	sqlR.SetMaxIdleConns(8)
	return &DB{Read: readDB, Write: writeDB, Dialect: Dialect{Engine: SQLite}, Path: path}, nil
}

// OpenSQLiteFile opens a SQLite file without gorm and outside a store (a
// backup snapshot, a restored data folder), read-only if readOnly, on one
// connection.
func OpenSQLiteFile(path string, readOnly bool) (*sql.DB, error) {
	params := url.Values{}
	params.Set("_busy_timeout", "10000")
	if readOnly {
		params.Set("mode", "ro")
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// readerMmapSize is how much of the database file each reader connection
// maps into memory (PRAGMA mmap_size): its pages are then read where the
// kernel's page cache holds them, without a pread(2) into the
// connection's own cache for each page that is not there yet (a FETCH of
// a large mailbox reads more small bodies than the cache holds).
const readerMmapSize = 1 << 30

// readerConnector opens the readers' connections: as the "sqlite3"
// driver does, then with readerMmapSize set.
type readerConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newReaderConnector(dsn string) *readerConnector {
	return &readerConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if _, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size = %d", readerMmapSize), nil); err != nil {
			return fmt.Errorf("set mmap_size: %w", err)
		}
		return nil
	}}}
}

// Connect opens one connection.
func (r *readerConnector) Connect(context.Context) (driver.Conn, error) { return r.drv.Open(r.dsn) }

// Driver is the go-sqlite3 driver with the hook.
func (r *readerConnector) Driver() driver.Driver { return r.drv }
