package db

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// OpenServer opens a plain database/sql pool on the PostgreSQL server dsn
// names, for statements about databases rather than in one (CREATE and
// DROP DATABASE, which run outside transactions and cannot be prepared):
// the tests' fresh databases (package testdb). It fails for a dsn that is
// not postgres://.
func OpenServer(ctx context.Context, dsn string) (*sql.DB, error) {
	if !IsPostgres(dsn) {
		return nil, fmt.Errorf("open database server: not a postgres:// URL")
	}
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
