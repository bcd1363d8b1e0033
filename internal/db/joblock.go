package db

import (
	"context"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"path/filepath"
)

// LocksSuffix makes, from the SQLite database's path, that of the folder
// of the periodic jobs' lock files (see TryJobLock): nothing a backup
// keeps.
const LocksSuffix = "-locks"

// TryJobLock takes the lock of the periodic job named job (the orphan
// body sweep, the release of expunged bodies, ...) if no other process
// on the database holds it, for as long as the job runs: several nodes on
// one database then never run the job at once, and a node that does not
// get the lock skips its run (ok false). unlock gives the lock back.
//
// On PostgreSQL it is a session advisory lock (pg_try_advisory_lock) on a
// connection of the read pool that the job keeps until unlock; the server
// drops it if the node dies. On SQLite it is an flock(2) on the file job
// in a folder beside the database (its name plus LocksSuffix), which the
// kernel drops if the process dies; every process that opens the database
// (a node, the CLI) and every store in a process takes its own.
func (d *DB) TryJobLock(ctx context.Context, job string) (unlock func(), ok bool, err error) {
	if !d.Dialect.IsPostgres() {
		return tryFileLock(filepath.Join(d.Path+LocksSuffix, job))
	}
	sqlDB, err := d.Read.DB()
	if err != nil {
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	key := lockKey("job:" + job)
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil || !ok {
		conn.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock job %s: %w", job, err)
		}
		return nil, false, nil
	}
	return func() {
		// The lock belongs to the session: a connection that could not
		// give it back must not return to the pool still holding it.
		var unlocked bool
		if err := conn.QueryRowContext(context.Background(), "SELECT pg_advisory_unlock($1)", key).Scan(&unlocked); err != nil || !unlocked {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, true, nil
}

// lockKey is the advisory lock key of the lock named name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("yubin:" + name))
	return int64(h.Sum64())
}
