package db

import (
	"context"

	"gorm.io/gorm"
)

// Tables is what the store lends a package that owns tables in its
// database (the outbound queue, the spam filter's token counts, DKIM
// keys): the consumers declare their Database interface as Tables plus
// what else they need.
type Tables interface {
	// MigrateTables creates or updates the tables of models for owner,
	// under the migration lock and only when they changed.
	MigrateTables(ctx context.Context, owner string, models ...any) error
	// ReadDB returns a handle for reads.
	ReadDB(ctx context.Context) *gorm.DB
	// WriteTx runs fn in a write transaction and returns once it is
	// durable; fn may run more than once (group commit) and must start
	// from scratch each time; afterCommit queues an action for after the
	// commit. bodies says the transaction references bodies stored with
	// the store's PutBody, which must be durable first.
	WriteTx(ctx context.Context, bodies bool, fn func(tx *gorm.DB, afterCommit func(func())) error) error
	// Dialect says which engine the database is, for the SQL that
	// differs (FOR UPDATE SKIP LOCKED claims on PostgreSQL, say).
	Dialect() Dialect
}
