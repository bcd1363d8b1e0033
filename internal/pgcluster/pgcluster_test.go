package pgcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartDurable starts a cluster with production durability, makes a
// database and asks the server over its TCP port on 127.0.0.1 (psql, as
// the superuser with the DSN's password) what it runs with.
func TestStartDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server: skipped with -short")
	}
	if _, err := FindBin(); errors.Is(err, ErrNoBinaries) {
		t.Skipf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	parent, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil { // the cluster's owner enters it when this is root
		t.Fatal(err)
	}
	c, err := Start(ctx, filepath.Join(parent, "pg"), Options{Durable: true, Settings: []string{"shared_buffers = 32MB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
			t.Errorf("the cluster's folder is still there: %v", err)
		}
	}()
	if c.PID() <= 0 {
		t.Errorf("no postmaster pid")
	}
	if !strings.HasPrefix(c.Version, "postgres (PostgreSQL)") {
		t.Errorf("version %q", c.Version)
	}
	dsn, err := c.CreateDatabase(ctx, "bench_1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dsn, "postgres://yubin:") || !strings.Contains(dsn, "@127.0.0.1:"+strconv.Itoa(c.Port)+"/bench_1?") {
		t.Errorf("DSN %q", dsn)
	}
	if _, err := c.CreateDatabase(ctx, "bad-name"); err == nil {
		t.Errorf("a database name with a dash was taken")
	}
	// Over TCP with the password (scram-sha-256), not the trusted socket.
	cmd := c.command(ctx, "psql", "-X", "-A", "-t", "-d", dsn, "-c",
		"SELECT current_setting('fsync')||' '||current_setting('synchronous_commit')||' '||current_setting('full_page_writes')||' '||current_setting('shared_buffers')")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "on on on 32MB" {
		t.Errorf("fsync, synchronous_commit, full_page_writes, shared_buffers = %q, want on on on 32MB", got)
	}
	wrong := strings.Replace(dsn, "yubin:", "yubin:x", 1)
	if out, err := c.command(ctx, "psql", "-X", "-A", "-t", "-d", wrong, "-c", "SELECT 1").CombinedOutput(); err == nil {
		t.Errorf("a wrong password was taken: %s", out)
	}
}
