package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const (
	testAdmin    = "admin@example.net"
	testAdminPW  = "admin-password"
	testHostname = "mail.example.net"
)

// testEnv is an API over a real mailstore, served over real HTTP.
type testEnv struct {
	t     *testing.T
	dir   string
	store *mailstore.Store
	svc   *service.Service
	bayes *bayesdb.Store // the spam filter's token counts the service trains
	api   *API
	srv   *httptest.Server
	admin string // an access token of testAdmin
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// spamClassifier is the classifier serve gives the service: on bs, with
// the domains' and users' scopes.
func spamClassifier(bs *bayesdb.Store) *spam.Classifier {
	return spam.NewClassifier(bs).WithScopes(func(scope string) spam.TokenStore { return bs.Scope(scope) })
}

// newEnv starts an API. Failed logins are blocked after 5 attempts per
// account, without delays.
func newEnv(t *testing.T, mod ...func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bayes, err := bayesdb.Open(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(store, discardLogger()).WithSpamClassifier(spamClassifier(bayes))
	if _, err := svc.EnsureAdmin(ctx, testAdmin, testAdminPW); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Service:     svc,
		Logger:      discardLogger(),
		Hostname:    testHostname,
		Clients:     ClientSettings{Hostname: testHostname, IMAPSPort: 993, SubmissionsPort: 465, HTTPSPort: 443},
		AuthLimiter: limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: 5, BlockAfterIP: 1000}),
		OpenAPI:     []byte("openapi: 3.0.3\n"),
	}
	for _, m := range mod {
		m(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, dir: dir, store: store, svc: svc, bayes: bayes, api: a}
	e.srv = httptest.NewServer(a.Handler())
	t.Cleanup(e.srv.Close)
	e.admin = e.login(testAdmin, testAdminPW)
	return e
}

// rawBody is a request body sent as is.
type rawBody string

// do sends a request with a JSON body (nil: none; rawBody: as is) and
// returns the response with its body read.
func (e *testEnv) do(method, path, token string, body any) (*http.Response, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		r = strings.NewReader(string(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

// send sends req and reads the response.
func (e *testEnv) send(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// must sends a request and fails the test unless the status is want; it
// decodes a JSON answer into out if out is not nil.
func (e *testEnv) must(want int, method, path, token string, body, out any) *http.Response {
	e.t.Helper()
	resp, b := e.do(method, path, token, body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp
}

// problem sends a request, expects a problem of status and kind, and
// returns it.
func (e *testEnv) problem(status int, kind, method, path, token string, body any) Problem {
	e.t.Helper()
	resp, b := e.do(method, path, token, body)
	return checkProblem(e.t, resp, b, status, kind, method+" "+path)
}

func checkProblem(t *testing.T, resp *http.Response, b []byte, status int, kind, what string) Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: decode problem %s: %v", what, b, err)
	}
	if p.Type != problemBase+kind || p.Status != status || p.Title == "" {
		t.Errorf("%s: problem %+v, want kind %s status %d", what, p, kind, status)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: 401 without WWW-Authenticate: Bearer", what)
	}
	return p
}

// login signs in and returns the access token.
func (e *testEnv) login(email, password string) string {
	e.t.Helper()
	var tr tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tr)
	return tr.Token
}

// addDomain creates a domain through the API.
func (e *testEnv) addDomain(name string) {
	e.t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/domains", e.admin, map[string]any{"name": name}, nil)
}

// addUser creates a user through the API.
func (e *testEnv) addUser(address, password string) {
	e.t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/users", e.admin, map[string]any{"address": address, "password": password}, nil)
}

// fieldsOf lists the fields of a validation problem.
func fieldsOf(p Problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}
