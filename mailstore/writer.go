package mailstore

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// writeTx is what a write function gets: the transaction, and ways to queue
// events and actions that must only happen once the commit is durable.
type writeTx struct {
	*gorm.DB
	store       *Store
	origin      string
	events      []Event
	afterCommit []func()
}

func (t *writeTx) publish(ev Event) {
	ev.Origin = t.origin
	t.events = append(t.events, ev)
}

func (t *writeTx) onCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

type writeRequest struct {
	ctx  context.Context
	fn   func(tx *writeTx) error
	done chan error
}

// write runs fn in a database transaction on the single writer and returns
// once the transaction is durable (or failed). Concurrent writes are grouped
// into one transaction (group commit), each inside its own savepoint so that
// one failing write does not undo the others.
func (s *Store) write(ctx context.Context, fn func(tx *writeTx) error) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
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

func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*writeRequest, 0, s.maxBatch)
	for first := range s.writes {
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

type writeResult struct {
	err error
	tx  *writeTx
}

func (s *Store) commitBatch(batch []*writeRequest) {
	results := make([]writeResult, len(batch))
	tx := s.wdb.Begin()
	if tx.Error != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("begin transaction: %w", tx.Error)
		}
		return
	}
	useSavepoints := len(batch) > 1
	for i, r := range batch {
		wt := &writeTx{DB: tx.WithContext(context.WithoutCancel(r.ctx)), store: s, origin: originOf(r.ctx)}
		results[i].tx = wt
		if useSavepoints {
			if err := tx.SavePoint("w").Error; err != nil {
				results[i].err = fmt.Errorf("savepoint: %w", err)
				continue
			}
		}
		err := runWrite(r.fn, wt)
		if err == nil && useSavepoints {
			if relErr := tx.Exec("RELEASE SAVEPOINT w").Error; relErr != nil {
				err = fmt.Errorf("release savepoint: %w", relErr)
			}
		}
		if err != nil {
			results[i].err = err
			if useSavepoints {
				if rbErr := tx.RollbackTo("w").Error; rbErr != nil {
					// The transaction is in an unknown state: fail the batch.
					tx.Rollback()
					for _, r := range batch {
						r.done <- fmt.Errorf("roll back to savepoint: %w", rbErr)
					}
					return
				}
			}
		}
	}
	if !useSavepoints && results[0].err != nil {
		tx.Rollback()
		batch[0].done <- results[0].err
		return
	}
	if err := tx.Commit().Error; err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("commit: %w", err)
		}
		return
	}
	var events []Event
	for _, res := range results {
		if res.err == nil {
			events = append(events, res.tx.events...)
			for _, fn := range res.tx.afterCommit {
				fn()
			}
		}
	}
	if len(events) > 0 {
		s.notifier.Publish(events)
	}
	for i, r := range batch {
		r.done <- results[i].err
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
