package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/testdb"
)

func TestRebind(t *testing.T) {
	for _, tt := range []struct {
		engine, in, want string
	}{
		{SQLite, "SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"},
		{Postgres, "SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{Postgres, "SELECT 1", "SELECT 1"},
		{Postgres, "?", "$1"},
	} {
		if got := (Dialect{Engine: tt.engine}).Rebind(tt.in); got != tt.want {
			t.Errorf("%s Rebind(%q) = %q, want %q", tt.engine, tt.in, got, tt.want)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	for _, tt := range []struct{ dsn, want string }{
		{"", filepath.Join("/data", FileName)},
		{"/elsewhere/x.db", "/elsewhere/x.db"},
		{"sqlite:/elsewhere/x.db", "/elsewhere/x.db"},
		{"postgres://u:p@127.0.0.1:5432/yubin", ""},
		{"postgresql://u@db/yubin", ""},
	} {
		if got := SQLitePath(tt.dsn, "/data"); got != tt.want {
			t.Errorf("SQLitePath(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

// row is a table of the tests.
type row struct {
	ID      int64  `gorm:"primaryKey"`
	Name    string `gorm:"uniqueIndex"`
	BlobKey string
}

// openTest opens the test run's engine (SQLite in a folder of the test, or
// a fresh PostgreSQL database) with the table of row.
func openTest(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, testdb.DSN(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Write.AutoMigrate(&row{}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDialect runs what the dialect says on the engine of the test run.
func TestDialect(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	tables, err := d.Dialect.TablesWithColumn(d.Read, "blob_key")
	if err != nil || len(tables) != 1 || tables[0] != "rows" {
		t.Errorf("tables with blob_key: %v (%v), want [rows]", tables, err)
	}
	if ok, err := d.Dialect.HasTable(d.Read, "rows"); err != nil || !ok {
		t.Errorf("HasTable(rows) = %v, %v", ok, err)
	}
	if ok, err := d.Dialect.HasTable(d.Read, "nothing"); err != nil || ok {
		t.Errorf("HasTable(nothing) = %v, %v", ok, err)
	}
	if err := d.Write.Create(&row{Name: "a"}).Error; err != nil {
		t.Fatal(err)
	}
	err = d.Write.Create(&row{Name: "a"}).Error
	if !d.Dialect.IsUniqueViolation(err) {
		t.Errorf("a second row named a: %v, not a unique violation", err)
	}
	if d.Dialect.IsUniqueViolation(errors.New("other")) || d.Dialect.IsBusy(errors.New("other")) {
		t.Error("any error taken for a unique violation or a busy database")
	}
	if err := d.Read.Create(&row{Name: "b"}).Error; err == nil {
		t.Error("the read handle wrote")
	}
	if err := d.Dialect.IntegrityCheck(ctx, d.Read); err != nil {
		t.Error(err)
	}
	if err := d.Dialect.Checkpoint(ctx, d.Write); err != nil {
		t.Error(err)
	}
}

// openWriter takes d's writer connection and a gorm handle on it, as the
// store's writer does.
func openWriter(t *testing.T, d *DB) (*WriterConn, *gorm.DB) {
	t.Helper()
	wc, err := NewWriterConn(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wc.Close() })
	base := d.Write.Session(&gorm.Session{NewDB: true, Context: context.Background()})
	base.Statement.ConnPool = wc
	return wc, base
}

// TestWriterConn runs transactions on the writer's held connection, with
// statements prepared once, and nested ones as savepoints.
func TestWriterConn(t *testing.T) {
	d := openTest(t)
	wc, base := openWriter(t, d)
	for i, name := range []string{"x", "y", "z"} {
		tx := base.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		if err := tx.Create(&row{Name: name}).Error; err != nil {
			t.Fatal(err)
		}
		// A nested transaction that fails leaves the outer one usable.
		_ = tx.Transaction(func(inner *gorm.DB) error {
			if err := inner.Create(&row{Name: name}).Error; err == nil {
				t.Errorf("round %d: a duplicate name went in", i)
			}
			return errors.New("undo")
		})
		if err := tx.Model(&row{}).Where("name = ?", name).Update("blob_key", "k").Error; err != nil {
			t.Fatalf("round %d: after the failed savepoint: %v", i, err)
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	if err := d.Read.Model(&row{}).Where("blob_key = ?", "k").Count(&n).Error; err != nil || n != 3 {
		t.Errorf("%d rows committed (%v), want 3", n, err)
	}
	st, pr := wc.Counts()
	if pr >= st {
		t.Errorf("%d statements prepared for %d run: prepared statements are not reused", pr, st)
	}
}

// TestLockTx: transactions holding the migration lock run one at a time
// (on SQLite the write lock does it).
func TestLockTx(t *testing.T) {
	d := openTest(t)
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			err := d.Write.Transaction(func(tx *gorm.DB) error {
				if err := d.Dialect.LockTx(tx, "test"); err != nil {
					return err
				}
				mu.Lock()
				inside++
				most = max(most, inside)
				mu.Unlock()
				var n int64
				err := tx.Model(&row{}).Count(&n).Error
				mu.Lock()
				inside--
				mu.Unlock()
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d transactions held the lock at once", most)
	}
}

// TestWriterConnReconnects: when PostgreSQL closes the writer's held
// connection (a restart, a fail-over), the next transaction takes another.
func TestWriterConnReconnects(t *testing.T) {
	testdb.Postgres(t)
	ctx := context.Background()
	d := openTest(t)
	wc, base := openWriter(t, d)
	write := func(name string) error {
		tx := base.Begin()
		if tx.Error != nil {
			return tx.Error
		}
		if err := tx.Create(&row{Name: name}).Error; err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit().Error
	}
	if err := write("before"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := wc.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// As the server does at a restart (the read pool is read-only, but
	// may signal).
	var ok bool
	if err := d.Read.Raw("SELECT pg_terminate_backend(?)", pid).Row().Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the writer's backend %d: %v %v", pid, ok, err)
	}
	if err := write("after"); err != nil {
		t.Fatalf("the write after the connection was closed: %v", err)
	}
}

// TestSQLiteReadersMapTheFile: every reader connection of SQLite has
// mmap_size set (readerConnector), and still refuses writes.
func TestSQLiteReadersMapTheFile(t *testing.T) {
	d := openTest(t)
	if d.Dialect.Engine != SQLite {
		t.Skip("SQLite only")
	}
	sqlR, err := d.Read.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Two connections at once: neither is the other reused.
	var conns []*sql.Conn
	for range 2 {
		c, err := sqlR.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		var size int64
		if err := c.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != readerMmapSize {
			t.Errorf("reader connection %d: mmap_size %d, want %d", i, size, readerMmapSize)
		}
		if _, err := c.ExecContext(ctx, "INSERT INTO rows (name) VALUES ('w')"); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("reader connection %d: a write gave %v, want a read-only database's error", i, err)
		}
	}
}
