package db

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWriterConnCheckpointsAside checks that on SQLite the writer's
// connection does not checkpoint in its commits (wal_autocheckpoint 0) and
// that what it commits still reaches the database file: the checkpointer
// does it beside the writer.
func TestWriterConnCheckpointsAside(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	if d.Dialect.IsPostgres() {
		t.Skip("PostgreSQL manages its own log")
	}
	wc, base := openWriter(t, d)
	fi, err := os.Stat(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	var auto int
	if err := wc.conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the writer's wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	pad := strings.Repeat("x", 8<<10) // pages that only a checkpoint puts in the file
	for i := range 50 {
		tx := base.Begin() // as the store's writer does: a transaction on wc
		if err := tx.Exec("INSERT INTO rows (name, blob_key) VALUES (?, ?)", fmt.Sprint("r", i), pad).Error; err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer runs after the commits, in its own time: wait for
	// the file to grow (a generous bound, for a loaded machine).
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		fi, err := os.Stat(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before+50*8<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file has %d bytes, %d before 50 commits of 8 KiB: no checkpoint", fi.Size(), before)
		}
	}
}
