// Package mailstoretest gives tests outside mailstore the database of a
// store on the test run's engine (package testdb): "" for SQLite in the
// store's folder, or on PostgreSQL a fresh database copied from one that a
// store migrated once per test process (faster than migrating each
// test's). It is for tests only.
package mailstoretest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
)

// schema is the migrated template of this test process.
var schema = testdb.NewSchema(migrate) //nolint:gochecknoglobals // a test fixture, built once per process

// migrate opens a store on the template database dsn (its tables made)
// and closes it.
func migrate(ctx context.Context, dsn string) error {
	dir, err := os.MkdirTemp("", "yubin-schema-*")
	if err != nil {
		return fmt.Errorf("migrate the template store: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: dsn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("migrate the template store: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("migrate the template store: %w", err)
	}
	return nil
}

// DSN returns the database for a store of this test (see testdb.DSN),
// its tables already made on PostgreSQL.
func DSN(t testing.TB) string {
	t.Helper()
	return schema.DSN(t)
}

// DSNIn returns the database for the store in data folder dir, the same
// for every call with dir (see testdb.DSNIn), its tables already made on
// PostgreSQL.
func DSNIn(t testing.TB, dir string) string {
	t.Helper()
	return schema.DSNIn(t, dir)
}
