package tokens_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// testStore is a mailstore with the tokens kept in its database, their
// revoker registered as the service layer registers it.
type testStore struct {
	*tokens.Store
	ms  *mailstore.Store
	log *audit.Log
}

func openTestStore(t *testing.T) *testStore {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetCredentialRevoker("api-tokens", func(tx *gorm.DB, o mailstore.SessionOwner, apiTokens bool) error {
		return tokens.RevokeTx(tx, o.Kind, o.ID, apiTokens)
	})
	return &testStore{Store: tokens.New(st, st, nil), ms: st, log: audit.NewLog(st)}
}

// newTestUser creates the mail account addr (and its domain).
func newTestUser(t *testing.T, s *testStore, addr string) *mailstore.User {
	t.Helper()
	ctx := context.Background()
	dom := addr[strings.IndexByte(addr, '@')+1:]
	if _, err := s.ms.CreateDomain(ctx, dom); err != nil && !errors.Is(err, core.ErrExists) {
		t.Fatal(err)
	}
	u, err := s.ms.CreateUser(ctx, mailstore.NewUser{Address: addr, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// auditCtx is a context whose changes the audit log records.
func auditCtx() context.Context {
	return audit.With(context.Background(), audit.Info{Actor: "root@example.com", Source: "api", RemoteIP: "192.0.2.7"})
}

// countAudit counts the audit entries f selects.
func countAudit(t *testing.T, s *testStore, f audit.Filter) int64 {
	t.Helper()
	n, err := s.log.Count(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
