// Package testdb gives each test its own database on the engine the test
// run is for: SQLite in the test's data folder by default, or a fresh
// PostgreSQL database when YUBIN_TEST_DATABASE holds a server URL
// ("postgres://user:password@127.0.0.1:port/postgres"; .ci/postgres.sh
// starts such a server and .ci/test sets the variable for its second pass).
//
// A test passes the DSN it gets to mailstore.Options.Database (or to
// `yubin serve` as YUBIN_DATABASE); "" means SQLite.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": internal/db's own tests use testdb, so testdb cannot use it
)

// EnvServer names the environment variable holding the PostgreSQL server
// the tests use; empty or unset means SQLite.
const EnvServer = "YUBIN_TEST_DATABASE"

// dsnSuffix makes the name of the file, beside a data folder, in which
// DSNIn records the folder's database ("DIR.testdb-dsn": not in the
// folder, whose contents tests check).
const dsnSuffix = ".testdb-dsn"

// Server returns the PostgreSQL server URL of this test run, "" for
// SQLite. A value that is not a postgres:// or postgresql:// URL ends the
// test: a typo must not silently test SQLite instead.
func Server(t testing.TB) string {
	t.Helper()
	server := strings.TrimSpace(os.Getenv(EnvServer))
	if server == "" {
		return ""
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Fatalf("testdb: %s=%q is not a postgres://user:password@host:port/database URL", EnvServer, redact(server))
	}
	return server
}

// DSN returns the database for one store of this test: "" (SQLite in the
// store's data folder) unless YUBIN_TEST_DATABASE names a PostgreSQL
// server; then a new database with a random name is created on it for this
// call and dropped (with every connection to it) when the test ends, and
// DSN returns its URL. Each call gives another database: a test that
// reopens a store on the same data folder keeps the DSN (or uses DSNIn).
func DSN(t testing.TB) string {
	t.Helper()
	server := Server(t)
	if server == "" {
		return ""
	}
	return createDatabase(t, server, "", true)
}

// DSNIn is DSN for the store in data folder dir: the first call for dir
// creates the database and records it beside dir, later ones (a store
// reopened on the same folder, a server restarted on it) return the same.
func DSNIn(t testing.TB, dir string) string {
	t.Helper()
	if Server(t) == "" {
		return ""
	}
	if dsn := recorded(t, dir); dsn != "" {
		return dsn
	}
	dsn := DSN(t)
	record(t, dir, dsn)
	return dsn
}

// recorded returns the database recorded for data folder dir, "" if none.
func recorded(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(recordFile(dir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("testdb: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// record notes dsn as the database of data folder dir, for DSNIn.
func record(t testing.TB, dir, dsn string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(recordFile(dir)), 0o700); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if err := os.WriteFile(recordFile(dir), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatalf("testdb: %v", err)
	}
}

// recordFile is the file beside data folder dir that records its database.
func recordFile(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return filepath.Clean(abs) + dsnSuffix
}

// NewTemplate returns a database for a fixture that a test process builds
// once and copies for each test with CloneIn ("" on SQLite, where the
// fixture's folder is copied instead). It is not dropped when tb ends:
// tests after it copy it; it goes with the throwaway server. Close every
// connection to it before the first copy.
func NewTemplate(tb testing.TB) string {
	tb.Helper()
	server := Server(tb)
	if server == "" {
		return ""
	}
	return createDatabase(tb, server, "", false)
}

// CloneIn returns a new database copied from template (from NewTemplate)
// for the store in data folder dir, recorded as DSNIn does, and
// dropped when tb ends; "" when template is "" (SQLite).
func CloneIn(tb testing.TB, template, dir string) string {
	tb.Helper()
	if template == "" {
		return ""
	}
	u, err := url.Parse(template)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	dsn := createDatabase(tb, Server(tb), strings.TrimPrefix(u.Path, "/"), true)
	record(tb, dir, dsn)
	return dsn
}

// Schema is a database that build fills once per test process (a store's
// migrated tables, say) and that every test asking for one gets a copy of:
// copying a template database is faster than migrating each test's. On
// SQLite it does nothing: build never runs and the methods return "".
type Schema struct {
	build func(ctx context.Context, dsn string) error
	once  sync.Once
	dsn   string
	err   error
}

// NewSchema returns a Schema that build fills: it gets the template's DSN
// and must close every connection to it before returning.
func NewSchema(build func(ctx context.Context, dsn string) error) *Schema {
	return &Schema{build: build}
}

// template returns the filled template database, building it first.
func (s *Schema) template(t testing.TB) string {
	t.Helper()
	s.once.Do(func() {
		s.err = errors.New("building it failed in an earlier test")
		dsn := NewTemplate(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := s.build(ctx, dsn); err != nil {
			s.err = err
			return
		}
		s.dsn, s.err = dsn, nil
	})
	if s.err != nil {
		t.Fatalf("testdb: template database: %v", s.err)
	}
	return s.dsn
}

// DSN is DSN with the database a copy of the schema's.
func (s *Schema) DSN(t testing.TB) string {
	t.Helper()
	server := Server(t)
	if server == "" {
		return ""
	}
	u, err := url.Parse(s.template(t))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return createDatabase(t, server, strings.TrimPrefix(u.Path, "/"), true)
}

// DSNIn is DSNIn with the database a copy of the schema's: the first call
// for dir makes the copy, later ones return it.
func (s *Schema) DSNIn(t testing.TB, dir string) string {
	t.Helper()
	if Server(t) == "" {
		return ""
	}
	if dsn := recorded(t, dir); dsn != "" {
		return dsn
	}
	return CloneIn(t, s.template(t), dir)
}

// Postgres is DSN for tests that only make sense on PostgreSQL (several
// nodes on one database, row locks): without a server it skips the test
// and says why.
func Postgres(t testing.TB) string {
	t.Helper()
	if Server(t) == "" {
		t.Skipf("needs PostgreSQL: set %s to a server URL (.ci/test runs this package again on one it starts with .ci/postgres.sh)", EnvServer)
	}
	return DSN(t)
}

// createDatabase makes a new database on server, a copy of template if
// that is not "", and returns its URL; with drop, the database is dropped
// (with every connection to it) when t ends.
func createDatabase(t testing.TB, server, template string, drop bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := databaseName(t.Name())
	admin, err := openServer(ctx, server)
	if err != nil {
		t.Fatalf("testdb: %s: %v", redact(server), err)
	}
	defer admin.Close()
	// Names are made of [a-z0-9_] only (databaseName): quoting is enough.
	stmt := `CREATE DATABASE "` + name + `"`
	if template != "" {
		if !validName(template) {
			t.Fatalf("testdb: template %q is not a database testdb made", template)
		}
		stmt += ` TEMPLATE "` + template + `"`
	}
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("testdb: create database %s on %s: %v", name, redact(server), err)
	}
	if drop {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			admin, err := openServer(ctx, server)
			if err != nil {
				t.Errorf("testdb: drop database %s: %v", name, err)
				return
			}
			defer admin.Close()
			if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
				t.Errorf("testdb: drop database %s: %v", name, err)
			}
		})
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// openServer opens a database/sql pool on the PostgreSQL server dsn names,
// for statements about databases (CREATE and DROP DATABASE run outside
// transactions and cannot be prepared, as gorm would).
func openServer(ctx context.Context, dsn string) (*sql.DB, error) {
	s, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database server: %w", err)
	}
	if err := s.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database server: %w", err)
	}
	return s, nil
}

// validName reports whether name could come from databaseName.
func validName(name string) bool {
	if !strings.HasPrefix(name, "yt_") || len(name) > 63 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// databaseName is a new database name for the test named test: "yt_", up
// to 30 characters of the test's name folded to [a-z0-9_], and 16 random
// hex digits (PostgreSQL's limit is 63 bytes).
func databaseName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 30 {
			break
		}
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("yt_%s_%s", b.String(), hex.EncodeToString(rnd[:]))
}

// redact hides the password of a server URL for messages.
func redact(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
