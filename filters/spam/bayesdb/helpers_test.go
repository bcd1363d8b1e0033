package bayesdb

import (
	"context"
	"log/slog"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// openTestStore opens the token counts in a mailstore in a fresh folder,
// closed when the test ends.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
