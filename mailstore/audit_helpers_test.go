package mailstore

import (
	"context"
	"testing"

	"github.com/yubinmail/yubin/internal/audit"
)

// auditCtx is a context whose changes the audit log records.
func auditCtx() context.Context {
	return audit.With(context.Background(), audit.Info{Actor: "root@example.com", Source: "api", RemoteIP: "192.0.2.7"})
}

// countAudit counts the audit entries of s that f selects.
func countAudit(t *testing.T, s *Store, f audit.Filter) int64 {
	t.Helper()
	n, err := audit.NewLog(s).Count(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
