package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// sieveEnv is a service over a real store with two domains: ann and bob
// in example.com (dora administers it), carl in example.org.
type sieveEnv struct {
	svc                  *Service
	store                *mailstore.Store
	ann, bob, dora, carl Actor
	admin                Actor
	annAddr, bobAddr     string
}

func newSieveEnv(t *testing.T) *sieveEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, log)
	e := &sieveEnv{svc: svc, store: store, admin: Actor{Role: RoleAdmin, Email: "root@example.net", Source: "api"}}
	for _, d := range []string{"example.com", "example.org"} {
		if _, err := store.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	actor := func(addr string) Actor {
		u, err := store.CreateUser(ctx, mailstore.NewUser{Address: addr, Password: "a long password"})
		if err != nil {
			t.Fatal(err)
		}
		a, err := svc.userActor(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	e.ann, e.bob, e.carl = actor("ann@example.com"), actor("bob@example.com"), actor("carl@example.org")
	e.dora = actor("dora@example.com")
	if err := store.AddDomainAdmin(ctx, "dora@example.com", "example.com"); err != nil {
		t.Fatal(err)
	}
	e.dora.Role, e.dora.Domains = RoleDomainAdmin, []string{"example.com"}
	e.annAddr, e.bobAddr = "ann@example.com", "bob@example.com"
	return e
}

func TestSieveScriptRoles(t *testing.T) {
	e := newSieveEnv(t)
	ctx := context.Background()
	const script = "require \"fileinto\";\nif header :contains \"subject\" \"invoice\" { fileinto \"Invoices\"; }\n"
	tests := []struct {
		name  string
		actor Actor
		ok    bool
	}{
		{"user on self", e.ann, true},
		{"user on another user", e.bob, false},
		{"user of another domain", e.carl, false},
		{"domain admin on their domain", e.dora, true},
		{"server admin", e.admin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.svc.PutSieveScript(ctx, tt.actor, e.annAddr, "s-"+tt.actor.Email, script)
			if tt.ok != (err == nil) {
				t.Fatalf("PutSieveScript: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, core.ErrForbidden) {
				t.Fatalf("PutSieveScript: %v, want ErrForbidden", err)
			}
			_, err = e.svc.ListSieveScripts(ctx, tt.actor, e.annAddr)
			if tt.ok != (err == nil) {
				t.Fatalf("ListSieveScripts: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	ro := e.ann
	ro.ReadOnly = true
	if err := e.svc.PutSieveScript(ctx, ro, e.annAddr, "x", script); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("read-only token: %v", err)
	}
	// The domain script: admins of the domain only.
	if err := e.svc.PutDomainSieveScript(ctx, e.ann, "example.com", script); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("user put domain script: %v", err)
	}
	if err := e.svc.PutDomainSieveScript(ctx, e.dora, "example.org", script); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("domain admin put other domain's script: %v", err)
	}
	if _, err := e.svc.GetDomainSieveScript(ctx, e.dora, "example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("get missing domain script: %v", err)
	}
	if err := e.svc.PutDomainSieveScript(ctx, e.dora, "example.com", script); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.GetDomainSieveScript(ctx, e.admin, "Example.COM"); err != nil || got != script {
		t.Fatalf("GetDomainSieveScript = %q, %v", got, err)
	}
	if err := e.svc.DeleteDomainSieveScript(ctx, e.dora, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteDomainSieveScript(ctx, e.dora, "example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete missing domain script: %v", err)
	}
}

func TestSieveScriptLifecycle(t *testing.T) {
	e := newSieveEnv(t)
	ctx := context.Background()
	a, addr := e.ann, e.annAddr

	// A broken script is refused with its position.
	err := e.svc.PutSieveScript(ctx, a, addr, "bad", "require \"fileinto\";\nif true {\n  fileinto \"x\"\n}\n")
	var se *SieveScriptError
	if !errors.As(err, &se) || !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("broken script: %v, want *SieveScriptError", err)
	}
	if se.Line != 4 || se.Column != 1 {
		t.Fatalf("error at %d:%d (%s), want 4:1", se.Line, se.Column, se.Message)
	}
	if err := e.svc.CheckSieveScript(ctx, "fileinto \"x\";"); !errors.As(err, &se) || se.Line != 1 {
		t.Fatalf("fileinto without require: %v", err)
	}
	if err := e.svc.PutSieveScript(ctx, a, addr, "big", "keep;"+strings.Repeat(" ", MaxSieveScriptBytes)); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("too large: %v", err)
	}
	if err := e.svc.PutSieveScript(ctx, a, addr, "bad\nname", "keep;"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("name with a line break: %v", err)
	}

	for _, n := range []string{"one", "two"} {
		if err := e.svc.PutSieveScript(ctx, a, addr, n, "keep;\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.ActivateSieveScript(ctx, a, addr, "one"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ActivateSieveScript(ctx, a, addr, "two"); err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.ListSieveScripts(ctx, a, addr)
	if err != nil || len(list) != 2 || list[0].Active || !list[1].Active || list[1].Size != int64(len("keep;\n")) {
		t.Fatalf("after activating two: %+v, %v", list, err)
	}
	if err := e.svc.ActivateSieveScript(ctx, a, addr, "none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("activate missing: %v", err)
	}
	if err := e.svc.DeleteSieveScript(ctx, a, addr, "two"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("delete active: %v, want ErrConflict", err)
	}
	if err := e.svc.RenameSieveScript(ctx, a, addr, "two", "one"); !errors.Is(err, core.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := e.svc.RenameSieveScript(ctx, a, addr, "two", "main"); err != nil {
		t.Fatal(err)
	}
	u, _ := e.store.GetUser(ctx, addr)
	active, err := e.store.ActiveSieveScript(ctx, u.ID)
	if err != nil || active == nil || active.Name != "main" {
		t.Fatalf("active after rename: %+v, %v", active, err)
	}
	if err := e.svc.ActivateSieveScript(ctx, a, addr, ""); err != nil {
		t.Fatal(err)
	}
	if active, err := e.store.ActiveSieveScript(ctx, u.ID); err != nil || active != nil {
		t.Fatalf("active after deactivating: %+v, %v", active, err)
	}
	if err := e.svc.DeleteSieveScript(ctx, a, addr, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSieveScript(ctx, a, addr, "main"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if got, err := e.svc.GetSieveScript(ctx, a, addr, "one"); err != nil || got != "keep;\n" {
		t.Fatalf("GetSieveScript = %q, %v", got, err)
	}

	// The count limit.
	for i := 1; i < MaxSieveScripts; i++ {
		if err := e.svc.PutSieveScript(ctx, a, addr, "n"+strings.Repeat("x", i), "keep;"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.HaveSieveSpace(ctx, a, addr, "another", 10); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("HaveSieveSpace at the limit: %v", err)
	}
	if err := e.svc.HaveSieveSpace(ctx, a, addr, "one", 10); err != nil {
		t.Fatalf("HaveSieveSpace for a replacement: %v", err)
	}
	if err := e.svc.PutSieveScript(ctx, a, addr, "another", "keep;"); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("one script too many: %v", err)
	}
	// Deleting the user removes the scripts.
	if err := e.store.DeleteUser(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(ctx, mailstore.NewUser{Address: addr, Password: "a long password"}); err != nil {
		t.Fatal(err)
	}
	if list, err := e.svc.ListSieveScripts(ctx, e.admin, addr); err != nil || len(list) != 0 {
		t.Fatalf("scripts of a recreated user: %+v, %v", list, err)
	}
}
