package api

import (
	"context"
	"encoding/json"
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
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/dana@a.example", dana, map[string]any{"password": "dana-new-password"})
	e.must(http.StatusNoContent, "POST", "/api/v1/me/password", dana, map[string]any{"current_password": "initial-password", "new_password": "dana-new-password"}, nil)
}

// session is a token pair from a login or a refresh.
func (e *testEnv) session(email, password string) tokenResponse {
	e.t.Helper()
	var tr tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tr)
	return tr
}

// refreshStatus presents a refresh token and returns the status and the
// new pair.
func (e *testEnv) refreshStatus(refresh string) (int, tokenResponse) {
	e.t.Helper()
	resp, b := e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
	var tr tokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &tr); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.StatusCode, tr
}

// TestRefreshTokensRotate: a refresh token works once; presenting a used
// one again revokes the whole session, including the token it was
// exchanged for (issue 11 item 5).
func TestRefreshTokensRotate(t *testing.T) {
	e := newEnv(t)
	s1 := e.session(testAdmin, testAdminPW)
	code, s2 := e.refreshStatus(s1.RefreshToken)
	if code != http.StatusOK || s2.RefreshToken == s1.RefreshToken {
		t.Fatalf("first refresh: %d", code)
	}
	code, s3 := e.refreshStatus(s2.RefreshToken)
	if code != http.StatusOK {
		t.Fatalf("refresh of the new token: %d", code)
	}
	// An attacker replays the stolen first token.
	if code, _ := e.refreshStatus(s1.RefreshToken); code != http.StatusUnauthorized {
		t.Errorf("reused refresh token: %d, want 401", code)
	}
	if code, _ := e.refreshStatus(s3.RefreshToken); code != http.StatusUnauthorized {
		t.Errorf("the session's latest refresh token after a reuse: %d, want 401 (the family is revoked)", code)
	}
	// Other sessions live on.
	other := e.session(testAdmin, testAdminPW)
	if code, _ := e.refreshStatus(other.RefreshToken); code != http.StatusOK {
		t.Errorf("another session: %d", code)
	}
}

// TestCredentialChangesRevokeSessions: a password reset, disabling and
// deleting an account end its access and refresh tokens, and a new account
// at a deleted one's address does not inherit them; the same for a server
// admin's password (issue 11 item 5).
func TestCredentialChangesRevokeSessions(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	gone := func(what string, s tokenResponse) {
		t.Helper()
		e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/me", s.Token, nil)
		if code, _ := e.refreshStatus(s.RefreshToken); code != http.StatusUnauthorized {
			t.Errorf("%s: refresh token still works (%d)", what, code)
		}
	}

	s := e.session("ann@example.com", "ann-password")
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"password": "reset-password"}, nil)
	gone("password reset", s)

	s = e.session("ann@example.com", "reset-password")
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"enabled": false}, nil)
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"enabled": true}, nil)
	gone("disable and enable", s)

	s = e.session("ann@example.com", "reset-password")
	e.must(http.StatusNoContent, "DELETE", "/api/v1/users/ann@example.com", e.admin, nil, nil)
	e.addUser("ann@example.com", "reset-password") // someone new, same address and password
	gone("deleted and re-created", s)

	a := e.session(testAdmin, testAdminPW)
	if err := e.store.SetAdminPassword(context.Background(), testAdmin, "new-admin-password"); err != nil {
		t.Fatal(err)
	}
	gone("admin password change", a)
	e.session(testAdmin, "new-admin-password")
}
