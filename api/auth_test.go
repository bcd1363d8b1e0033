package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/yubinmail/yubin/internal/service"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	var tr tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": testAdmin, "password": testAdminPW}, &tr)
	if tr.Token == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.RefreshExpiresIn != 604800 || tr.Role != "admin" || tr.Email != testAdmin {
		t.Errorf("login answer %+v", tr)
	}
	p := e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": testAdmin, "password": "wrong-password"})
	if strings.Contains(p.Detail, "argon") {
		t.Errorf("detail leaks: %q", p.Detail)
	}
	e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody@example.net", "password": "whatever-pw"})
	p = e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/auth/login", "", map[string]string{"email": ""})
	if got := strings.Join(fieldsOf(p), ","); got != "email,password" {
		t.Errorf("login validation fields %q", got)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t)
	creds := map[string]string{"email": testAdmin, "password": "wrong-password"}
	for range 5 {
		e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/login", "", creds)
	}
	resp, b := e.do("POST", "/api/v1/auth/login", "", creds)
	checkProblem(t, resp, b, http.StatusTooManyRequests, kindRateLimited, "6th failed login")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Even the right password is refused while blocked.
	e.problem(http.StatusTooManyRequests, kindRateLimited, "POST", "/api/v1/auth/login", "", map[string]string{"email": testAdmin, "password": testAdminPW})
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	var me struct {
		Email   string          `json:"email"`
		Role    string          `json:"role"`
		Domains []string        `json:"domains"`
		User    *map[string]any `json:"user"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/me", e.admin, nil, &me)
	if me.Email != testAdmin || me.Role != "admin" || me.Domains == nil || me.User != nil {
		t.Errorf("admin /me %+v", me)
	}
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	tok := e.login("ann@example.com", "ann-password")
	e.must(http.StatusOK, "GET", "/api/v1/me", tok, nil, &me)
	if me.Email != "ann@example.com" || me.Role != "user" || me.User == nil || (*me.User)["address"] != "ann@example.com" {
		t.Errorf("user /me %+v", me)
	}
}

func TestRefresh(t *testing.T) {
	e := newEnv(t)
	var tr tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": testAdmin, "password": testAdminPW}, &tr)

	var tr2 tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken}, &tr2)
	if tr2.Token == "" || tr2.RefreshToken == "" || tr2.Token == tr.Token || tr2.Role != "admin" || tr2.ExpiresIn != 900 {
		t.Errorf("refresh answer %+v", tr2)
	}
	e.must(http.StatusOK, "GET", "/api/v1/me", tr2.Token, nil, nil)

	// A refresh token is no bearer token, and an access token no refresh token.
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/me", tr.RefreshToken, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tr.Token})
	e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": "garbage"})
	e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/auth/refresh", "", map[string]string{})
}

func TestBearerRefused(t *testing.T) {
	e := newEnv(t)
	sign := func(method jwt.SigningMethod, key any, cl claims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(method, cl).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := func() claims {
		ad, err := e.store.GetAdmin(context.Background(), testAdmin)
		if err != nil {
			t.Fatal(err)
		}
		return claims{Kind: service.KindAdmin, Typ: typAccess, UID: ad.ID, CV: ad.CredentialVersion, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testHostname, Subject: testAdmin, ID: "x",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}}
	}
	// The forging works with valid claims...
	e.must(http.StatusOK, "GET", "/api/v1/me", sign(jwt.SigningMethodHS256, e.api.key, valid()), nil, nil)

	expired := valid()
	expired.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
	noExp := valid()
	noExp.ExpiresAt = nil
	otherIssuer := valid()
	otherIssuer.Issuer = "evil.example"
	unknown := valid()
	unknown.Subject = "ghost@example.net"
	badKind := valid()
	badKind.Kind = "root"

	good := sign(jwt.SigningMethodHS256, e.api.key, valid())
	parts := strings.Split(good, ".")
	forged := valid()
	forged.Subject = "other-admin@example.net"
	forgedPayload := strings.Split(sign(jwt.SigningMethodHS256, []byte("k"), forged), ".")[1]
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())

	cases := map[string]string{
		"expired":       sign(jwt.SigningMethodHS256, e.api.key, expired),
		"no exp":        sign(jwt.SigningMethodHS256, e.api.key, noExp),
		"other issuer":  sign(jwt.SigningMethodHS256, e.api.key, otherIssuer),
		"unknown sub":   sign(jwt.SigningMethodHS256, e.api.key, unknown),
		"bad kind":      sign(jwt.SigningMethodHS256, e.api.key, badKind),
		"other key":     sign(jwt.SigningMethodHS256, []byte("another key of thirty-two bytes!"), valid()),
		"HS512":         sign(jwt.SigningMethodHS512, e.api.key, valid()),
		"alg none":      none,
		"tampered":      parts[0] + "." + forgedPayload + "." + parts[2],
		"bad signature": parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"garbage":       "not-a-token",
		"unknown yb_":   "yb_0123456789abcdef0123456789abcdef",
		"empty bearer":  "",
	}
	for name, tok := range cases {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/me", nil)
		if name != "empty bearer" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, b := e.send(req)
		checkProblem(t, resp, b, http.StatusUnauthorized, kindUnauthorized, name)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Basic "+good)
	resp, b := e.send(req)
	checkProblem(t, resp, b, http.StatusUnauthorized, kindUnauthorized, "Basic scheme")
}

func TestDisabledUserLosesAccess(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	tok := e.login("ann@example.com", "ann-password")
	e.must(http.StatusOK, "GET", "/api/v1/me", tok, nil, nil)
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin, map[string]any{"enabled": false}, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/me", tok, nil)
}

// TestSigningKeyShared: two API instances given the same signing key (a
// restart, or two nodes on one database) accept each other's tokens; one
// with another key does not, and a key of the wrong size is refused.
func TestSigningKeyShared(t *testing.T) {
	e := newEnv(t)
	a2, err := New(Options{Service: e.svc, Logger: discardLogger(), Hostname: testHostname, SigningKey: e.api.key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.verify(e.admin, typAccess); err != nil {
		t.Errorf("token of the first instance refused: %v", err)
	}
	other, err := New(Options{Service: e.svc, Logger: discardLogger(), Hostname: testHostname})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.verify(e.admin, typAccess); err == nil {
		t.Error("an instance with another key accepted the token")
	}
	if _, err := New(Options{Service: e.svc, SigningKey: []byte("short")}); err == nil {
		t.Error("New accepted a 5-byte key")
	}
}
