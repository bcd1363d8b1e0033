package mailstore

import (
	"context"
	"strings"
	"testing"
)

// TestDeliveryStatements keeps the commit path of a delivery lean: once
// warm, the writer compiles no statement again (prepared statements
// survive transactions), and one delivery alone in its group commit runs
// at most 11 statements, BEGIN and COMMIT included (9, the INSERT of a
// body kept inline, and the body's cached header, see headercache.go).
// The mailbox's UID counter is an UPDATE and a SELECT, not one UPDATE …
// RETURNING, which costs SQLite a statement journal each time.
func TestDeliveryStatements(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "count@example.com")
	deliver := func() {
		t.Helper()
		res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader("Subject: x\r\n\r\nhi\r\n"), EnforceQuota: true})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	// counts reads the writer's counters on the writer (an empty write:
	// BEGIN and COMMIT of its own).
	counts := func() (statements, prepares int) {
		t.Helper()
		if err := s.write(ctx, func(*writeTx) error {
			statements, prepares = s.wconn.Counts()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return statements, prepares
	}
	deliver()
	st0, pr0 := counts()
	const n = 10
	for range n {
		deliver()
	}
	st1, pr1 := counts()
	perMessage := float64(st1-st0-2) / n // the second counts' BEGIN and COMMIT
	t.Logf("%.1f statements per delivery, %d compiled", perMessage, pr1-pr0)
	if pr1 != pr0 {
		t.Errorf("the writer compiled %d statements again for %d deliveries", pr1-pr0, n)
	}
	if perMessage > 11 {
		t.Errorf("%.1f statements per delivery, want at most 11", perMessage)
	}
}
