package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
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
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: log})
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
		if _, err := store.CreateUser(ctx, mailstore.NewUser{Address: addr, Password: "a long password"}); err != nil {
			t.Fatal(err)
		}
		return e.userActor(t, addr)
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
		a := e.userActor(t, addr)
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

// freshAlias makes a new alias in domain (to ann) and returns its address.
func (e *roleEnv) freshAlias(t *testing.T, domain string) string {
	t.Helper()
	addr := e.fresh("al") + "@" + domain
	if _, err := e.store.CreateAlias(context.Background(), addr, []string{"ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// quarantine holds a message for rcpts and returns its ID.
func (e *roleEnv) quarantine(t *testing.T, rcpts ...string) int64 {
	t.Helper()
	q, err := e.store.Quarantine(context.Background(), mailstore.QuarantineInput{
		Body: strings.NewReader("From: x@example.net\r\nSubject: held\r\n\r\nbody\r\n"), From: "x@example.net",
		Recipients: rcpts, Subject: "held", Reason: "virus", Filter: "clamd",
	})
	if err != nil {
		t.Fatal(err)
	}
	return q.ID
}

// userActor returns the actor of the mail account at addr.
func (e *roleEnv) userActor(t *testing.T, addr string) Actor {
	t.Helper()
	ctx := context.Background()
	u, err := e.store.GetUser(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.userActor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startSession signs a in (a session of their own) and returns the
// session's ID.
func (e *roleEnv) startSession(t *testing.T, a Actor) int64 {
	t.Helper()
	ctx := context.Background()
	kind := KindUser
	if a.AdminID != 0 {
		kind = KindAdmin
	}
	jti, err := e.svc.StartSession(ctx, a, kind, time.Now().Add(time.Hour), ClientInfo{RemoteIP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := a.sessionOwner(kind)
	if err != nil {
		t.Fatal(err)
	}
	ses, err := e.svc.tokens.ListSessions(ctx, o, jti)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ses {
		if s.Current {
			return s.ID
		}
	}
	t.Fatalf("the session just started is not listed: %+v", ses)
	return 0
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

		// More of the same kinds, each rule once.
		{"read a server admin", []string{"system", "admin", "readonly", "token"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetAdmin(ctx, a, "root@example.net")
			return err
		}},
		{"remove a server admin (never with a token)", []string{"system", "admin"}, func(t *testing.T, a Actor) error {
			email := e.fresh("gone") + "@example.net"
			if _, err := e.store.CreateAdmin(ctx, email, "a long admin password"); err != nil {
				t.Fatal(err)
			}
			return e.svc.DeleteAdmin(ctx, a, email)
		}},
		{"read an alias of example.com", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetAlias(ctx, a, e.freshAlias(t, "example.com"))
			return err
		}},
		{"change an alias of example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UpdateAlias(ctx, a, e.freshAlias(t, "example.com"), []string{"bob@example.com"})
			return err
		}},
		{"delete an alias of example.org", []string{"system", "admin", "token", "oscar"}, func(t *testing.T, a Actor) error {
			return e.svc.DeleteAlias(ctx, a, e.freshAlias(t, "example.org"))
		}},
		{"list example.com's domain admins", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListDomainAdmins(ctx, a, "example.com")
			return err
		}},
		{"withdraw a domain admin", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			u := e.freshUser(t, "example.com")
			if err := e.store.AddDomainAdmin(ctx, u, "example.com"); err != nil {
				t.Fatal(err)
			}
			return e.svc.RemoveDomainAdmin(ctx, a, "example.com", u)
		}},
		{"list bob's send-as addresses", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListSendAs(ctx, a, "bob@example.com")
			return err
		}},
		{"take back bob's right to send as an address of example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			as := e.freshUser(t, "example.com")
			if _, err := e.store.GrantSendAs(ctx, "bob@example.com", as); err != nil {
				t.Fatal(err)
			}
			return e.svc.RevokeSendAs(ctx, a, "bob@example.com", as)
		}},
		{"list example.com's shared accounts", []string{"system", "admin", "readonly", "token", "dora"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListSharedAccounts(ctx, a, "example.com")
			return err
		}},
		{"delete a shared account of example.com", []string{"system", "admin", "token", "dora"}, func(t *testing.T, a Actor) error {
			sa, err := e.svc.CreateSharedAccount(ctx, System(), NewSharedAccount{Address: e.fresh("team") + "@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			return e.svc.DeleteSharedAccount(ctx, a, sa.Address)
		}},
		{"delete ann's app password", []string{"system", "admin", "dora", "ann"}, func(t *testing.T, a Actor) error {
			ap, _, err := e.svc.CreateAppPassword(ctx, System(), "ann@example.com", mailstore.NewAppPassword{Name: e.fresh("phone"), Protocols: []string{"imap"}})
			if err != nil {
				t.Fatal(err)
			}
			return e.svc.DeleteAppPassword(ctx, a, "ann@example.com", ap.ID)
		}},
		{"ann's encryption (ann too)", []string{"system", "admin", "readonly", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.UserEncryption(ctx, a, "ann@example.com")
			return err
		}},
		{"list ann's imports (ann too)", []string{"system", "admin", "readonly", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListImports(ctx, a, "ann@example.com")
			return err
		}},
		{"list one's own passkeys (mail accounts, never with a token)", []string{"dora", "oscar", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListPasskeys(ctx, a)
			return err
		}},
		{"list ann's quarantine (ann too)", []string{"system", "admin", "readonly", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListQuarantine(ctx, a, QuarantineFilter{Recipient: "ann@example.com"})
			return err
		}},

		{"read a message held for ann (ann too)", []string{"system", "admin", "readonly", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.GetQuarantined(ctx, a, e.quarantine(t, "ann@example.com"))
			return err
		}},
		{"delete a message held for ann (ann too)", []string{"system", "admin", "token", "dora", "ann"}, func(t *testing.T, a Actor) error {
			return e.svc.DeleteQuarantined(ctx, a, e.quarantine(t, "ann@example.com"))
		}},
		{"delete a message held for ann and oscar (not who sees only one of them)", []string{"system", "admin", "token"}, func(t *testing.T, a Actor) error {
			return e.svc.DeleteQuarantined(ctx, a, e.quarantine(t, "ann@example.com", "oscar@example.org"))
		}},
		{"make example.com's recovery key (who manages it, never with a token)", []string{"system", "admin", "dora"}, func(t *testing.T, a Actor) error {
			_, _, err := e.svc.CreateDomainRecoveryKey(ctx, a, "example.com")
			return err
		}},

		// API tokens and sessions: an account's own, never with a token.
		{"issue an API token of one's own", []string{"admin", "dora", "oscar", "ann"}, func(t *testing.T, a Actor) error {
			_, _, err := e.svc.CreateToken(ctx, a, e.fresh("ci"), "read", 0)
			return err
		}},
		{"list one's own API tokens", []string{"admin", "dora", "oscar", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListTokens(ctx, a)
			return err
		}},
		{"list one's own sessions", []string{"admin", "dora", "oscar", "ann"}, func(t *testing.T, a Actor) error {
			_, err := e.svc.ListOwnSessions(ctx, a)
			return err
		}},
		{"end one's own session", []string{"admin", "dora", "oscar", "ann"}, func(t *testing.T, a Actor) error {
			id := int64(1 << 40) // none: the role is checked first
			if a.AdminID != 0 || a.UserID != 0 {
				id = e.startSession(t, a)
			}
			return e.svc.EndOwnSession(ctx, a, id)
		}},
		{"end bob's session (never with a token)", []string{"system", "admin", "dora"}, func(t *testing.T, a Actor) error {
			return e.svc.EndUserSession(ctx, a, "bob@example.com", e.startSession(t, e.userActor(t, "bob@example.com")))
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

// TestTokenDeletionRules: an account deletes its own API tokens, a server
// admin anyone's; another account's token is not found for a domain admin
// or a user (its existence is not told), and a token deletes none.
func TestTokenDeletionRules(t *testing.T) {
	e := newRoleEnv(t)
	ctx := context.Background()
	tests := []struct {
		who  string
		want error
	}{
		{"readonly", core.ErrForbidden},
		{"token", core.ErrForbidden},
		{"dora", core.ErrNotFound},
		{"oscar", core.ErrNotFound},
		{"ann", nil},
		{"admin", nil},
		{"system", nil},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			tok, _, err := e.svc.CreateToken(ctx, e.actors["ann"], e.fresh("ci"), "write", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.DeleteToken(ctx, e.actors[tt.who], tok.ID); !errors.Is(err, tt.want) {
				t.Fatalf("DeleteToken as %s: %v, want %v", tt.who, err, tt.want)
			}
			ts, err := e.svc.ListTokens(ctx, e.actors["ann"])
			if err != nil {
				t.Fatal(err)
			}
			left := slices.ContainsFunc(ts, func(t tokens.APIToken) bool { return t.ID == tok.ID })
			if left != (tt.want != nil) {
				t.Errorf("after DeleteToken as %s (%v), the token is left: %v", tt.who, tt.want, left)
			}
		})
	}
}

// TestNewCredentialsRevokeTokens: a password set through the service ends
// the account's API tokens and sessions; disabling a user suspends their
// tokens until they are enabled again.
func TestNewCredentialsRevokeTokens(t *testing.T) {
	e := newRoleEnv(t)
	ctx := context.Background()
	ann, admin := e.actors["ann"], e.actors["admin"]
	issue := func(a Actor) (secret, refresh string) {
		t.Helper()
		_, secret, err := e.svc.CreateToken(ctx, a, e.fresh("ci"), "write", 0)
		if err != nil {
			t.Fatal(err)
		}
		kind := KindUser
		if a.AdminID != 0 {
			kind = KindAdmin
		}
		refresh, err = e.svc.StartSession(ctx, a, kind, time.Now().Add(time.Hour), ClientInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.ResolveToken(ctx, secret); err != nil {
			t.Fatalf("a new token: %v", err)
		}
		return secret, refresh
	}
	revoked := func(what, secret, refresh string) {
		t.Helper()
		if _, _, err := e.svc.ResolveToken(ctx, secret); !errors.Is(err, core.ErrAuthFailed) {
			t.Errorf("%s: the API token still works (%v)", what, err)
		}
		if _, _, _, err := e.svc.RefreshSession(ctx, refresh, time.Now().Add(time.Hour)); !errors.Is(err, core.ErrAuthFailed) {
			t.Errorf("%s: the session still refreshes (%v)", what, err)
		}
	}

	secret, refresh := issue(ann)
	pw := "a new long password"
	if _, err := e.svc.UpdateUser(ctx, System(), "ann@example.com", UserPatch{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	revoked("ann's new password", secret, refresh)

	secret, refresh = issue(e.userActor(t, "ann@example.com"))
	off, on := false, true
	if _, err := e.svc.UpdateUser(ctx, System(), "ann@example.com", UserPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	revoked("ann disabled", secret, refresh)
	if _, err := e.svc.UpdateUser(ctx, System(), "ann@example.com", UserPatch{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.ResolveToken(ctx, secret); err != nil {
		t.Errorf("ann enabled again: her API token: %v", err)
	}

	secret, refresh = issue(admin)
	if _, err := e.svc.SetAdminPassword(ctx, System(), admin.Email, "another long admin password"); err != nil {
		t.Fatal(err)
	}
	revoked("the admin's new password", secret, refresh)
}
