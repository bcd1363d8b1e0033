package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/db/pgnotify"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/limits/limitsdb"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta"
)

// Several nodes on one PostgreSQL database (YUBIN_DATABASE) behave as one
// server: the mailstore's change events travel between them (pgnotify),
// and failed logins are counted in the database (limitsdb). On SQLite, one
// node alone, both stay in memory.

// nodeNotifier returns the change notifier of a node on dsn: pgnotify for
// PostgreSQL, nil (the store's in-process one) for SQLite; closeFn stops it
// after the store is closed.
func nodeNotifier(ctx context.Context, dsn string, log *slog.Logger) (n mailstore.Notifier, closeFn func(), err error) {
	if !db.IsPostgres(dsn) {
		return nil, func() {}, nil
	}
	pn, err := pgnotify.Open(ctx, dsn, pgnotify.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("change notification between nodes: %w", err)
	}
	log.Info("changes are announced to the other nodes on the database", "node", pn.Node())
	return pn, func() { pn.Close() }, nil
}

// nodeAuthLimiter returns the login throttle: on PostgreSQL it counts
// failures in the database, so that every node on it sees them.
func nodeAuthLimiter(ctx context.Context, dsn string, store *mailstore.Store, cfg limits.AuthLimiterConfig, log *slog.Logger) (*limits.AuthLimiter, error) {
	if db.IsPostgres(dsn) {
		fs, err := limitsdb.Open(ctx, store, 2*max(cfg.Window, limits.DefaultAuthWindow))
		if err != nil {
			return nil, err
		}
		cfg.Store, cfg.Logger = fs, log
	}
	return limits.NewAuthLimiter(cfg), nil
}

// nodeSendRate returns the users' sending rate counted in the database on
// PostgreSQL (one budget across the nodes), nil on SQLite (userSendRate
// makes the in-memory one).
func nodeSendRate(ctx context.Context, dsn string, store *mailstore.Store, log *slog.Logger) (*mta.SendRate, error) {
	if !db.IsPostgres(dsn) {
		return nil, nil
	}
	rates, err := limitsdb.OpenSendRates(ctx, store)
	if err != nil {
		return nil, err
	}
	return mta.NewSharedSendRate(0, rates, log), nil
}
