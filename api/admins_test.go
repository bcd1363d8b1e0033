package api

import (
	"context"
	"net/http"
	"testing"
)

// TestAdminLifecycle: server admins list, add, reset and remove server
// admins over HTTP (never the last one), and everyone changes their own
// password with the current one (issue 13 item 1, issue 11 item 20).
func TestAdminLifecycle(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	e.addUser("dana@example.com", "dana-password")
	if err := e.store.AddDomainAdmin(context.Background(), "dana@example.com", "example.com"); err != nil {
		t.Fatal(err)
	}

	var l struct {
		Items []struct {
			Email string `json:"email"`
		} `json:"items"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/admins", e.admin, nil, &l)
	if len(l.Items) != 1 || l.Items[0].Email != testAdmin {
		t.Fatalf("admins %+v", l)
	}
	// The last admin stays.
	e.problem(http.StatusConflict, kindConflict, "DELETE", "/api/v1/admins/"+testAdmin, e.admin, nil)

	resp := e.must(http.StatusCreated, "POST", "/api/v1/admins", e.admin, map[string]string{"email": "Second@Example.NET", "password": "second-password"}, nil)
	if loc := resp.Header.Get("Location"); loc != "/api/v1/admins/second@example.net" {
		t.Errorf("Location %q", loc)
	}
	e.problem(http.StatusConflict, kindAlreadyExists, "POST", "/api/v1/admins", e.admin, map[string]string{"email": "second@example.net", "password": "second-password"})
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/admins", e.admin, map[string]string{"email": "nonsense", "password": "short"})
	if len(p.Errors) != 2 {
		t.Errorf("errors %+v", p.Errors)
	}
	second := e.session("second@example.net", "second-password")

	// A server admin resets another's password: the other's sessions end.
	e.must(http.StatusOK, "PATCH", "/api/v1/admins/second@example.net", e.admin, map[string]string{"password": "reset-by-first"}, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/me", second.Token, nil)
	e.problem(http.StatusUnprocessableEntity, kindValidation, "PATCH", "/api/v1/admins/second@example.net", e.admin, map[string]string{"password": "short"})
	e.problem(http.StatusUnprocessableEntity, kindValidation, "PATCH", "/api/v1/admins/second@example.net", e.admin, map[string]string{})
	e.problem(http.StatusNotFound, kindNotFound, "PATCH", "/api/v1/admins/nobody@example.net", e.admin, map[string]string{"password": "long-enough"})
	e.login("second@example.net", "reset-by-first")

	// Everyone changes their own password with the current one.
	for _, who := range []struct{ email, old, new string }{
		{"second@example.net", "reset-by-first", "second-own-password"},
		{"ann@example.com", "ann-password", "ann-own-password"},
		{"dana@example.com", "dana-password", "dana-own-password"},
	} {
		s := e.session(who.email, who.old)
		p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/me/password", s.Token,
			map[string]string{"current_password": "not-the-password", "new_password": who.new})
		if len(p.Errors) != 1 || p.Errors[0].Field != "current_password" {
			t.Errorf("%s: wrong current password: %+v", who.email, p)
		}
		e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/me/password", s.Token,
			map[string]string{"current_password": who.old, "new_password": "short"})
		e.must(http.StatusNoContent, "POST", "/api/v1/me/password", s.Token, map[string]string{"current_password": who.old, "new_password": who.new}, nil)
		e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": who.email, "password": who.old})
		e.login(who.email, who.new)
	}
	secondTok := e.login("second@example.net", "second-own-password")

	// Only server admins manage server admins.
	dana := e.login("dana@example.com", "dana-own-password")
	ann := e.login("ann@example.com", "ann-own-password")
	for _, tok := range []string{dana, ann} {
		e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/admins", tok, nil)
		e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/admins", tok, map[string]string{"email": "evil@example.com", "password": "evil-password"})
		e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/admins/"+testAdmin, tok, map[string]string{"password": "taken-over"})
		e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/admins/"+testAdmin, tok, nil)
	}
	// PATCH on the users route does not reach admins.
	e.problem(http.StatusNotFound, kindNotFound, "PATCH", "/api/v1/users/"+testAdmin, secondTok, map[string]string{"password": "long-enough"})

	// The second admin removes the first; then they are the last one.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/admins/"+testAdmin, secondTok, nil, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/me", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/admins/"+testAdmin, secondTok, nil)
	e.problem(http.StatusConflict, kindConflict, "DELETE", "/api/v1/admins/second@example.net", secondTok, nil)
}
