package mailstore

import (
	"context"
	"testing"
)

// TestOneRowQueriesReportEndedContexts: one-row queries whose statement
// cannot even be prepared (the caller's context has ended: a client gone,
// a deadline on a stalled database) return an error. gorm answers them
// with an empty *sql.Row whose Scan panicked, taking the whole server
// down from inside an SMTP session.
func TestOneRowQueriesReportEndedContexts(t *testing.T) {
	st := openTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.ActiveSieveScript(ctx, 1); err == nil {
		t.Error("ActiveSieveScript with an ended context: no error")
	}
	if _, _, err := st.StoreFlagsAs(ctx, 1, 1, UIDSet{{Start: 1, Stop: 1}}, FlagsAdd, []string{`\Seen`}, 0); err == nil {
		t.Error("StoreFlagsAs with an ended context: no error")
	}
}
