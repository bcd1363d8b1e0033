package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestSieveAPIRoles: over the HTTP handler with real tokens, a user
// manages their own scripts, a read-only token of theirs only reads, a
// domain admin manages their domain's users' scripts and its domain
// script, a user another's neither; a broken script is a validation
// problem with its line and column.
func TestSieveAPIRoles(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addDomain("example.org")
	e.addUser("ann@example.com", "ann-password")
	e.addUser("bob@example.com", "bob-password")
	e.addUser("dora@example.org", "dora-password")
	e.must(http.StatusNoContent, "PUT", "/api/v1/domains/example.com/admins/ann@example.com", e.admin, nil, nil)
	ann, bob, dora := e.login("ann@example.com", "ann-password"), e.login("bob@example.com", "bob-password"), e.login("dora@example.org", "dora-password")
	var tok struct{ Secret string }
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", bob, map[string]any{"name": "reader", "scope": "read"}, &tok)

	putScript := func(token, path, script string) (*http.Response, []byte) {
		req, err := http.NewRequest("PUT", e.srv.URL+path, strings.NewReader(script))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sieve")
		req.Header.Set("Authorization", "Bearer "+token)
		return e.send(req)
	}
	bobs := "/api/v1/users/bob@example.com/sieve/main"
	tests := []struct {
		name, token, path string
		want              int
	}{
		{"user on self", bob, bobs, http.StatusNoContent},
		{"read-only token", tok.Secret, bobs, http.StatusForbidden},
		{"domain admin on their user", ann, bobs, http.StatusNoContent},
		{"user of another domain", dora, bobs, http.StatusForbidden},
		{"server admin", e.admin, bobs, http.StatusNoContent},
		{"user on the domain script", bob, "/api/v1/domains/example.com/sieve", http.StatusForbidden},
		{"domain admin on the domain script", ann, "/api/v1/domains/example.com/sieve", http.StatusNoContent},
		{"domain admin on another domain", ann, "/api/v1/domains/example.org/sieve", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := putScript(tt.token, tt.path, "keep;\n")
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, b)
			}
		})
	}
	e.must(http.StatusOK, "GET", "/api/v1/users/bob@example.com/sieve", tok.Secret, nil, nil) // reading is fine
	e.problem(http.StatusForbidden, kindForbidden, "POST", bobs+"/activate", tok.Secret, nil)

	resp, b := putScript(bob, bobs, "require \"vacation\";\nvacation :days \"x\" \"away\";\n")
	p := checkProblem(t, resp, b, http.StatusUnprocessableEntity, kindValidation, "broken script")
	if p.Line != 2 || p.Column == 0 || len(p.Errors) != 1 || p.Errors[0].Field != "script" {
		t.Fatalf("problem %+v", p)
	}
}
