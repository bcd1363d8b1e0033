package db

import (
	"context"
	"fmt"
	"net/url"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// openPostgres opens a PostgreSQL database: a pool for reads and the
// writer's pool. Several processes (nodes) may write at once; what must not
// race is guaranteed by the database (row locks taken by UPDATE …
// RETURNING and SELECT … FOR UPDATE, unique indexes, advisory locks for
// migrations).
func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	open := func(dsn string, conns int) (*gorm.DB, error) {
		g, err := gorm.Open(postgres.New(postgres.Config{DSN: dsn}), gormConfig())
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		sqlDB.SetMaxOpenConns(conns)
		sqlDB.SetMaxIdleConns(conns)
		if err := sqlDB.PingContext(ctx); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
		return g, nil
	}
	// As on SQLite, the writer holds one connection and the second serves
	// what runs before it starts.
	writeDB, err := open(dsn, 2)
	if err != nil {
		return nil, err
	}
	// As on SQLite too, the readers cannot write: nothing bypasses the
	// writer.
	readDSN, err := withParam(dsn, "default_transaction_read_only", "on")
	if err != nil {
		return nil, err
	}
	readDB, err := open(readDSN, 16)
	if err != nil {
		if sqlW, e := writeDB.DB(); e == nil {
			sqlW.Close()
		}
		return nil, err
	}
	return &DB{Read: readDB, Write: writeDB, Dialect: Dialect{Engine: Postgres}}, nil
}

// withParam returns the URL dsn with the query parameter name set to value
// (a run-time setting of the connections it opens).
func withParam(dsn, name, value string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// Not err itself: it quotes the URL, password and all.
		return "", fmt.Errorf("the database URL does not parse")
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
