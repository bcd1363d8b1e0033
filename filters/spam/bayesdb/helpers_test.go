package bayesdb

import (
	"context"
	"log/slog"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
)

// openTestStore opens the token counts in a mailstore in a fresh folder,
// closed when the test ends.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: testdb.DSN(t), Logger: slog.New(slog.DiscardHandler)})
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
