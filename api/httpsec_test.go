package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMetricsNeedLoopbackOrToken: /metrics answers clients on loopback;
// others get 401 unless they present the metrics token (issue 11 item 12).
func TestMetricsNeedLoopbackOrToken(t *testing.T) {
	for _, token := range []string{"", "scrape-secret"} {
		e := newEnv(t, func(o *Options) { o.MetricsToken = token })
		get := func(bearer string) int {
			req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, _ := e.send(req)
			return resp.StatusCode
		}
		if code := get(""); code != http.StatusOK {
			t.Errorf("token %q: loopback client: %d, want 200", token, code)
		}
		e.api.isLoopback = func(string) bool { return false } // as if from another network
		if code := get(""); code != http.StatusUnauthorized {
			t.Errorf("token %q: remote client without token: %d, want 401", token, code)
		}
		if code := get("wrong"); code != http.StatusUnauthorized {
			t.Errorf("token %q: remote client with a wrong token: %d, want 401", token, code)
		}
		if code := get(e.admin); code != http.StatusUnauthorized {
			t.Errorf("token %q: remote client with an admin session: %d, want 401", token, code)
		}
		if token != "" {
			if code := get(token); code != http.StatusOK {
				t.Errorf("remote client with the token: %d, want 200", code)
			}
		}
	}
}

// TestHSTSOverHTTPS: answers over HTTPS carry Strict-Transport-Security,
// those over plain HTTP do not.
func TestHSTSOverHTTPS(t *testing.T) {
	e := newEnv(t)
	tlsSrv := httptest.NewTLSServer(e.api.Handler())
	defer tlsSrv.Close()
	for _, path := range []string{"/healthz", "/admin/", "/api/v1/me"} {
		resp, err := tlsSrv.Client().Get(tlsSrv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("HTTPS %s: Strict-Transport-Security %q", path, got)
		}
		resp, _ = e.do("GET", path, "", nil)
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("plain HTTP %s: Strict-Transport-Security %q", path, got)
		}
	}
}

// TestDomainAdminCannotTakeOverHigherAccounts: a domain admin of a.example
// may not reset the password of, disable or delete a user of a.example who
// also administers b.example, or who shares a server admin's address; the
// same changes to a plain user of a.example, and by an admin of both
// domains, are allowed (issue 11 item 4).
func TestDomainAdminCannotTakeOverHigherAccounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addDomain("a.example")
	e.addDomain("b.example")
	e.addDomain("example.net")
	for _, u := range []string{"dana@a.example", "shared@a.example", "ann@a.example", "both@a.example", "bob@b.example"} {
		e.addUser(u, "initial-password")
	}
	e.addUser(testAdmin, "mailbox-password") // the server admin's own mailbox
	for _, g := range [][2]string{{"dana@a.example", "a.example"}, {"shared@a.example", "a.example"}, {"shared@a.example", "b.example"},
		{"both@a.example", "a.example"}, {"both@a.example", "b.example"}, {testAdmin, "example.net"}} {
		if err := e.store.AddDomainAdmin(ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.AddDomainAdmin(ctx, "dana@a.example", "example.net"); err != nil {
		t.Fatal(err)
	}
	dana := e.login("dana@a.example", "initial-password")
	for _, target := range []string{"shared@a.example", testAdmin} {
		e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/"+target, dana, map[string]any{"password": "taken-over-pw"})
		e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/"+target, dana, map[string]any{"enabled": false})
		e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/users/"+target, dana, nil)
	}
	e.login("shared@a.example", "initial-password")
	e.login(testAdmin, testAdminPW)
	// Quota and name stay the domain's business.
	e.must(http.StatusOK, "PATCH", "/api/v1/users/shared@a.example", dana, map[string]any{"quota_bytes": 1 << 20, "display_name": "Shared"}, nil)
	// A plain user of the domain, and a user whose rights dana has too.
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@a.example", dana, map[string]any{"password": "reset-password"}, nil)
	e.login("ann@a.example", "reset-password")
	both := e.login("both@a.example", "initial-password")
	e.must(http.StatusOK, "PATCH", "/api/v1/users/shared@a.example", both, map[string]any{"password": "reset-by-both"}, nil)
	// A server admin may, and everyone may change their own password.
	e.must(http.StatusOK, "PATCH", "/api/v1/users/both@a.example", e.admin, map[string]any{"password": "reset-by-admin"}, nil)
	e.must(http.StatusOK, "PATCH", "/api/v1/users/dana@a.example", dana, map[string]any{"password": "dana-new-password"}, nil)
}
