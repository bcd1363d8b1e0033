package mailstore

// Snapshots of a data folder's database for online backups: of a SQLite
// database (a PostgreSQL one is backed up with PostgreSQL's tools).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/yubinmail/yubin/internal/db"
)

// DatabaseFile is the name of the metadata database in a data folder.
const DatabaseFile = "yubin.db"

// BlobsDir is the folder of message bodies in a data folder.
const BlobsDir = "blobs"

// BlobPath returns the path of the body stored under key below the blob
// folder blobDir (the layout of FileBlobStore).
func BlobPath(blobDir, key string) (string, error) {
	return (&FileBlobStore{dir: blobDir}).path(key)
}

// SyncDir makes the entries of a folder durable (fsync of the folder).
func SyncDir(dir string) error { return syncDir(dir) }

// SnapshotDatabase writes a consistent copy of the database of the data
// folder dataDir to dest, which must not exist, and makes it durable. It
// runs VACUUM INTO on a read-only connection: one read transaction in WAL
// mode, which sees every transaction committed before it began and never
// blocks the server's writer, so mail keeps flowing while it runs.
func SnapshotDatabase(ctx context.Context, dataDir, dest string) error {
	src := filepath.Join(dataDir, DatabaseFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	db, err := openRaw(src, true)
	if err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("snapshot database %s into %s: %w", src, dest, err)
	}
	f, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshot database: sync %s: %w", dest, err)
	}
	return nil
}

// SnapshotContents is what a database snapshot references.
type SnapshotContents struct {
	// BlobKeys are the body files the snapshot references (messages,
	// queued and quarantined mail), sorted, each once. Bodies kept inline
	// in the database are not among them: the snapshot holds them.
	BlobKeys []string
	// InlineBodies counts the referenced bodies kept inline in the
	// snapshot itself.
	InlineBodies int
	// MissingInline lists referenced inline bodies the snapshot lacks (a
	// damaged database).
	MissingInline []string
	// Messages counts the messages in mailboxes.
	Messages int64
}

// ReadSnapshot checks the integrity of the database file at path (a
// snapshot, not in use by a server) and lists what it references.
func ReadSnapshot(ctx context.Context, path string) (SnapshotContents, error) {
	var c SnapshotContents
	db, err := openRaw(path, true)
	if err != nil {
		return c, fmt.Errorf("read snapshot: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return c, fmt.Errorf("read snapshot %s: integrity check: %w", path, err)
	}
	if check != "ok" {
		return c, fmt.Errorf("read snapshot %s: database is damaged: %s", path, check)
	}
	tables, err := queryStrings(ctx, db, blobTablesSQL)
	if err != nil {
		return c, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	for _, t := range tables {
		keys, err := queryStrings(ctx, db, `SELECT DISTINCT blob_key FROM "`+t+`" WHERE blob_key IS NOT NULL AND blob_key != ''`)
		if err != nil {
			return c, fmt.Errorf("read snapshot %s: %s: %w", path, t, err)
		}
		c.BlobKeys = append(c.BlobKeys, keys...)
	}
	slices.Sort(c.BlobKeys)
	c.BlobKeys = slices.Compact(c.BlobKeys)
	files := c.BlobKeys[:0]
	var inline []string
	for _, k := range c.BlobKeys {
		if IsInlineKey(k) {
			inline = append(inline, k)
		} else {
			files = append(files, k)
		}
	}
	c.BlobKeys = files
	if len(inline) > 0 {
		if c.MissingInline, err = missingInline(ctx, db, inline); err != nil {
			return c, fmt.Errorf("read snapshot %s: %w", path, err)
		}
		c.InlineBodies = len(inline) - len(c.MissingInline)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&c.Messages); err != nil {
		return c, fmt.Errorf("read snapshot %s: count messages: %w", path, err)
	}
	return c, nil
}

// queryStrings runs a query whose rows are one string each.
func queryStrings(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// missingInline returns the keys of inline bodies db lacks.
func missingInline(ctx context.Context, db *sql.DB, keys []string) ([]string, error) {
	st, err := db.PrepareContext(ctx, "SELECT count(*) FROM inline_bodies WHERE body_key = ?")
	if err != nil {
		return nil, fmt.Errorf("inline bodies: %w", err)
	}
	defer st.Close()
	var missing []string
	for _, k := range keys {
		var n int
		if err := st.QueryRowContext(ctx, k).Scan(&n); err != nil {
			return nil, fmt.Errorf("inline body %s: %w", k, err)
		}
		if n == 0 {
			missing = append(missing, k)
		}
	}
	return missing, nil
}

// openRaw opens a SQLite database file without gorm, read-only if
// readOnly.
func openRaw(path string, readOnly bool) (*sql.DB, error) {
	return db.OpenSQLiteFile(path, readOnly)
}

// blobTablesSQL lists the tables of a SQLite file with a blob_key column
// (see Store.blobTables).
const blobTablesSQL = `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
	WHERE m.type = 'table' AND p.name = 'blob_key' ORDER BY m.name`

// HoldRestoredQueue holds every message of the outbound queue in the
// database file at path, a data folder restored from a backup, and returns
// how many it held. The backup cannot know which of them the old server
// delivered after the snapshot: sending them again unasked would duplicate
// mail, so an admin releases them (the dashboard's queue page, or
// POST /api/v1/queue/{id}/release) once they know.
func HoldRestoredQueue(ctx context.Context, path string) (int64, error) {
	db, err := openRaw(path, false)
	if err != nil {
		return 0, fmt.Errorf("hold restored queue: %w", err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE outbound_messages SET held = 1 WHERE held = 0`)
	if err != nil {
		return 0, fmt.Errorf("hold restored queue in %s: %w", path, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("hold restored queue in %s: %w", path, err)
	}
	return n, nil
}
