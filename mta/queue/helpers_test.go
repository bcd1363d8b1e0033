package queue

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// testQueue is a queue over a mailstore in a test's data folder.
type testQueue struct {
	*Queue
	store *mailstore.Store
}

// Close closes the mailstore under the queue.
func (q *testQueue) Close() error { return q.store.Close() }

// openQueueAt opens the mailstore in dir (its database the test run's
// engine, the same for every open of dir) and the queue in it; the caller
// closes it.
func openQueueAt(t *testing.T, dir string) *testQueue {
	t.Helper()
	return openQueueOn(t, dir, mailstoretest.DSNIn(t, dir))
}

// openQueueOn opens the mailstore in dir on database dsn ("" for SQLite in
// dir) and the queue in it; the caller closes it.
func openQueueOn(t *testing.T, dir, dsn string) *testQueue {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: dsn})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(ctx, st, st, nil)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return &testQueue{Queue: q, store: st}
}

// openTestStore opens a queue in a fresh folder, closed when the test ends.
func openTestStore(t *testing.T) *testQueue {
	t.Helper()
	q := openQueueAt(t, t.TempDir())
	t.Cleanup(func() { q.Close() })
	return q
}

// blobExists reports whether the body stored under key exists.
func blobExists(t *testing.T, q *testQueue, key string) bool {
	t.Helper()
	b, err := q.store.OpenBody(context.Background(), key)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		t.Fatal(err)
	}
	b.Close()
	return true
}
