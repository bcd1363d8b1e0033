package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/dkimkeys"
	"github.com/yubinmail/yubin/mta/queue"
)

// roleEnv is a service over a real store with every kind of actor:
//
//	system    the CLI
//	admin     a server admin signed in with a password
//	readonly  a server admin's read-only API token
//	token     a server admin's read-write API token
//	dora      domain admin of example.com (a mail user there)
//	oscar     domain admin of example.org
//	ann       a user of example.com
//
// bob is another user of example.com; multi is a user of example.com who
// also administers example.org, so dora must not change his credentials.
type roleEnv struct {
	svc   *Service
	store *mailstore.Store
	seq   atomic.Int64

	actors map[string]Actor
}

// roleNames are every actor of a roleEnv, in the order the tests report.
var roleNames = []string{"system", "admin", "readonly", "token", "dora", "oscar", "ann"}

func newRoleEnv(t *testing.T) *roleEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	q, err := queue.Open(ctx, store, store, log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := dkimkeys.Open(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &roleEnv{svc: New(store, log).WithQueue(q).WithDKIM(keys), store: store, actors: map[string]Actor{}}
	for _, d := range []string{"example.com", "example.org"} {
		if _, err := store.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ad, err := store.CreateAdmin(ctx, "root@example.net", "a long admin password")
	if err != nil {
		t.Fatal(err)
	}
	admin := Actor{Role: RoleAdmin, Email: ad.Email, AdminID: ad.ID, Source: "api"}
	readonly := admin
	readonly.ReadOnly, readonly.TokenPrefix = true, "yb_ro"
	token := admin
	token.TokenPrefix = "yb_rw"
	user := func(addr string) Actor {
		u, err := store.CreateUser(ctx, mailstore.NewUser{Address: addr, Password: "a long password"})
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.svc.userActor(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	e.actors["system"] = System()
	e.actors["admin"] = admin
	e.actors["readonly"] = readonly
	e.actors["token"] = token
	e.actors["ann"] = user("ann@example.com")
	user("bob@example.com")
	user("multi@example.com")
	user("dora@example.com")
	user("oscar@example.org")
	for _, da := range []struct{ user, domain string }{
		{"dora@example.com", "example.com"}, {"oscar@example.org", "example.org"}, {"multi@example.com", "example.org"},
	} {
		if err := store.AddDomainAdmin(ctx, da.user, da.domain); err != nil {
			t.Fatal(err)
		}
	}
	// userActor read the roles before they were given: read them again.
	for name, addr := range map[string]string{"dora": "dora@example.com", "oscar": "oscar@example.org"} {
		u, err := store.GetUser(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.svc.userActor(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if a.Role != RoleDomainAdmin {
			t.Fatalf("%s: role %q, want domain_admin", addr, a.Role)
		}
		e.actors[name] = a
	}
	return e
}

// fresh returns a name no earlier call returned, for targets each actor
// creates or destroys on its own.
func (e *roleEnv) fresh(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, e.seq.Add(1))
}

// freshUser makes a new account in domain and returns its address.
func (e *roleEnv) freshUser(t *testing.T, domain string) string {
	t.Helper()
	addr := e.fresh("u") + "@" + domain
	if _, err := e.store.CreateUser(context.Background(), mailstore.NewUser{Address: addr, Password: "a long password"}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestRoleRules runs every administrative operation as every kind of actor
// and checks that exactly the roles allowed to do it can, and that the
// others get an error wrapping core.ErrForbidden (not some other failure
// that would hide a missing check).
func TestRoleRules(t *testing.T) {
	e := newRoleEnv(t)
	ctx := context.Background()
	quota := int64(1 << 30)
	name := "New Name"
	pw := "another long password"
	lang := "ja"
	enabled := true

	tests := []struct {
		op      string
		allowed []string
		run     func(t *testing.T, a Actor) error
	}{
		// Domains.
		{"create a domain", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.CreateDomain(ctx, a, e.fresh("new")+".test", DomainSettings{})
			return err
		}},
		{"list domains", []string{"system", "admin", "readonly", "token", "dora", "oscar"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListDomains(ctx, a, "", Page{})
			return err
		}},
		{"read example.com", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetDomain(ctx, a, "example.com")
			return err
		}},
		{"change example.com's settings", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateDomain(ctx, a, "example.com", DomainSettings{})
			return err
		}},
		{"delete a domain", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			d := e.fresh("gone") + ".test"
			if _, err := e.store.CreateDomain(ctx, d); err != nil {
				t.Fatal(err)
			}
			return e.svc.DeleteDomain(ctx, a, d, false)
		}},
		{"usage of example.com", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.DomainUsage(ctx, a, "example.com")
			return err
		}},

		// Users.
		{"create a user in example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.CreateUser(ctx, a, NewUser{Address: e.fresh("new") + "@example.com", Password: "a long password"})
			return err
		}},
		{"list example.com's users", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListUsers(ctx, a, UserFilter{Domain: "example.com"})
			return err
		}},
		{"read bob", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetUser(ctx, a, "bob@example.com")
			return err
		}},
		{"read ann (ann herself too)", []string{"system", "admin", "readonly", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetUser(ctx, a, "ann@example.com")
			return err
		}},
		{"change bob's quota", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateUser(ctx, a, "bob@example.com", UserPatch{QuotaBytes: &quota})
			return err
		}},
		{"change ann's quota (not ann herself)", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateUser(ctx, a, "ann@example.com", UserPatch{QuotaBytes: &quota, Enabled: &enabled})
			return err
		}},
		{"change ann's name and language (ann too)", []string{"system", "admin", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateUser(ctx, a, "ann@example.com", UserPatch{DisplayName: &name, Language: &lang})
			return err
		}},
		{"reset ann's password (ann only with her current one)", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateUser(ctx, a, "ann@example.com", UserPatch{Password: &pw})
			return err
		}},
		{"reset the password of multi, who also administers example.org", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateUser(ctx, a, "multi@example.com", UserPatch{Password: &pw})
			return err
		}},
		{"delete a user of example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			return e.svc.DeleteUser(ctx, a, e.freshUser(t, "example.com"))
		}},
		{"delete a user of example.org", []string{"system", "admin", "token", "oscar"}, func(t *testing.T, a Actor) error {
			return e.svc.DeleteUser(ctx, a, e.freshUser(t, "example.org"))
		}},

		// Aliases.
		{"create an alias in example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.CreateAlias(ctx, a, e.fresh("al")+"@example.com", []string{"ann@example.com"})
			return err
		}},
		{"list example.com's aliases", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListAliases(ctx, a, AliasFilter{Domain: "example.com"})
			return err
		}},

		// Server admins, domain admins, the audit log and server settings.
		{"list server admins", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListAdmins(ctx, a)
			return err
		}},
		{"add a server admin (never with a token)", []string{"system", "admin"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.CreateAdmin(ctx, a, e.fresh("root")+"@example.net", "a long admin password")
			return err
		}},
		{"appoint a domain admin", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			return e.svc.AddDomainAdmin(ctx, a, "example.com", e.freshUser(t, "example.com"))
		}},
		{"read the audit log", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListAudit(ctx, a, AuditFilter{})
			return err
		}},
		{"mail statistics", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.Stats(ctx, a, "")
			return err
		}},
		{"read the security policy", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetSecurityPolicy(ctx, a)
			return err
		}},
		{"change the security policy", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateSecurityPolicy(ctx, a, mailstore.SecurityPolicyUpdate{})
			return err
		}},
		{"encryption status", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.EncryptionStatus(ctx, a)
			return err
		}},

		// Account security of a mail user.
		{"reset bob's second factor (never with a token)", []string{"system", "admin", "dora"}, func(t *testing.T, a Actor) error {
			return e.svc.ResetSecondFactor(ctx, a, "bob@example.com")
		}},
		{"list bob's sessions (never with a token)", []string{"system", "admin", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListUserSessions(ctx, a, "bob@example.com")
			return err
		}},
		{"list ann's app passwords", []string{"system", "admin", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListAppPasswords(ctx, a, "ann@example.com")
			return err
		}},
		{"make an app password for ann (ann herself only)", []string{"system", "ann"}, func(t *testing.T, a Actor) error {
			_, _, err := e.svc.CreateAppPassword(ctx, a, "ann@example.com", mailstore.NewAppPassword{Name: e.fresh("phone"), Protocols: []string{"imap"}})
			return err
		}},

		// Shared mail.
		{"create a shared account in example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.CreateSharedAccount(ctx, a, NewSharedAccount{Address: e.fresh("info") + "@example.com"})
			return err
		}},
		{"let bob send as an address of example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GrantSendAs(ctx, a, "bob@example.com", e.freshUser(t, "example.com"))
			return err
		}},
		{"let bob send as an address of example.org", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GrantSendAs(ctx, a, "bob@example.com", e.freshUser(t, "example.org"))
			return err
		}},

		// DKIM keys.
		{"list example.com's DKIM records", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			recs, err := e.svc.DKIMRecords(ctx, a, "example.com")
			if err == nil && len(recs) != 2 {
				t.Errorf("DKIM records %v, want two", recs)
			}
			return err
		}},
		{"rotate example.com's DKIM keys", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.RotateDKIM(ctx, a, "example.com")
			return err
		}},

		// The outbound queue.
		{"list the outbound queue", []string{"system", "admin", "readonly", "token", "dora", "oscar"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListQueue(ctx, a, QueueFilter{})
			return err
		}},
	}
	for _, tt := range tests {
		for _, who := range roleNames {
			t.Run(tt.op+"/"+who, func(t *testing.T) {
				err := tt.run(t, e.actors[who])
				want := slices.Contains(tt.allowed, who)
				switch {
				case want && err != nil:
					t.Errorf("%s may %s, but got %v", who, tt.op, err)
				case !want && err == nil:
					t.Errorf("%s may not %s, but it succeeded", who, tt.op)
				case !want && !errors.Is(err, core.ErrForbidden):
					t.Errorf("%s may not %s: got %v, want an error wrapping ErrForbidden", who, tt.op, err)
				}
			})
		}
	}
}

// TestReadOnlyTokenChangesNothing checks that a refused write by a
// read-only token left no trace in the audit log.
func TestReadOnlyTokenChangesNothing(t *testing.T) {
	e := newRoleEnv(t)
	ctx := context.Background()
	before, err := e.svc.ListAudit(ctx, System(), AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	quota := int64(1)
	if _, err := e.svc.UpdateUser(ctx, e.actors["readonly"], "bob@example.com", UserPatch{QuotaBytes: &quota}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("read-only quota change: %v", err)
	}
	u, err := e.svc.GetUser(ctx, System(), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.QuotaBytes == quota {
		t.Fatal("the read-only token changed bob's quota")
	}
	after, err := e.svc.ListAudit(ctx, System(), AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Total != before.Total {
		t.Fatalf("audit entries %d → %d after a refused change", before.Total, after.Total)
	}
}
