package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// testStore is a mailstore (the database the log lives in) and its log.
type testStore struct {
	*mailstore.Store
	log *audit.Log
}

func openTestStore(t *testing.T) *testStore {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testStore{Store: st, log: audit.NewLog(st)}
}

func (s *testStore) ListAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	return s.log.List(ctx, f)
}

func (s *testStore) CountAudit(ctx context.Context, f audit.Filter) (int64, error) {
	return s.log.Count(ctx, f)
}

func auditCtx() context.Context {
	return audit.With(context.Background(), audit.Info{Actor: "root@example.com", Source: "api", RemoteIP: "192.0.2.7"})
}

func countAudit(t *testing.T, s *testStore, f audit.Filter) int64 {
	t.Helper()
	n, err := s.CountAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuditCreateUser(t *testing.T) {
	s := openTestStore(t)
	ctx := auditCtx()
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, mailstore.NewUser{Address: "Ann@example.com", Password: "secret password", DisplayName: "Ann", QuotaBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	es, err := s.ListAudit(context.Background(), audit.Filter{Action: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("got %d user.create rows, want 1: %+v", len(es), es)
	}
	e := es[0]
	if e.Actor != "root@example.com" || e.Source != "api" || e.RemoteIP != "192.0.2.7" || e.Target != "ann@example.com" {
		t.Errorf("entry = %+v", e)
	}
	if time.Since(e.Time) > time.Minute || e.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("entry time %v", e.Time)
	}
	var details map[string]any
	if err := json.Unmarshal([]byte(e.Details), &details); err != nil {
		t.Fatalf("details %q: %v", e.Details, err)
	}
	if details["display_name"] != "Ann" || details["quota_bytes"] != float64(1000) {
		t.Errorf("details = %v", details)
	}
	if _, ok := details["password"]; ok {
		t.Errorf("details leak the password: %v", details)
	}

	tests := []struct {
		name string
		ctx  context.Context
		nu   mailstore.NewUser
		want error
	}{
		{"duplicate", ctx, mailstore.NewUser{Address: "ann@example.com", Password: "secret password"}, core.ErrExists},
		{"unknown domain", ctx, mailstore.NewUser{Address: "bob@example.org", Password: "secret password"}, core.ErrNotFound},
		{"short password", ctx, mailstore.NewUser{Address: "bob@example.com", Password: "x"}, core.ErrInvalid},
		{"no audit info", context.Background(), mailstore.NewUser{Address: "carl@example.com", Password: "secret password"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(tt.ctx, tt.nu)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := countAudit(t, s, audit.Filter{Action: "user.create"}); n != 1 {
				t.Fatalf("%d user.create rows, want 1", n)
			}
		})
	}
}

func TestAuditMutations(t *testing.T) {
	s := openTestStore(t)
	ctx := auditCtx()
	bg := context.Background()
	name := "Ann B."
	quota := int64(5)
	steps := []struct {
		name   string
		do     func() error
		action string
		target string
		detail string // a substring of Details
	}{
		{"create domain", func() error { _, err := s.CreateDomain(ctx, "example.com"); return err }, "domain.create", "example.com", ""},
		{"disable domain", func() error { _, err := s.SetDomainEnabled(ctx, "example.com", false); return err }, "domain.update", "example.com", `"enabled":false`},
		{"create user", func() error {
			_, err := s.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.com", Password: "secret password"})
			return err
		}, "user.create", "ann@example.com", ""},
		{"set password", func() error { return s.SetPassword(ctx, "ann@example.com", "another password") }, "user.password", "ann@example.com", ""},
		{"update user", func() error {
			_, err := s.UpdateUser(ctx, "ann@example.com", mailstore.UserUpdate{DisplayName: &name, QuotaBytes: &quota})
			return err
		}, "user.update", "ann@example.com", `"display_name":"Ann B."`},
		{"delete user", func() error { return s.DeleteUser(ctx, "ann@example.com") }, "user.delete", "ann@example.com", ""},
		{"delete domain", func() error { return s.DeleteDomain(ctx, "example.com", false) }, "domain.delete", "example.com", `"cascade":false`},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		es, err := s.ListAudit(bg, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != i+1 {
			t.Fatalf("%s: %d rows, want %d", st.name, len(es), i+1)
		}
		e := es[0] // newest first
		if e.Action != st.action || e.Target != st.target || !strings.Contains(e.Details, st.detail) {
			t.Errorf("%s: newest entry %+v, want %s on %s with %s", st.name, e, st.action, st.target, st.detail)
		}
		if strings.Contains(e.Details, "password\"") || strings.Contains(e.Details, "another password") {
			t.Errorf("%s: details leak a password: %s", st.name, e.Details)
		}
	}

	filters := []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"all", audit.Filter{}, 7},
		{"action", audit.Filter{Action: "user.update"}, 1},
		{"action prefix", audit.Filter{Action: "domain."}, 3},
		{"action prefix, other case", audit.Filter{Action: "DOMAIN."}, 0}, // as on PostgreSQL
		{"action prefix with a wildcard", audit.Filter{Action: "d_main."}, 0},
		{"target", audit.Filter{Target: "ann@example.com"}, 4},
		{"actor", audit.Filter{Actor: "root@example.com"}, 7},
		{"other actor", audit.Filter{Actor: "mallory"}, 0},
		{"since future", audit.Filter{Since: time.Now().Add(time.Hour)}, 0},
		{"since past", audit.Filter{Since: time.Now().Add(-time.Hour)}, 7},
		{"until past", audit.Filter{Until: time.Now().Add(-time.Hour)}, 0},
		{"until future, local zone", audit.Filter{Until: time.Now().Add(time.Hour).In(time.FixedZone("X", -5*3600))}, 7},
		{"limit", audit.Filter{Limit: 2}, 2},
		{"offset", audit.Filter{Offset: 5}, 2},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			es, err := s.ListAudit(bg, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != tt.want {
				t.Errorf("ListAudit: %d entries, want %d", len(es), tt.want)
			}
			n, err := s.CountAudit(bg, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if tt.f.Limit == 0 && tt.f.Offset == 0 && n != int64(tt.want) {
				t.Errorf("CountAudit = %d, want %d", n, tt.want)
			}
		})
	}
	es, _ := s.ListAudit(bg, audit.Filter{Offset: 6})
	if len(es) != 1 || es[0].Action != "domain.create" {
		t.Errorf("oldest entry = %+v", es)
	}
	if _, err := s.ListAudit(bg, audit.Filter{Limit: -1}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}

	// A failed change records nothing; an unaudited change records nothing.
	if err := s.DeleteUser(ctx, "nobody@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(bg, "example.net"); err != nil {
		t.Fatal(err)
	}
	if n := countAudit(t, s, audit.Filter{}); n != 7 {
		t.Errorf("%d rows after a failed and an unaudited change, want 7", n)
	}
}

// TestAuditInBatch checks that audited writes grouped into one transaction
// with a failing one keep exactly their own rows.
func TestAuditInBatch(t *testing.T) {
	s := openTestStore(t)
	ctx := auditCtx()
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		go func() {
			err := s.Write(ctx, func(tx *gorm.DB) error {
				return audit.Record(tx, "test.ok", "x", nil)
			})
			errs <- err
		}()
		go func() {
			errs <- s.Write(ctx, func(tx *gorm.DB) error {
				if err := audit.Record(tx, "test.fail", "x", nil); err != nil {
					return err
				}
				return core.ErrConflict
			})
		}()
	}
	failed := 0
	for i := 0; i < 2*n; i++ {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != n {
		t.Errorf("%d writes failed, want %d", failed, n)
	}
	if got := countAudit(t, s, audit.Filter{Action: "test.ok"}); got != n {
		t.Errorf("%d test.ok rows, want %d", got, n)
	}
	if got := countAudit(t, s, audit.Filter{Action: "test.fail"}); got != 0 {
		t.Errorf("%d test.fail rows, want 0", got)
	}
}

func TestAuditDetails(t *testing.T) {
	s := openTestStore(t)
	tests := []struct {
		name    string
		details any
		want    string
	}{
		{"nil", nil, ""},
		{"empty map", map[string]any{}, ""},
		{"map", map[string]any{"a": 1}, `{"a":1}`},
		{"struct", struct {
			B string `json:"b"`
		}{"x"}, `{"b":"x"}`},
		{"not an object", []int{1}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.name
			err := s.Write(context.Background(), func(tx *gorm.DB) error {
				return audit.RecordAs(tx, audit.Info{Actor: "a", Source: "cli"}, "test.details", target, tt.details)
			})
			if err != nil {
				t.Fatal(err)
			}
			es, err := s.ListAudit(context.Background(), audit.Filter{Target: target})
			if err != nil || len(es) != 1 {
				t.Fatalf("entries %v, %v (step %d)", es, err, i)
			}
			if es[0].Details != tt.want {
				t.Errorf("details = %q, want %q", es[0].Details, tt.want)
			}
		})
	}
}
