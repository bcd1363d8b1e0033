package testdb

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^yt_[a-z0-9_]{0,30}_[0-9a-f]{16}$`)
	for _, name := range []string{"", "TestX", "TestStore/sub test#01", strings.Repeat("Ä", 80), "Test\x00'\"; DROP"} {
		got := databaseName(name)
		if !valid.MatchString(got) || len(got) > 63 {
			t.Errorf("databaseName(%q) = %q", name, got)
		}
	}
	if a, b := databaseName("T"), databaseName("T"); a == b {
		t.Error("two databases for one test got the same name")
	}
}

func TestSQLiteWithoutServer(t *testing.T) {
	t.Setenv(EnvServer, "")
	if got := DSN(t); got != "" {
		t.Fatalf("DSN without a server = %q, want \"\" (SQLite)", got)
	}
	if got := DSNIn(t, t.TempDir()); got != "" {
		t.Fatalf("DSNIn without a server = %q, want \"\"", got)
	}
	skipped := t.Run("postgres-only", func(t *testing.T) {
		Postgres(t)
		t.Error("Postgres did not skip without a server")
	})
	if !skipped {
		t.Fatal("the PostgreSQL-only subtest failed")
	}
}

// TestFreshDatabase checks, on the server of the run, that each DSN is a
// new empty database that the test can use and that is gone once the
// test ended.
func TestFreshDatabase(t *testing.T) {
	server := Server(t)
	if server == "" {
		t.Skipf("needs PostgreSQL: set %s", EnvServer)
	}
	ctx := context.Background()
	var name string
	dir := t.TempDir()
	t.Run("inner", func(t *testing.T) {
		dsn := Postgres(t)
		if other := DSN(t); other == dsn {
			t.Fatalf("two DSN calls gave one database %s", other)
		}
		if a, b := DSNIn(t, dir), DSNIn(t, dir); a != b || a == dsn {
			t.Fatalf("DSNIn gave %q then %q", a, b)
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		conn, err := openServer(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var current string
		if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != name {
			t.Fatalf("connected to %q, want %q", current, name)
		}
		var tables int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("fresh database has %d tables", tables)
		}
		// An open connection must not stop the drop at cleanup.
		if _, err := conn.ExecContext(ctx, "CREATE TABLE t (id bigint)"); err != nil {
			t.Fatal(err)
		}
	})
	admin, err := openServer(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Fatalf("database %q still exists after its test (%d)", name, n)
	}
}

// TestTemplateClone: a clone holds what the template held, is what DSNIn
// gives for its folder afterwards, and is dropped when its test ends.
func TestTemplateClone(t *testing.T) {
	server := Server(t)
	if server == "" {
		if NewTemplate(t) != "" || CloneIn(t, "", t.TempDir()) != "" {
			t.Fatal("a template or clone without a server")
		}
		t.Skipf("needs PostgreSQL: set %s", EnvServer)
	}
	ctx := context.Background()
	tmpl := NewTemplate(t)
	admin, err := openServer(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	t.Cleanup(func() {
		u, _ := url.Parse(tmpl)
		admin.ExecContext(ctx, `DROP DATABASE "`+strings.TrimPrefix(u.Path, "/")+`" WITH (FORCE)`)
	})
	conn, err := openServer(ctx, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE fixture (v text); INSERT INTO fixture VALUES ('seeded')"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	dir := t.TempDir()
	var clone string
	t.Run("inner", func(t *testing.T) {
		clone = CloneIn(t, tmpl, dir)
		if got := DSNIn(t, dir); got != clone {
			t.Fatalf("DSNIn after CloneIn = %q, want %q", got, clone)
		}
		c, err := openServer(ctx, clone)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var v string
		if err := c.QueryRowContext(ctx, "SELECT v FROM fixture").Scan(&v); err != nil || v != "seeded" {
			t.Fatalf("clone holds %q (%v)", v, err)
		}
	})
	u, _ := url.Parse(clone)
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", strings.TrimPrefix(u.Path, "/")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("clone still exists after its test: %d (%v)", n, err)
	}
}

// TestSchema: build runs once, and every database the schema gives holds
// what it made; on SQLite build never runs.
func TestSchema(t *testing.T) {
	builds := 0
	s := NewSchema(func(ctx context.Context, dsn string) error {
		builds++
		conn, err := openServer(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.ExecContext(ctx, "CREATE TABLE migrated (v int)")
		return err
	})
	if Server(t) == "" {
		if s.DSN(t) != "" || s.DSNIn(t, t.TempDir()) != "" || builds != 0 {
			t.Fatalf("on SQLite: a database, or %d builds", builds)
		}
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	dsns := []string{s.DSN(t), s.DSN(t), s.DSNIn(t, dir)}
	if again := s.DSNIn(t, dir); again != dsns[2] {
		t.Fatalf("DSNIn for one folder gave %q, then %q", dsns[2], again)
	}
	for _, dsn := range dsns {
		conn, err := openServer(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = conn.QueryRowContext(ctx, "SELECT count(*) FROM migrated").Scan(&n)
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
	}
	if builds != 1 || dsns[0] == dsns[1] {
		t.Fatalf("%d builds for %v", builds, dsns)
	}
	admin, err := openServer(ctx, Server(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	u, _ := url.Parse(s.dsn)
	admin.ExecContext(ctx, `DROP DATABASE "`+strings.TrimPrefix(u.Path, "/")+`" WITH (FORCE)`)
}
