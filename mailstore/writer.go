package mailstore

import (
	"slices"

	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/db"
)

// writeTx is what a write function gets: the transaction, and ways to queue
// events and actions that must only happen once the commit is durable.
type writeTx struct {
	*gorm.DB
	store       *Store
	origin      string
	events      []Event
	afterCommit []func()
	// quotaWarning is set while a quota warning is added: it is not
	// checked against the warning levels itself.
	quotaWarning bool
}

func (t *writeTx) publish(ev Event) {
	ev.Origin = t.origin
	t.events = append(t.events, ev)
}

func (t *writeTx) onCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

type writeRequest struct {
	ctx       context.Context
	syncBlobs bool // the write references bodies written with PutUnsynced
	fn        func(tx *writeTx) error
	done      chan error
}

// write runs fn in a database transaction on the single writer and returns
// once the transaction is durable (or failed). Concurrent writes are grouped
// into one transaction (group commit); if one of them fails, the batch is
// rolled back and each write retried alone, so fn may run more than once and
// must start from scratch each time (no state carried over from a failed run).
func (s *Store) write(ctx context.Context, fn func(tx *writeTx) error) error {
	return s.enqueue(&writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// writeWithBlobs is write for a change that references bodies stored with
// the blob store's PutUnsynced: the writer flushes them (once for the whole
// batch) before committing.
func (s *Store) writeWithBlobs(ctx context.Context, fn func(tx *writeTx) error) error {
	return s.enqueue(&writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1), syncBlobs: true})
}

func (s *Store) enqueue(req *writeRequest) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.writes <- req
	s.closeMu.RUnlock()
	// Once queued the write runs to completion even if ctx ends: its caller
	// may have written a blob that the write references.
	return <-req.done
}

// startWriterConn takes the writer connection for the writer's lifetime:
// from here on, every write goes through the writer.
func (s *Store) startWriterConn(ctx context.Context) error {
	var err error
	s.wconn, err = db.NewWriterConn(ctx, s.dbh)
	if err != nil {
		return err
	}
	s.wbase = s.wdb.Session(&gorm.Session{NewDB: true, Context: context.Background()})
	s.wbase.Statement.ConnPool = s.wconn
	return nil
}

func (s *Store) writer() {
	defer close(s.done)
	defer func() {
		if err := s.wconn.Close(); err != nil {
			s.log.Warn("close the writer connection", "err", err)
		}
	}()
	batch := make([]*writeRequest, 0, s.maxBatch)
	for {
		var first *writeRequest
		select {
		case r, ok := <-s.writes:
			if !ok {
				return
			}
			first = r
		case <-s.inline.kick:
			// Inline bodies deleted while no write came: commit the
			// deletions alone.
			if s.inline.hasDeletes() {
				s.commitBatch(nil)
			}
			continue
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

// busyRetries bounds how often a write that lost to another node's
// transaction is tried again.
const busyRetries = 5

func (s *Store) commitBatch(batch []*writeRequest) {
	if slices.ContainsFunc(batch, func(r *writeRequest) bool { return r.syncBlobs }) {
		if err := s.syncer.Sync(context.Background()); err != nil {
			for _, r := range batch {
				r.done <- err
			}
			return
		}
	}
	// The inline bodies written (and deleted) so far go into this commit:
	// those of the batch's writes among them.
	ops := s.inline.takeOps()
	results, err := s.runBatch(batch, ops)
	if err == nil {
		s.inline.committed(ops)
		s.finish(batch, results)
		return
	}
	if len(batch) == 1 && !(s.dialect.IsPostgres() && s.dialect.IsBusy(err)) {
		batch[0].done <- err
		return
	}
	// Something in the batch failed, and a failed write may have left its
	// changes half-done in the shared transaction: roll it all back and run
	// each write on its own, so that only the failing one fails.
	for _, r := range batch {
		one := []*writeRequest{r}
		res, err := s.runBatch(one, ops)
		// On PostgreSQL another node's transaction may have been chosen
		// over this one (a deadlock broken, a lock not granted): try again
		// a few times.
		for try := 0; err != nil && s.dialect.IsPostgres() && s.dialect.IsBusy(err) && try < busyRetries; try++ {
			res, err = s.runBatch(one, ops)
		}
		if err != nil {
			r.done <- err
			continue
		}
		s.inline.committed(ops)
		s.finish(one, res)
	}
}

// runBatch runs the writes in one transaction, with the inline bodies of
// ops written first, and commits it. Any error rolls the whole transaction
// back.
func (s *Store) runBatch(batch []*writeRequest, ops *inlineOps) ([]*writeTx, error) {
	tx := s.wbase.Begin()
	if tx.Error != nil {
		return nil, fmt.Errorf("begin transaction: %w", tx.Error)
	}
	if err := ops.apply(&writeTx{DB: tx, store: s}); err != nil {
		tx.Rollback()
		return nil, err
	}
	txs := make([]*writeTx, len(batch))
	for i, r := range batch {
		wt := &writeTx{DB: tx.WithContext(context.WithoutCancel(r.ctx)), store: s, origin: originOf(r.ctx)}
		txs[i] = wt
		if err := runWrite(r.fn, wt); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	if err := tx.Commit().Error; err != nil {
		// A failed COMMIT may leave the transaction open: end it.
		tx.Rollback()
		return nil, fmt.Errorf("commit: %w", err)
	}
	return txs, nil
}

// finish runs the post-commit actions, publishes the events in commit order
// and wakes the writers.
func (s *Store) finish(batch []*writeRequest, txs []*writeTx) {
	var events []Event
	for _, t := range txs {
		events = append(events, t.events...)
		for _, fn := range t.afterCommit {
			fn()
		}
	}
	if len(events) > 0 {
		s.notifier.Publish(events)
	}
	for _, r := range batch {
		r.done <- nil
	}
}

// runWrite calls fn, turning a panic into an error so that one bad write
// cannot stop the writer.
func runWrite(fn func(*writeTx) error, tx *writeTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return fn(tx)
}
