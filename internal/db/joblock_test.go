package db

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
)

// TestTryJobLock opens one database twice, as two nodes do (the test
// run's PostgreSQL, or one SQLite file): while one holds a job's lock, the
// other, and a second try of the holder itself, do not get it; other jobs
// are free; once given back, the lock goes to the next to ask.
func TestTryJobLock(t *testing.T) {
	ctx := context.Background()
	shared := t.TempDir()
	dsn := testdb.DSN(t)
	if dsn == "" {
		dsn = filepath.Join(shared, FileName)
	}
	open := func() *DB {
		d, err := Open(ctx, dsn, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	a, b := open(), open()
	try := func(d *DB, job string, want bool) func() {
		t.Helper()
		unlock, ok, err := d.TryJobLock(ctx, job)
		if err != nil || ok != want {
			t.Fatalf("TryJobLock(%s) = %v, %v; want %v", job, ok, err, want)
		}
		return unlock
	}
	unlockA := try(a, "sweep", true)
	try(b, "sweep", false)
	try(a, "sweep", false)
	try(b, "seal", true)() // another job is free, and given back at once
	try(a, "seal", true)()
	unlockA()
	unlockB := try(b, "sweep", true)
	try(a, "sweep", false)
	unlockB()
	try(a, "sweep", true)()
}
