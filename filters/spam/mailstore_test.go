package spam

import (
	"context"
	"testing"

	"github.com/yubinmail/yubin/filters/spam/bayesdb"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

var (
	_ TokenStore     = (*bayesdb.Store)(nil)
	_ MessageTrainer = (*bayesdb.Store)(nil)
)

// dbTokens returns the database-backed token store, in a mailstore in a
// fresh folder closed when the test ends.
func dbTokens(tb testing.TB) *bayesdb.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := mailstore.Open(ctx, mailstore.Options{Dir: tb.TempDir(), Database: mailstoretest.DSN(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	bs, err := bayesdb.Open(ctx, s)
	if err != nil {
		tb.Fatal(err)
	}
	return bs
}

// TestClassifierOnMailstore runs the classifier test on the database-backed
// token store.
func TestClassifierOnMailstore(t *testing.T) {
	testClassifier(t, dbTokens(t))
}
