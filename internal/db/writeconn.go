package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// maxWriterStmts bounds the writer's prepared statements: queries whose
// text varies (IN lists of any length) would otherwise grow it forever;
// past the bound a query runs unprepared.
const maxWriterStmts = 512

// WriterConn is the group-commit writer's one database connection, held for the
// writer's lifetime, with the prepared statements of its queries.
//
// It exists because prepared statements do not survive transactions in
// database/sql and gorm: gorm's PrepareStmt prepares a statement first used
// in a transaction on that transaction, and database/sql then prepares it
// again in every later transaction (Tx.StmtContext on a statement bound to
// another transaction), so every statement of every group commit was
// compiled anew by SQLite. Here the transaction is the connection's own
// BEGIN … COMMIT, and a statement prepared once on the
// connection is run as often as it comes.
//
// Only the writer goroutine uses it (and so, once the writer runs, the
// writer connection): no locking.
type WriterConn struct {
	pool    *sql.DB
	conn    *sql.Conn
	dialect Dialect
	stmts   map[string]*sql.Stmt
	// statements and prepares count the statements run and compiled (for
	// the tests that keep the commit path lean).
	statements, prepares int
	// checkpoints, on SQLite, moves what the write-ahead log holds into
	// the database file off the commit path (see checkpointer).
	checkpoints *checkpointer
}

// checkpointEvery is how often, at most, the write-ahead log is
// checkpointed while commits come in.
const checkpointEvery = 200 * time.Millisecond

// checkpointer checkpoints a SQLite database's write-ahead log in a
// goroutine of its own, on a connection of its own, after commits. SQLite
// would otherwise checkpoint in the COMMIT that takes the log past 1,000
// pages: that commit (and every message waiting on it) would wait for the
// copy of the pages into the database file and its fsync. A PASSIVE
// checkpoint runs beside the writer: it takes no write lock. A commit's
// durability is the log's fsync either way.
type checkpointer struct {
	pool *sql.DB
	poke chan struct{} // a commit happened (buffered, 1)
	stop chan struct{}
	done chan struct{}
}

// newCheckpointer turns the automatic checkpoints of conn off and starts
// the goroutine that does them instead, on a connection of pool.
func newCheckpointer(ctx context.Context, pool *sql.DB, conn *sql.Conn) (*checkpointer, error) {
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	cp := &checkpointer{pool: pool, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go cp.run()
	return cp, nil
}

// committed tells the checkpointer that a statement ran on the writer's
// connection (a transaction may have been committed).
func (cp *checkpointer) committed() {
	select {
	case cp.poke <- struct{}{}:
	default:
	}
}

func (cp *checkpointer) run() {
	defer close(cp.done)
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-cp.poke:
		case <-cp.stop:
			return
		}
		// An error (SQLITE_BUSY from another checkpoint, say) is left
		// for the next commit's checkpoint to get past: the log only
		// grows meanwhile, and the commits stay durable.
		_, _ = cp.pool.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		wait.Reset(checkpointEvery)
		select {
		case <-wait.C:
		case <-cp.stop:
			return
		}
	}
}

// close stops the goroutine and waits for it.
func (cp *checkpointer) close() {
	close(cp.stop)
	<-cp.done
}

// NewWriterConn takes a connection of d's writer pool for the writer's
// lifetime.
func NewWriterConn(ctx context.Context, d *DB) (*WriterConn, error) {
	sqlW, err := d.Write.DB()
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	conn, err := sqlW.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	c := &WriterConn{pool: sqlW, conn: conn, dialect: d.Dialect, stmts: map[string]*sql.Stmt{}}
	if !d.Dialect.IsPostgres() {
		if c.checkpoints, err = newCheckpointer(ctx, sqlW, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

// reconnect gives the connection back and takes another (the server
// closed the old one: a PostgreSQL restart, a fail-over); the statements
// are prepared again as they come.
func (c *WriterConn) reconnect(ctx context.Context) error {
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
	c.conn.Close() // a broken connection is dropped by the pool
	conn, err := c.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	c.conn = conn
	return nil
}

// Counts returns how many statements the connection ran and how many it
// compiled (prepared) since it was taken.
func (c *WriterConn) Counts() (statements, prepares int) { return c.statements, c.prepares }

// Close closes the statements and gives the connection back.
func (c *WriterConn) Close() error {
	if c.checkpoints != nil {
		c.checkpoints.close()
		c.checkpoints = nil
	}
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
	return c.conn.Close()
}

// stmt returns the prepared statement of query, preparing it the first
// time; nil when the cache is full (the query then runs unprepared).
func (c *WriterConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.statements++
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	c.prepares++
	if len(c.stmts) >= maxWriterStmts {
		return nil, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// BeginTx starts a write transaction (gorm.ConnPoolBeginner), taking the
// write lock at once on SQLite (see Dialect.BeginWrite).
//
// On PostgreSQL the server may have closed the held connection (a
// restart, a fail-over, an idle timeout): when BEGIN fails and the
// connection does not answer a ping, another one is taken and BEGIN tried
// on it. (A SQLite connection is a file handle: its BEGIN fails only for
// a lock.)
func (c *WriterConn) BeginTx(ctx context.Context, _ *sql.TxOptions) (gorm.ConnPool, error) {
	_, err := c.ExecContext(ctx, c.dialect.BeginWrite())
	if err != nil && c.dialect.IsPostgres() && c.conn.PingContext(ctx) != nil {
		if rerr := c.reconnect(ctx); rerr != nil {
			return nil, fmt.Errorf("begin transaction: %w (%w)", err, rerr)
		}
		_, err = c.ExecContext(ctx, c.dialect.BeginWrite())
	}
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &WriterTx{c: c}, nil
}

// PrepareContext, ExecContext, QueryContext and QueryRowContext make
// WriterConn a gorm.ConnPool.
func (c *WriterConn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}

func (c *WriterConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.checkpoints != nil {
		// After the statement: a COMMIT, or a write outside a
		// transaction, has new pages for the checkpoint.
		defer c.checkpoints.committed()
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (c *WriterConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (c *WriterConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		// Unprepared: also how a preparation error reaches the caller.
		return c.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// WriterTx is an open transaction on the writer connection: a gorm.ConnPool
// and gorm.TxCommitter (so that gorm nests transactions as savepoints).
type WriterTx struct {
	c *WriterConn
}

func (t *WriterTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.c.PrepareContext(ctx, query)
}

func (t *WriterTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.c.ExecContext(ctx, query, args...)
}

func (t *WriterTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.c.QueryContext(ctx, query, args...)
}

func (t *WriterTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.c.QueryRowContext(ctx, query, args...)
}

// Commit ends the transaction; it is durable when this returns (on SQLite
// with synchronous=FULL).
func (t *WriterTx) Commit() error {
	_, err := t.c.ExecContext(context.Background(), "COMMIT")
	return err
}

// Rollback undoes the transaction. SQLite may have rolled it back itself
// after some errors; that is no error here.
func (t *WriterTx) Rollback() error {
	_, err := t.c.ExecContext(context.Background(), "ROLLBACK")
	if err != nil && !t.c.dialect.IsNoTransaction(err) {
		return err
	}
	return nil
}
