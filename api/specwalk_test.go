package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/routers"

	yubin "github.com/yubinmail/yubin"
	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/dkimkeys"
	"github.com/yubinmail/yubin/mta/queue"
)

const (
	walkAdmin    = "admin@example.net"
	walkAdminPW  = "admin-password"
	walkHostname = "mail.example.net"
	// walkOrigin is the dashboard's origin, where passkeys are used.
	walkOrigin = "https://mail.example.net"
	// walkBlockAfter is the number of failed logins after which an account
	// is rate limited.
	walkBlockAfter = 3
)

// specWalker sends requests to a live API, checks each exchange against
// openapi.yaml and records which operations answered with which status.
type specWalker struct {
	t      *testing.T
	router routers.Router
	srv    *httptest.Server
	store  *mailstore.Store
	queue  *queue.Queue
	seen   map[string]map[int]bool // "METHOD /template" → statuses
}

// walkReq is one request of the walk.
type walkReq struct {
	method, target string
	token          string            // bearer credential; "" sends none
	ctype          string            // Content-Type; "" sends none
	body           []byte            // nil sends no body
	header         map[string]string // extra headers ("Host" sets the Host)
}

// send performs r, fails the test unless the status is want, checks the
// exchange against the spec and returns the response body.
func (w *specWalker) send(want int, r walkReq) (*http.Response, []byte) {
	w.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(string(r.body))
	}
	req, err := http.NewRequest(r.method, w.srv.URL+r.target, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", r.method, r.target, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		w.t.Fatalf("%s %s: read body: %v", r.method, r.target, err)
	}
	if resp.StatusCode != want {
		w.t.Errorf("%s %s: status %d, want %d: %.300s", r.method, r.target, resp.StatusCode, want, b)
	}
	if resp.StatusCode >= 400 && r.target != "/readyz" {
		checkProblemKind(w.t, r.method+" "+r.target, resp, b)
	}

	// Record the operation (the spec's route) and check the exchange.
	probe := req.Clone(context.Background())
	probe.Body = nil
	if route, _, err := w.router.FindRoute(probe); err == nil {
		key := route.Method + " " + route.Path
		if w.seen[key] == nil {
			w.seen[key] = map[int]bool{}
		}
		w.seen[key][resp.StatusCode] = true
	}
	checkAgainstSpec(w.t, w.router, req, r.body, resp, b)
	return resp, b
}

// problemStatus is the status of each problem kind (the agreed surface).
var problemStatus = map[string]int{
	"invalid-json":                 http.StatusBadRequest,
	"validation":                   http.StatusUnprocessableEntity,
	"unauthorized":                 http.StatusUnauthorized,
	"forbidden":                    http.StatusForbidden,
	"not-found":                    http.StatusNotFound,
	"already-exists":               http.StatusConflict,
	"conflict":                     http.StatusConflict,
	"bad-request":                  http.StatusBadRequest,
	"too-large":                    http.StatusRequestEntityTooLarge,
	"unsupported-media-type":       http.StatusUnsupportedMediaType,
	"rate-limited":                 http.StatusTooManyRequests,
	"method-not-allowed":           http.StatusMethodNotAllowed,
	"internal":                     http.StatusInternalServerError,
	"unavailable":                  http.StatusServiceUnavailable,
	"second-factor-required":       http.StatusUnauthorized,
	"second-factor-setup-required": http.StatusForbidden,
}

// checkProblemKind checks an error answer is a problem document whose kind
// goes with its status, and that a 401 says how to authenticate.
func checkProblemKind(t *testing.T, what string, resp *http.Response, b []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s → %d: Content-Type %q, want application/problem+json", what, resp.StatusCode, ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Errorf("%s → %d: not a problem document: %v: %.200s", what, resp.StatusCode, err, b)
		return
	}
	kind, ok := strings.CutPrefix(p.Type, "https://yubin.dev/problems/")
	if !ok || problemStatus[kind] != resp.StatusCode || p.Status != resp.StatusCode || p.Title == "" {
		t.Errorf("%s → %d: problem type %q status %d does not go with the answer's status", what, resp.StatusCode, p.Type, p.Status)
	}
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s → 401 without WWW-Authenticate: Bearer", what)
	}
}

// json sends body (nil: none; []byte or string: as is; else marshalled)
// as application/json and returns the answer decoded into a map (or nil).
func (w *specWalker) json(want int, method, target, token string, body any) map[string]any {
	w.t.Helper()
	r := walkReq{method: method, target: target, token: token}
	switch b := body.(type) {
	case nil:
	case []byte:
		r.body, r.ctype = b, "application/json"
	case string:
		r.body, r.ctype = []byte(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			w.t.Fatal(err)
		}
		r.body, r.ctype = j, "application/json"
	}
	resp, b := w.send(want, r)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		w.t.Errorf("%s %s: decode %.200s: %v", method, target, b, err)
	}
	return out
}

// jsonCT sends a JSON-looking body with another content type.
func (w *specWalker) jsonCT(want int, method, target, token, ctype, body string) {
	w.t.Helper()
	w.send(want, walkReq{method: method, target: target, token: token, ctype: ctype, body: []byte(body)})
}

// tooLarge sends a body over api.MaxBodyBytes.
func (w *specWalker) tooLarge(method, target, token string) {
	w.t.Helper()
	big := `{"name":"` + strings.Repeat("a", api.MaxBodyBytes+10) + `"}`
	w.json(http.StatusRequestEntityTooLarge, method, target, token, big)
}

// str returns m[key] as a string.
func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		t.Fatalf("no %q in %v", key, m)
	}
	return s
}

// newSpecWalker starts the API over a real mailstore, exactly as yubin
// serve wires it, and returns a walker over it.
func newSpecWalker(t *testing.T, notReady *atomic.Bool) *specWalker {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	q, err := queue.Open(ctx, store, store, log)
	if err != nil {
		t.Fatal(err)
	}
	bayes, err := bayesdb.Open(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(store, log).WithQueue(q).WithSpamClassifier(spam.NewClassifier(bayes).WithScopes(func(scope string) spam.TokenStore { return bayes.Scope(scope) }))
	if err := svc.WithPasskeys(service.PasskeyConfig{RPID: walkHostname, Origins: []string{walkOrigin}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureAdmin(ctx, walkAdmin, walkAdminPW); err != nil {
		t.Fatal(err)
	}
	keys, err := dkimkeys.Open(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.WithDKIM(keys)
	jctx, stopJobs := context.WithCancel(ctx)
	jobs, err := importer.NewJobs(jctx, store, filepath.Join(dir, "import.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopJobs(); jobs.Wait() })
	svc.WithImports(jobs)
	a, err := api.New(api.Options{
		Service:  svc,
		Logger:   log,
		Hostname: walkHostname,
		Clients: api.ClientSettings{
			Hostname: walkHostname, IMAPPort: 143, IMAPSPort: 993, POP3Port: 110, POP3SPort: 995,
			SubmissionPort: 587, SubmissionsPort: 465, HTTPSPort: 443,
		},
		Ready: func() (bool, map[string]string) {
			if notReady.Load() {
				return false, map[string]string{"database": "ok", "listeners": "not serving"}
			}
			return true, map[string]string{"database": "ok", "listeners": "up"}
		},
		AuthLimiter: limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: walkBlockAfter, BlockAfterIP: 1000}),
		OpenAPI:     yubin.OpenAPI,
		Resolver:    walkResolver{},
		TLSStatus:   walkTLSStatus,
		TLSReports:  walkTLSReports(t, dir),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &specWalker{t: t, router: specRouter(t), srv: srv, store: store, queue: q, seen: map[string]map[int]bool{}}
}

// TestEveryRouteMatchesSpec walks every operation of openapi.yaml against
// a live server: each route's success answer and the errors that are cheap
// to provoke, every exchange checked against the spec.
func TestEveryRouteMatchesSpec(t *testing.T) {
	var notReady atomic.Bool
	w := newSpecWalker(t, &notReady)

	// ---- system ------------------------------------------------------------
	w.json(http.StatusOK, "GET", "/healthz", "", nil)
	w.json(http.StatusOK, "GET", "/readyz", "", nil)
	notReady.Store(true)
	w.json(http.StatusServiceUnavailable, "GET", "/readyz", "", nil)
	notReady.Store(false)
	if _, b := w.send(http.StatusOK, walkReq{method: "GET", target: "/metrics"}); !strings.Contains(string(b), "yubin_api_requests_total") {
		t.Errorf("metrics lack the API's own counter: %.300s", b)
	}
	if _, b := w.send(http.StatusOK, walkReq{method: "GET", target: "/api/openapi.yaml"}); string(b) != string(yubin.OpenAPI) {
		t.Errorf("/api/openapi.yaml is not the embedded spec")
	}

	// ---- auth --------------------------------------------------------------
	pair := w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": walkAdminPW})
	adm, admRefresh := str(t, pair, "token"), str(t, pair, "refresh_token")
	w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": "wrong-password"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin})
	w.json(http.StatusBadRequest, "POST", "/api/v1/auth/login", "", `{"email":"a@example.net","password":"x","otp":1}`)
	w.json(http.StatusBadRequest, "POST", "/api/v1/auth/login", "", `{"email":`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/auth/login", "", "text/plain", `{"email":"a@example.net","password":"x"}`)
	w.tooLarge("POST", "/api/v1/auth/login", "")
	for range walkBlockAfter {
		w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "victim@example.net", "password": "guess"})
	}
	resp, _ := w.send(http.StatusTooManyRequests, walkReq{method: "POST", target: "/api/v1/auth/login", ctype: "application/json",
		body: []byte(`{"email":"victim@example.net","password":"guess"}`)})
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}

	pair = w.json(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": admRefresh})
	adm2 := str(t, pair, "token")
	w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": adm})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": ""})
	w.json(http.StatusBadRequest, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"x","token":"y"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/auth/refresh", "", "application/x-www-form-urlencoded", "refresh_token=x")
	w.tooLarge("POST", "/api/v1/auth/refresh", "")
	// The refresh token is no bearer credential.
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", admRefresh, nil)
	// A refresh token works once; presenting it again ends its session,
	// whose access tokens stop working at once.
	w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": admRefresh})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", adm2, nil)
	adm = str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": walkAdminPW}), "token")
	adm2 = str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": walkAdminPW}), "token")

	// Signing out ends the session's refresh tokens.
	out := w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": walkAdmin, "password": walkAdminPW})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/auth/logout", ctype: "application/json",
		body: []byte(`{"refresh_token":"` + str(t, out, "refresh_token") + `"}`)})
	w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": str(t, out, "refresh_token")})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", str(t, out, "token"), nil) // its access token too
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/auth/logout", ctype: "application/json", body: []byte(`{"refresh_token":"not-a-jwt"}`)})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": ""})
	w.json(http.StatusBadRequest, "POST", "/api/v1/auth/logout", "", `{"refresh_token":"x","all":true}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/auth/logout", "", "text/plain", "x")
	w.tooLarge("POST", "/api/v1/auth/logout", "")

	me := w.json(http.StatusOK, "GET", "/api/v1/me", adm2, nil)
	if me["role"] != "admin" || me["user"] != nil {
		t.Errorf("me as admin: %v", me)
	}
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", "", nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", "not-a-jwt", nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", "yb_unknown", nil)

	// ---- domains -----------------------------------------------------------
	d := w.json(http.StatusCreated, "POST", "/api/v1/domains", adm,
		map[string]any{"name": "example.com", "enabled": true, "default_quota_bytes": 1 << 30, "max_quota_bytes": 10 << 30, "quota_bytes": 0, "max_users": 50})
	if d["name"] != "example.com" {
		t.Errorf("created domain %v", d)
	}
	if o := w.json(http.StatusCreated, "POST", "/api/v1/domains", adm, map[string]any{"name": "example.org", "spam_reject_score": 20.5, "dmarc_enforce": true, "virus_scan": nil}); o["spam_reject_score"] != 20.5 || o["dmarc_enforce"] != true || o["virus_scan"] != nil {
		t.Errorf("created domain with filter settings %v", o)
	}
	w.json(http.StatusConflict, "POST", "/api/v1/domains", adm, map[string]any{"name": "example.com"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/domains", adm, map[string]any{"name": "not_a_domain"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/domains", adm, map[string]any{"name": "example.net", "max_users": -1})
	w.json(http.StatusBadRequest, "POST", "/api/v1/domains", adm, `{"nmae":"example.net"}`)
	w.json(http.StatusBadRequest, "POST", "/api/v1/domains", adm, `{"name":"example.net","max_users":"many"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/domains", adm, "text/plain", `{"name":"example.net"}`)
	w.tooLarge("POST", "/api/v1/domains", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/domains", "", map[string]any{"name": "example.net"})

	// A user, a domain admin, and API tokens of the admin.
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm,
		map[string]any{"address": "ann@example.com", "password": "ann-password", "display_name": "Ann Example", "quota_bytes": 1 << 30, "quota_messages": 0})
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "bob@example.com", "password": "bob-password"})
	w.send(http.StatusNoContent, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/ann@example.com", token: adm})
	ann := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ann@example.com", "password": "ann-password"}), "token")
	bob := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "bob@example.com", "password": "bob-password"}), "token")
	me = w.json(http.StatusOK, "GET", "/api/v1/me", ann, nil)
	if me["role"] != "domain_admin" || me["user"] == nil {
		t.Errorf("me as domain admin: %v", me)
	}
	me = w.json(http.StatusOK, "GET", "/api/v1/me", bob, nil)
	if me["role"] != "user" || me["user"] == nil {
		t.Errorf("me as user: %v", me)
	}
	created := w.json(http.StatusCreated, "POST", "/api/v1/tokens", adm, map[string]any{"name": "walk", "scope": "write", "expires_in_days": 30})
	writeTok := str(t, created, "secret")
	created = w.json(http.StatusCreated, "POST", "/api/v1/tokens", adm, map[string]any{"name": "reader", "scope": "read"})
	readTok := str(t, created, "secret")
	readTokID := strconv.Itoa(int(created["token"].(map[string]any)["id"].(float64)))
	me = w.json(http.StatusOK, "GET", "/api/v1/me", readTok, nil)
	if me["role"] != "admin" {
		t.Errorf("me with a token: %v", me)
	}

	w.json(http.StatusForbidden, "POST", "/api/v1/domains", bob, map[string]any{"name": "example.net"})
	w.json(http.StatusForbidden, "POST", "/api/v1/domains", ann, map[string]any{"name": "example.net"})
	w.json(http.StatusForbidden, "POST", "/api/v1/domains", readTok, map[string]any{"name": "example.net"})

	l := w.json(http.StatusOK, "GET", "/api/v1/domains?search=example&limit=10&offset=0", adm, nil)
	if l["total"] != float64(2) {
		t.Errorf("domain list %v", l)
	}
	w.json(http.StatusOK, "GET", "/api/v1/domains", ann, nil)
	w.json(http.StatusOK, "GET", "/api/v1/domains", readTok, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/domains?limit=0", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/domains?offset=-1", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains", bob, nil)

	w.json(http.StatusOK, "GET", "/api/v1/domains/example.com", adm, nil)
	w.json(http.StatusOK, "GET", "/api/v1/domains/example.com", ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/domains/nowhere.example", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains/example.com", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.com", bob, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.org", ann, nil)

	w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"max_users": 100, "enabled": true})
	pd := w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm,
		map[string]any{"spam_junk_score": 4.5, "spam_reject_score": 9, "spam_filter": false, "virus_scan": false, "dmarc_enforce": false})
	if pd["spam_junk_score"] != 4.5 || pd["spam_reject_score"] != 9.0 || pd["spam_filter"] != false || pd["virus_scan"] != false || pd["dmarc_enforce"] != false {
		t.Errorf("patched filter settings %v", pd)
	}
	pd = w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm,
		map[string]any{"spam_junk_score": nil, "spam_reject_score": nil, "spam_filter": nil, "virus_scan": nil, "dmarc_enforce": nil})
	for _, k := range []string{"spam_junk_score", "spam_reject_score", "spam_filter", "virus_scan", "dmarc_enforce"} {
		if v, ok := pd[k]; !ok || v != nil {
			t.Errorf("%s after null: %v (present %v)", k, v, ok)
		}
	}
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"spam_junk_score": 0})
	w.json(http.StatusBadRequest, "PATCH", "/api/v1/domains/example.com", adm, `{"spam_filter":"no"}`)
	w.json(http.StatusNotFound, "PATCH", "/api/v1/domains/nowhere.example", adm, map[string]any{"max_users": 1})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"quota_bytes": -5})
	qw := w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"quota_warning_percents": []int{95, 70, 95}, "language": "ja"})
	if fmt.Sprint(qw["quota_warning_percents"]) != "[70 95]" || qw["language"] != "ja" {
		t.Errorf("quota warning levels and language %v %v", qw["quota_warning_percents"], qw["language"])
	}
	w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"quota_warning_percents": []int{80, 95}, "language": ""})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"quota_warning_percents": []int{0}})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"quota_warning_percents": []int{10, 20, 30, 40, 50, 60}})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"language": "fr"})
	w.json(http.StatusBadRequest, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"name": "example.net"})
	w.jsonCT(http.StatusUnsupportedMediaType, "PATCH", "/api/v1/domains/example.com", adm, "text/plain", `{"max_users":1}`)
	w.tooLarge("PATCH", "/api/v1/domains/example.com", adm)
	w.json(http.StatusUnauthorized, "PATCH", "/api/v1/domains/example.com", "", map[string]any{"max_users": 1})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/domains/example.com", ann, map[string]any{"max_users": 1})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/domains/example.com", bob, map[string]any{"max_users": 1})

	u := w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/usage", adm, nil)
	if u["users"] != float64(2) {
		t.Errorf("usage %v", u)
	}
	w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/usage", ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/domains/nowhere.example/usage", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains/example.com/usage", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.com/usage", bob, nil)

	dns := w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/dns", adm, nil)
	if recs, _ := dns["records"].([]any); len(recs) == 0 {
		t.Errorf("dns %v", dns)
	}
	checkDKIMRecords(t, dns, "example.com")
	checkDKIMRecords(t, w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/dns", ann, nil), "example.com")
	w.json(http.StatusNotFound, "GET", "/api/v1/domains/nowhere.example/dns", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains/example.com/dns", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.com/dns", bob, nil)

	rot := w.json(http.StatusOK, "POST", "/api/v1/domains/example.com/dkim/rotate", adm, nil)
	if rot["domain"] != "example.com" {
		t.Errorf("dkim rotate %v", rot)
	}
	if recs, _ := rot["records"].([]any); len(recs) <= len(dns["records"].([]any)) {
		t.Errorf("dkim rotate: %d records, want the new keys' besides the old ones' (%d before)", len(recs), len(dns["records"].([]any)))
	}
	w.json(http.StatusNotFound, "POST", "/api/v1/domains/nowhere.example/dkim/rotate", adm, nil)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/domains/example.com/dkim/rotate", "", nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/domains/example.com/dkim/rotate", ann, nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/domains/example.com/dkim/rotate", bob, nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/domains/example.com/dkim/rotate", readTok, nil)

	// Encryption at rest: the domain's mode and its recovery key.
	if pe := w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"encryption_mode": "user"}); pe["encryption_mode"] != "user" {
		t.Errorf("encryption mode %v", pe["encryption_mode"])
	}
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"encryption_mode": "secret"})
	w.json(http.StatusOK, "PATCH", "/api/v1/domains/example.com", adm, map[string]any{"encryption_mode": ""})
	rk := w.json(http.StatusCreated, "POST", "/api/v1/domains/example.com/recovery-key", ann, nil)
	if pk, _ := rk["private_key"].(string); !strings.HasPrefix(pk, "AGE-SECRET-KEY-1") || rk["public_key"] == "" {
		t.Errorf("recovery key %v", rk)
	}
	if d := w.json(http.StatusOK, "GET", "/api/v1/domains/example.com", adm, nil); d["recovery_public_key"] != rk["public_key"] {
		t.Errorf("domain's recovery key %v, want %v", d["recovery_public_key"], rk["public_key"])
	}
	w.json(http.StatusNotFound, "POST", "/api/v1/domains/nowhere.example/recovery-key", adm, nil)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/domains/example.com/recovery-key", "", nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/domains/example.com/recovery-key", bob, nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/domains/example.com/recovery-key", readTok, nil)
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/recovery-key", token: ann})
	w.json(http.StatusNotFound, "DELETE", "/api/v1/domains/nowhere.example/recovery-key", adm, nil)
	w.json(http.StatusUnauthorized, "DELETE", "/api/v1/domains/example.com/recovery-key", "", nil)
	w.json(http.StatusForbidden, "DELETE", "/api/v1/domains/example.com/recovery-key", bob, nil)

	chk := w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/dns/check", adm, nil)
	if recs, _ := chk["records"].([]any); len(recs) == 0 {
		t.Errorf("dns check %v", chk)
	} else if r, _ := recs[0].(map[string]any); r["type"] != "MX" || r["status"] != "ok" {
		t.Errorf("dns check MX %v", r)
	}
	w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/dns/check", ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/domains/nowhere.example/dns/check", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains/example.com/dns/check", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.com/dns/check", bob, nil)

	admins := w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/admins", adm, nil)
	if items, _ := admins["items"].([]any); len(items) != 1 {
		t.Errorf("admins %v", admins)
	}
	w.json(http.StatusOK, "GET", "/api/v1/domains/example.com/admins", ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/domains/nowhere.example/admins", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/domains/example.com/admins", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/domains/example.com/admins", bob, nil)

	w.send(http.StatusNoContent, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/ann@example.com", token: adm}) // idempotent
	w.send(http.StatusNotFound, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/nobody@example.com", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "PUT", target: "/api/v1/domains/nowhere.example/admins/ann@example.com", token: adm})
	w.send(http.StatusUnprocessableEntity, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/not-an-address", token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/bob@example.com"})
	w.send(http.StatusForbidden, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/bob@example.com", token: ann})
	w.send(http.StatusForbidden, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/bob@example.com", token: bob})

	w.send(http.StatusNoContent, walkReq{method: "PUT", target: "/api/v1/domains/example.com/admins/bob@example.com", token: adm})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/bob@example.com", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/bob@example.com", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/domains/nowhere.example/admins/ann@example.com", token: adm})
	w.send(http.StatusUnprocessableEntity, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/not-an-address", token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/ann@example.com"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/ann@example.com", token: ann})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/domains/example.com/admins/ann@example.com", token: bob})

	// ---- users -------------------------------------------------------------
	w.json(http.StatusConflict, "POST", "/api/v1/users", adm, map[string]any{"address": "ann@example.com", "password": "ann-password"})
	w.json(http.StatusCreated, "POST", "/api/v1/users", ann, map[string]any{"address": "carol@example.com", "password": "carol-password"})
	w.json(http.StatusNotFound, "POST", "/api/v1/users", adm, map[string]any{"address": "dan@nowhere.example", "password": "dan-password"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users", adm, map[string]any{"address": "dan@example.com", "password": "short"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users", adm, map[string]any{"address": "nonsense", "password": "long-enough"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/users", adm, `{"address":"dan@example.com","password":"dan-password","admin":true}`)
	w.json(http.StatusBadRequest, "POST", "/api/v1/users", adm, `{"address":"dan@example.com","password":"dan-password"} {}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/users", adm, "", `{"address":"dan@example.com","password":"dan-password"}`)
	w.tooLarge("POST", "/api/v1/users", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/users", "", map[string]any{"address": "dan@example.com", "password": "dan-password"})
	w.json(http.StatusForbidden, "POST", "/api/v1/users", bob, map[string]any{"address": "dan@example.com", "password": "dan-password"})
	w.json(http.StatusForbidden, "POST", "/api/v1/users", ann, map[string]any{"address": "dan@example.org", "password": "dan-password"})

	l = w.json(http.StatusOK, "GET", "/api/v1/users?domain=example.com&search=car&limit=5&offset=0", adm, nil)
	if l["total"] != float64(1) {
		t.Errorf("user list %v", l)
	}
	w.json(http.StatusOK, "GET", "/api/v1/users", adm, nil)
	w.json(http.StatusOK, "GET", "/api/v1/users", ann, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/users?limit=1001", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/users?domain=not_a_domain", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users", bob, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users?domain=example.org", ann, nil)

	w.json(http.StatusOK, "GET", "/api/v1/users/ann@example.com", adm, nil)
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com", bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com", adm, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/not-an-address", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/ann@example.com", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com", bob, nil)

	w.json(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", adm,
		map[string]any{"display_name": "Ann Q. Example", "quota_bytes": 2 << 30, "quota_messages": 1000, "enabled": true})
	w.json(http.StatusOK, "PATCH", "/api/v1/users/bob@example.com", bob, map[string]any{"display_name": "Bob"})
	if u := w.json(http.StatusOK, "PATCH", "/api/v1/users/bob@example.com", bob, map[string]any{"language": "ja"}); u["language"] != "ja" || u["quota_warning_percent"] != float64(0) {
		t.Errorf("bob's language %v", u)
	}
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/users/bob@example.com", bob, map[string]any{"language": "klingon"})
	// His own password only with the current one (POST /api/v1/me/password).
	w.json(http.StatusForbidden, "PATCH", "/api/v1/users/bob@example.com", bob, map[string]any{"password": "new-bob-password"})
	w.json(http.StatusNotFound, "PATCH", "/api/v1/users/nobody@example.com", adm, map[string]any{"display_name": "X"})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/users/ann@example.com", adm, map[string]any{"password": "short"})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/users/ann@example.com", adm, map[string]any{"quota_bytes": -1})
	w.json(http.StatusBadRequest, "PATCH", "/api/v1/users/ann@example.com", adm, map[string]any{"address": "x@example.com"})
	w.jsonCT(http.StatusUnsupportedMediaType, "PATCH", "/api/v1/users/ann@example.com", adm, "text/json", `{"display_name":"X"}`)
	w.tooLarge("PATCH", "/api/v1/users/ann@example.com", adm)
	w.json(http.StatusUnauthorized, "PATCH", "/api/v1/users/ann@example.com", "", map[string]any{"display_name": "X"})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/users/ann@example.com", bob, map[string]any{"display_name": "X"})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/users/bob@example.com", bob, map[string]any{"quota_bytes": 0})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/users/ann@example.com", readTok, map[string]any{"display_name": "X"})

	q := w.json(http.StatusOK, "GET", "/api/v1/users/ann@example.com/quota", adm, nil)
	if q["quota_bytes"] != float64(2<<30) {
		t.Errorf("quota %v", q)
	}
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/quota", bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/quota", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/ann@example.com/quota", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/quota", bob, nil)

	if e := w.json(http.StatusOK, "GET", "/api/v1/users/ann@example.com/encryption", adm, nil); e["mode"] != "server" || e["reset_effect"] != "none" {
		t.Errorf("encryption %v", e)
	}
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/encryption", bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/encryption", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/ann@example.com/encryption", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/encryption", bob, nil)

	resp, b := w.send(http.StatusOK, walkReq{method: "GET", target: "/api/v1/users/ann@example.com/mobileconfig", token: adm})
	if !strings.Contains(string(b), "<plist") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-apple-aspen-config") {
		t.Errorf("mobileconfig %q: %.200s", resp.Header.Get("Content-Type"), b)
	}
	w.send(http.StatusOK, walkReq{method: "GET", target: "/api/v1/users/bob@example.com/mobileconfig", token: bob})
	w.send(http.StatusNotFound, walkReq{method: "GET", target: "/api/v1/users/nobody@example.com/mobileconfig", token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "GET", target: "/api/v1/users/ann@example.com/mobileconfig"})
	w.send(http.StatusForbidden, walkReq{method: "GET", target: "/api/v1/users/ann@example.com/mobileconfig", token: bob})

	// ---- send-as -------------------------------------------------------------
	sa := w.json(http.StatusCreated, "POST", "/api/v1/users/bob@example.com/send-as", ann, map[string]any{"address": "Carol@example.com"})
	if sa["address"] != "carol@example.com" {
		t.Errorf("send-as right %v", sa)
	}
	w.json(http.StatusConflict, "POST", "/api/v1/users/bob@example.com/send-as", adm, map[string]any{"address": "carol@example.com"})
	w.json(http.StatusNotFound, "POST", "/api/v1/users/bob@example.com/send-as", adm, map[string]any{"address": "nobody@example.com"})
	w.json(http.StatusNotFound, "POST", "/api/v1/users/nobody@example.com/send-as", adm, map[string]any{"address": "carol@example.com"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users/bob@example.com/send-as", adm, map[string]any{"address": "carol"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users/bob@example.com/send-as", adm, map[string]any{"address": "bob@example.com"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/users/bob@example.com/send-as", adm, `{"address":"carol@example.com","user":"x"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/users/bob@example.com/send-as", adm, "text/plain", `{"address":"carol@example.com"}`)
	w.tooLarge("POST", "/api/v1/users/bob@example.com/send-as", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/users/bob@example.com/send-as", "", map[string]any{"address": "ann@example.com"})
	w.json(http.StatusForbidden, "POST", "/api/v1/users/bob@example.com/send-as", bob, map[string]any{"address": "ann@example.com"})
	w.json(http.StatusForbidden, "POST", "/api/v1/users/bob@example.com/send-as", ann, map[string]any{"address": "x@example.org"})
	w.json(http.StatusForbidden, "POST", "/api/v1/users/bob@example.com/send-as", readTok, map[string]any{"address": "ann@example.com"})
	sl := w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/send-as", bob, nil)
	if items, _ := sl["items"].([]any); len(items) != 1 {
		t.Errorf("bob's send-as rights %v", sl)
	}
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/send-as", adm, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/send-as", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/bob@example.com/send-as", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/send-as", bob, nil)
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/send-as/carol@example.com", token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/send-as/carol@example.com"})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/send-as/carol@example.com", token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/send-as/carol@example.com", token: ann})

	// ---- imports -------------------------------------------------------------
	oldMbox := filepath.Join(t.TempDir(), "old.mbox")
	if err := os.WriteFile(oldMbox, []byte("From a@b Mon Feb  3 04:05:06 2020\nSubject: old\n\nold\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A server that accepts and never greets keeps a job running until it
	// is cancelled.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	imp := w.json(http.StatusAccepted, "POST", "/api/v1/users/bob@example.com/imports", adm, map[string]any{"source": "mbox:" + oldMbox, "dry_run": true})
	impPath := "/api/v1/users/bob@example.com/imports/" + strconv.Itoa(int(imp["id"].(float64)))
	w.json(http.StatusOK, "GET", impPath, bob, nil)
	w.json(http.StatusOK, "GET", impPath, ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/imports/"+strconv.Itoa(int(imp["id"].(float64))), bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/bob@example.com/imports/999999", adm, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/ann@example.com/imports/"+strconv.Itoa(int(imp["id"].(float64))), adm, nil)
	w.json(http.StatusUnauthorized, "GET", impPath, "", nil)
	running := w.json(http.StatusAccepted, "POST", "/api/v1/users/bob@example.com/imports", adm, map[string]any{"source": "imap://old@" + mute.Addr().String(), "password": "old-password"})
	if _, leaked := running["password"]; leaked || strings.Contains(fmt.Sprint(running), "old-password") {
		t.Errorf("the job shows its password: %v", running)
	}
	cancelPath := "/api/v1/users/bob@example.com/imports/" + strconv.Itoa(int(running["id"].(float64))) + "/cancel"
	w.json(http.StatusForbidden, "POST", "/api/v1/users/ann@example.com/imports/1/cancel", bob, nil)
	w.json(http.StatusUnauthorized, "POST", cancelPath, "", nil)
	if c := w.json(http.StatusOK, "POST", cancelPath, bob, nil); c["state"] != "cancelled" {
		t.Errorf("cancelled job %v", c)
	}
	w.json(http.StatusConflict, "POST", cancelPath, bob, nil)
	if al := w.json(http.StatusOK, "GET", "/api/v1/audit?action=import.cancel", adm, nil); !strings.Contains(fmt.Sprint(al["items"]), "action:import.cancel") {
		t.Errorf("no audit entry for the cancelled import: %v", al)
	}
	w.json(http.StatusNotFound, "POST", "/api/v1/users/bob@example.com/imports/999999/cancel", adm, nil)
	il := w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/imports", bob, nil)
	if items, _ := il["items"].([]any); len(items) != 2 {
		t.Errorf("bob's imports %v", il)
	}
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/imports", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/bob@example.com/imports", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/imports", bob, nil)
	// Files on the server and private addresses are for server admins.
	w.json(http.StatusForbidden, "POST", "/api/v1/users/bob@example.com/imports", bob, map[string]any{"source": "mbox:" + oldMbox})
	w.json(http.StatusForbidden, "POST", "/api/v1/users/bob@example.com/imports", readTok, map[string]any{"source": "mbox:" + oldMbox})
	w.json(http.StatusForbidden, "POST", "/api/v1/users/ann@example.com/imports", bob, map[string]any{"source": "imaps://x@mail.example.org", "password": "x"})
	w.json(http.StatusNotFound, "POST", "/api/v1/users/nobody@example.com/imports", adm, map[string]any{"source": "mbox:" + oldMbox})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users/bob@example.com/imports", adm, map[string]any{"source": "ftp://old.example.org"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/users/bob@example.com/imports", bob, map[string]any{"source": "imaps://bob@mail.example.org"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/users/bob@example.com/imports", adm, `{"source":"mbox:/x","user":"x"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/users/bob@example.com/imports", adm, "text/plain", `{"source":"mbox:/x"}`)
	w.tooLarge("POST", "/api/v1/users/bob@example.com/imports", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/users/bob@example.com/imports", "", map[string]any{"source": "mbox:/x"})

	// ---- aliases -----------------------------------------------------------
	w.json(http.StatusCreated, "POST", "/api/v1/aliases", adm, map[string]any{"address": "sales@example.com", "targets": []string{"ann@example.com", "bob@example.org"}})
	w.json(http.StatusCreated, "POST", "/api/v1/aliases", ann, map[string]any{"address": "@example.com", "targets": []string{"ann@example.com"}})
	w.json(http.StatusCreated, "POST", "/api/v1/aliases", adm, map[string]any{"address": "info@example.org", "targets": []string{"ann@example.com"}})
	w.json(http.StatusConflict, "POST", "/api/v1/aliases", adm, map[string]any{"address": "sales@example.com", "targets": []string{"ann@example.com"}})
	w.json(http.StatusConflict, "POST", "/api/v1/aliases", adm, map[string]any{"address": "ann@example.com", "targets": []string{"bob@example.com"}})
	w.json(http.StatusNotFound, "POST", "/api/v1/aliases", adm, map[string]any{"address": "x@nowhere.example", "targets": []string{"ann@example.com"}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/aliases", adm, map[string]any{"address": "help@example.com", "targets": []string{}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/aliases", adm, map[string]any{"address": "help", "targets": []string{"ann@example.com"}})
	w.json(http.StatusBadRequest, "POST", "/api/v1/aliases", adm, `{"address":"help@example.com","targets":"ann@example.com"}`)
	w.json(http.StatusBadRequest, "POST", "/api/v1/aliases", adm, `{"address":"help@example.com","targets":["ann@example.com"],"x":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/aliases", adm, "application/xml", `{"address":"help@example.com","targets":["ann@example.com"]}`)
	w.tooLarge("POST", "/api/v1/aliases", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/aliases", "", map[string]any{"address": "help@example.com", "targets": []string{"ann@example.com"}})
	w.json(http.StatusForbidden, "POST", "/api/v1/aliases", bob, map[string]any{"address": "help@example.com", "targets": []string{"ann@example.com"}})
	w.json(http.StatusForbidden, "POST", "/api/v1/aliases", ann, map[string]any{"address": "help@example.org", "targets": []string{"ann@example.com"}})

	l = w.json(http.StatusOK, "GET", "/api/v1/aliases?domain=example.com&search=sal&limit=10&offset=0", adm, nil)
	if l["total"] != float64(1) {
		t.Errorf("alias list %v", l)
	}
	w.json(http.StatusOK, "GET", "/api/v1/aliases", adm, nil)
	w.json(http.StatusOK, "GET", "/api/v1/aliases", ann, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/aliases?offset=x", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/aliases", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/aliases", bob, nil)

	al := w.json(http.StatusOK, "GET", "/api/v1/aliases/sales@example.com", adm, nil)
	if al["address"] != "sales@example.com" {
		t.Errorf("alias %v", al)
	}
	w.json(http.StatusOK, "GET", "/api/v1/aliases/"+url.PathEscape("@example.com"), ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/aliases/nothing@example.com", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/aliases/sales@example.com", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/aliases/sales@example.com", bob, nil)

	w.json(http.StatusOK, "PATCH", "/api/v1/aliases/sales@example.com", adm, map[string]any{"targets": []string{"ann@example.com"}})
	w.json(http.StatusNotFound, "PATCH", "/api/v1/aliases/nothing@example.com", adm, map[string]any{"targets": []string{"ann@example.com"}})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/aliases/sales@example.com", adm, map[string]any{"targets": []string{}})
	w.json(http.StatusBadRequest, "PATCH", "/api/v1/aliases/sales@example.com", adm, map[string]any{"address": "x@example.com", "targets": []string{"ann@example.com"}})
	w.jsonCT(http.StatusUnsupportedMediaType, "PATCH", "/api/v1/aliases/sales@example.com", adm, "text/plain", `{"targets":["ann@example.com"]}`)
	w.tooLarge("PATCH", "/api/v1/aliases/sales@example.com", adm)
	w.json(http.StatusUnauthorized, "PATCH", "/api/v1/aliases/sales@example.com", "", map[string]any{"targets": []string{"ann@example.com"}})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/aliases/sales@example.com", bob, map[string]any{"targets": []string{"ann@example.com"}})

	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/aliases/sales@example.com", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/aliases/sales@example.com", token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/aliases/@example.com"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/aliases/@example.com", token: bob})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/aliases/info@example.org", token: ann})

	// ---- shared accounts ---------------------------------------------------
	sh := w.json(http.StatusCreated, "POST", "/api/v1/shared-accounts", ann, map[string]any{"address": "team@example.com", "display_name": "Team", "members": []string{"ann@example.com"}})
	if ms, _ := sh["members"].([]any); len(ms) != 1 {
		t.Errorf("shared account %v", sh)
	}
	w.json(http.StatusConflict, "POST", "/api/v1/shared-accounts", adm, map[string]any{"address": "team@example.com"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/shared-accounts", adm, map[string]any{"address": "team2@example.com", "members": []string{"nobody@example.com"}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/shared-accounts", adm, map[string]any{"address": "team2"})
	w.json(http.StatusNotFound, "POST", "/api/v1/shared-accounts", adm, map[string]any{"address": "team@nowhere.example"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/shared-accounts", adm, `{"address":"team2@example.com","x":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/shared-accounts", adm, "text/plain", `{"address":"team2@example.com"}`)
	w.tooLarge("POST", "/api/v1/shared-accounts", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/shared-accounts", "", map[string]any{"address": "team2@example.com"})
	w.json(http.StatusForbidden, "POST", "/api/v1/shared-accounts", bob, map[string]any{"address": "team2@example.com"})
	w.json(http.StatusForbidden, "POST", "/api/v1/shared-accounts", ann, map[string]any{"address": "team2@example.org"})

	shl := w.json(http.StatusOK, "GET", "/api/v1/shared-accounts?domain=example.com", ann, nil)
	if items, _ := shl["items"].([]any); len(items) != 1 {
		t.Errorf("shared list %v", shl)
	}
	w.json(http.StatusOK, "GET", "/api/v1/shared-accounts", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/shared-accounts", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/shared-accounts", bob, nil)
	w.json(http.StatusOK, "GET", "/api/v1/shared-accounts/team@example.com", ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/shared-accounts/bob@example.com", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/shared-accounts/team@example.com", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/shared-accounts/team@example.com", bob, nil)

	seen := "/api/v1/shared-accounts/team@example.com/seen"
	sa = w.json(http.StatusOK, "PUT", seen, ann, map[string]any{"mailbox": "INBOX", "private_seen": false})
	if bs, _ := sa["mailboxes"].([]any); len(bs) == 0 {
		t.Errorf("shared account's mailboxes %v", sa)
	}
	w.json(http.StatusOK, "PUT", seen, ann, map[string]any{"private_seen": true})
	w.json(http.StatusUnprocessableEntity, "PUT", seen, ann, map[string]any{"mailbox": "INBOX"})
	w.json(http.StatusUnprocessableEntity, "PUT", seen, ann, map[string]any{"mailbox": "Nowhere", "private_seen": true})
	w.json(http.StatusBadRequest, "PUT", seen, ann, `{"private_seen":true,"x":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "PUT", seen, ann, "text/plain", `{"private_seen":true}`)
	w.tooLarge("PUT", seen, ann)
	w.json(http.StatusUnauthorized, "PUT", seen, "", map[string]any{"private_seen": true})
	w.json(http.StatusForbidden, "PUT", seen, bob, map[string]any{"private_seen": true})
	w.json(http.StatusNotFound, "PUT", "/api/v1/shared-accounts/bob@example.com/seen", adm, map[string]any{"private_seen": true})
	sa = w.json(http.StatusOK, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", ann, map[string]any{"rights": "lrs"})
	if ms, _ := sa["members"].([]any); len(ms) != 2 {
		t.Errorf("members after PUT %v", sa)
	}
	w.send(http.StatusOK, walkReq{method: "PUT", target: "/api/v1/shared-accounts/team@example.com/members/bob@example.com", token: adm})
	w.json(http.StatusUnprocessableEntity, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", adm, map[string]any{"rights": "lrz"})
	w.json(http.StatusUnprocessableEntity, "PUT", "/api/v1/shared-accounts/team@example.com/members/nobody@example.com", adm, map[string]any{"rights": "lr"})
	w.json(http.StatusNotFound, "PUT", "/api/v1/shared-accounts/nothing@example.com/members/bob@example.com", adm, map[string]any{"rights": "lr"})
	w.json(http.StatusBadRequest, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", adm, `{"rights":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", adm, "text/plain", `{"rights":"lr"}`)
	w.tooLarge("PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", adm)
	w.json(http.StatusUnauthorized, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", "", map[string]any{"rights": "lr"})
	w.json(http.StatusForbidden, "PUT", "/api/v1/shared-accounts/team@example.com/members/bob@example.com", bob, map[string]any{"rights": "lr"})

	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com/members/bob@example.com", token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/nothing@example.com/members/bob@example.com", token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com/members/bob@example.com"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com/members/ann@example.com", token: bob})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com", token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com"})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com", token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/shared-accounts/team@example.com", token: adm})

	// ---- tokens ------------------------------------------------------------
	tl := w.json(http.StatusOK, "GET", "/api/v1/tokens", adm, nil)
	if items, _ := tl["items"].([]any); len(items) != 2 {
		t.Errorf("tokens %v", tl)
	}
	w.json(http.StatusOK, "GET", "/api/v1/tokens", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/tokens", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/tokens", writeTok, nil)

	w.json(http.StatusCreated, "POST", "/api/v1/tokens", bob, map[string]any{"name": "bob's phone", "scope": "read", "expires_in_days": 1})
	w.json(http.StatusCreated, "POST", "/api/v1/tokens", adm, map[string]any{"name": "forever", "scope": "read", "expires_in_days": 0})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/tokens", adm, map[string]any{"name": "x", "scope": "admin"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/tokens", adm, map[string]any{"name": "x", "scope": "read", "expires_in_days": -1})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/tokens", adm, map[string]any{"name": "x", "scope": "read", "expires_in_days": 100000})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/tokens", adm, map[string]any{"name": "", "scope": "read"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/tokens", adm, `{"name":"x","scope":"read","secret":"yb_mine"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/tokens", adm, "text/plain", `{"name":"x","scope":"read"}`)
	w.tooLarge("POST", "/api/v1/tokens", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/tokens", "", map[string]any{"name": "x", "scope": "read"})
	w.json(http.StatusForbidden, "POST", "/api/v1/tokens", writeTok, map[string]any{"name": "x", "scope": "read"})

	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/tokens/" + readTokID, token: writeTok})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/tokens/" + readTokID})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/tokens/" + readTokID, token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/tokens/" + readTokID, token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/tokens/999999", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/tokens/abc", token: adm})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", readTok, nil) // revoked

	// ---- server admins and one's own password -----------------------------
	w.walkAdmins(adm, bob, writeTok)

	// ---- app passwords -----------------------------------------------------
	w.walkAppPasswords(adm, ann, bob, writeTok)

	// ---- second factor -----------------------------------------------------
	w.walkSecondFactor(adm, bob, writeTok)
	w.walkPasskeys(adm, writeTok)

	// ---- sessions ----------------------------------------------------------
	w.walkSessions(adm, bob, writeTok)

	// ---- audit -------------------------------------------------------------
	au := w.json(http.StatusOK, "GET", "/api/v1/audit?actor="+url.QueryEscape(walkAdmin)+"&action=domain.create&target=example.com"+
		"&since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&limit=10&offset=0", adm, nil)
	if au["total"] == float64(0) {
		t.Errorf("audit: no domain.create entry: %v", au)
	}
	w.json(http.StatusOK, "GET", "/api/v1/audit", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/audit?since=yesterday", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/audit?limit=-1", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/audit", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/audit", ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/audit", bob, nil)

	w.walkQuarantine(adm, ann, bob)
	w.walkQueue(adm, ann, bob)
	w.walkStats(adm, ann, bob)
	w.walkTLS(adm, ann, bob)
	w.walkSieve(adm, ann, bob)

	// ---- deleting users and domains ----------------------------------------
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/users/carol@example.com"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/users/carol@example.com", token: bob})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/users/carol@example.com", token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/users/carol@example.com", token: adm})

	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/domains/example.com"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/domains/example.com", token: ann})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/domains/example.com", token: bob})
	w.send(http.StatusConflict, walkReq{method: "DELETE", target: "/api/v1/domains/example.com", token: adm})
	w.send(http.StatusUnprocessableEntity, walkReq{method: "DELETE", target: "/api/v1/domains/example.com?cascade=maybe", token: adm})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/domains/example.com?cascade=true", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/domains/example.com", token: adm})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", bob, nil) // bob went with his domain

	// ---- autoconfig --------------------------------------------------------
	for _, p := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"} {
		resp, b := w.send(http.StatusOK, walkReq{method: "GET", target: p + "?emailaddress=" + url.QueryEscape("ann@example.org")})
		if !strings.Contains(string(b), "<clientConfig") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Errorf("%s: %q %.200s", p, resp.Header.Get("Content-Type"), b)
		}
		w.send(http.StatusNotFound, walkReq{method: "GET", target: p + "?emailaddress=" + url.QueryEscape("ann@example.com")}) // deleted above
		w.send(http.StatusBadRequest, walkReq{method: "GET", target: p, header: map[string]string{"Host": "autoconfig.example.org"}})
		w.send(http.StatusBadRequest, walkReq{method: "GET", target: p + "?emailaddress=nobody"})
		w.send(http.StatusBadRequest, walkReq{method: "GET", target: p, header: map[string]string{"Host": "localhost"}})
	}
	const adReq = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
	for _, p := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		for _, ct := range []string{"text/xml", "application/xml"} {
			body := strings.Replace(adReq, "%s", "ann@example.org", 1)
			resp, b := w.send(http.StatusOK, walkReq{method: "POST", target: p, ctype: ct, body: []byte(body)})
			if !strings.Contains(string(b), "<Autodiscover") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
				t.Errorf("%s: %q %.200s", p, resp.Header.Get("Content-Type"), b)
			}
		}
		w.send(http.StatusNotFound, walkReq{method: "POST", target: p, ctype: "text/xml", body: []byte(strings.Replace(adReq, "%s", "ann@example.com", 1))})
		w.send(http.StatusBadRequest, walkReq{method: "POST", target: p, ctype: "text/xml", body: []byte(`<Autodiscover><Request>`)})
		w.send(http.StatusBadRequest, walkReq{method: "POST", target: p, ctype: "text/xml", body: []byte(strings.Replace(adReq, "%s", "nobody", 1))})
		big := "<Autodiscover><Request><EMailAddress>a@example.org</EMailAddress>" + strings.Repeat("<!-- pad -->", 8000) + "</Request></Autodiscover>"
		w.send(http.StatusRequestEntityTooLarge, walkReq{method: "POST", target: p, ctype: "text/xml", body: []byte(big)})
	}

	w.checkCoverage()
}

// checkCoverage fails for every operation of openapi.yaml the walk did not
// exercise, or exercised without its success answer or the errors that
// are cheap to provoke.
func (w *specWalker) checkCoverage() {
	t := w.t
	t.Helper()
	doc := loadSpec(t)
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			got := w.seen[key]
			if len(got) == 0 {
				missing = append(missing, key+": never exercised")
				continue
			}
			var want []int
			for code := range op.Responses.Map() {
				n, err := strconv.Atoi(code)
				if err == nil && n < 300 {
					want = append(want, n) // every success answer
				}
			}
			secured := op.Security == nil || len(*op.Security) > 0
			if secured {
				want = append(want, http.StatusUnauthorized)
				if path != "/api/v1/me" {
					want = append(want, http.StatusForbidden)
				}
			}
			if strings.Contains(path, "{") {
				want = append(want, http.StatusNotFound)
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
				want = append(want, http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge)
			}
			for _, code := range want {
				if op.Responses.Status(code) == nil {
					missing = append(missing, key+": "+strconv.Itoa(code)+" is not documented")
				} else if !got[code] {
					missing = append(missing, key+": "+strconv.Itoa(code)+" never answered")
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("coverage: %s", m)
	}
}

// walkQuarantine walks the quarantine and spam routes. adm is a server
// admin, ann the domain admin of example.com, bob a user of example.com.
func (w *specWalker) walkQuarantine(adm, ann, bob string) {
	t := w.t
	t.Helper()
	ctx := context.Background()
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "dave@example.org", "password": "dave-password"})
	hold := func(subject string, rcpts ...string) string {
		t.Helper()
		q, err := w.store.Quarantine(ctx, mailstore.QuarantineInput{
			Body: strings.NewReader("From: Offers <offers@spam.example>\r\nTo: " + strings.Join(rcpts, ", ") +
				"\r\nSubject: " + subject + "\r\nDate: Thu, 02 Jan 2025 03:04:05 +0000\r\nContent-Type: text/html\r\n\r\n" +
				"<html><head><style>p{}</style></head><body><p>Claim <b>your</b> prize</p><script>alert(1)</script></body></html>\r\n"),
			From: "offers@spam.example", Recipients: rcpts, Subject: subject, Reason: "spam score 9.2", Filter: "spam",
		})
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(q.ID, 10)
	}
	qBob := hold("for bob", "bob@example.com")
	qDave := hold("for dave", "dave@example.org")
	qBoth := hold("for both", "bob@example.com", "dave@example.org")

	// ---- quarantine --------------------------------------------------------
	for _, c := range []struct {
		token string
		total float64
	}{{adm, 3}, {ann, 2}, {bob, 2}} {
		l := w.json(http.StatusOK, "GET", "/api/v1/quarantine", c.token, nil)
		if l["total"] != c.total {
			t.Errorf("quarantine list: total %v, want %v: %v", l["total"], c.total, l)
		}
	}
	l := w.json(http.StatusOK, "GET", "/api/v1/quarantine?recipient=dave@example.org&limit=1&offset=1", adm, nil)
	if items, _ := l["items"].([]any); l["total"] != float64(2) || len(items) != 1 {
		t.Errorf("quarantine list for dave: %v", l)
	}
	w.json(http.StatusOK, "GET", "/api/v1/quarantine?recipient=bob@example.com", ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/quarantine?recipient=dave@example.org", ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/quarantine?recipient=ann@example.com", bob, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/quarantine?recipient=nobody", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/quarantine?limit=0", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/quarantine", "", nil)

	d := w.json(http.StatusOK, "GET", "/api/v1/quarantine/"+qBob, adm, nil)
	if d["preview"] != "Claim your prize" || d["headers"].(map[string]any)["subject"] != "for bob" {
		t.Errorf("quarantined message: %v", d)
	}
	d = w.json(http.StatusOK, "GET", "/api/v1/quarantine/"+qBoth, bob, nil)
	if rc, _ := d["recipients"].([]any); len(rc) != 1 || rc[0] != "bob@example.com" {
		t.Errorf("quarantined message as bob: %v", d)
	}
	w.json(http.StatusOK, "GET", "/api/v1/quarantine/"+qBoth, ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/quarantine/"+qDave, bob, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/quarantine/"+qDave, ann, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/quarantine/999999", adm, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/quarantine/abc", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/quarantine/"+qBob, "", nil)

	w.send(http.StatusUnauthorized, walkReq{method: "POST", target: "/api/v1/quarantine/" + qBob + "/release"})
	w.send(http.StatusForbidden, walkReq{method: "POST", target: "/api/v1/quarantine/" + qDave + "/release", token: bob})
	w.send(http.StatusForbidden, walkReq{method: "POST", target: "/api/v1/quarantine/" + qBoth + "/release", token: ann})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/quarantine/" + qBob + "/release", token: ann})
	w.send(http.StatusNotFound, walkReq{method: "POST", target: "/api/v1/quarantine/" + qBob + "/release", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "POST", target: "/api/v1/quarantine/0/release", token: adm})

	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/quarantine/" + qDave})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/quarantine/" + qDave, token: ann})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/quarantine/" + qBoth, token: bob})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/quarantine/" + qDave, token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/quarantine/" + qDave, token: adm})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/quarantine/" + qBoth + "/release", token: adm})

	// ---- spam --------------------------------------------------------------
	msg := []byte("From: offers@spam.example\r\nSubject: You have won\r\n\r\nClaim your prize now.\r\n")
	train := func(want int, as, token, ctype string, body []byte) {
		t.Helper()
		w.send(want, walkReq{method: "POST", target: "/api/v1/spam/train?as=" + as, token: token, ctype: ctype, body: body})
	}
	train(http.StatusNoContent, "spam", adm, "message/rfc822", msg)
	train(http.StatusNoContent, "ham", ann, "message/rfc822", []byte("From: ann@example.com\r\nSubject: Lunch\r\n\r\nLunch on Tuesday?\r\n"))
	train(http.StatusForbidden, "spam", bob, "message/rfc822", msg)
	train(http.StatusUnauthorized, "spam", "", "message/rfc822", msg)
	train(http.StatusUnprocessableEntity, "maybe", adm, "message/rfc822", msg)
	train(http.StatusUnprocessableEntity, "spam", adm, "message/rfc822", []byte{})
	train(http.StatusUnsupportedMediaType, "spam", adm, "text/plain", msg)
	train(http.StatusUnsupportedMediaType, "spam", adm, "application/json", []byte(`{"raw":"x"}`))
	big := append(append([]byte{}, msg...), strings.Repeat("x", service.MaxTrainBytes)...)
	train(http.StatusRequestEntityTooLarge, "spam", adm, "message/rfc822", big)

	// The server admin trains the server's classifier, the domain admin
	// their domain's.
	st := w.json(http.StatusOK, "GET", "/api/v1/spam/stats", adm, nil)
	if st["spam_messages"] != float64(1) || st["ham_messages"] != float64(0) {
		t.Errorf("spam stats: %v", st)
	}
	st = w.json(http.StatusOK, "GET", "/api/v1/spam/stats", ann, nil)
	if st["spam_messages"] != float64(0) || st["ham_messages"] != float64(1) {
		t.Errorf("spam stats of the domain admin: %v", st)
	}
	w.json(http.StatusForbidden, "GET", "/api/v1/spam/stats", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/spam/stats", "", nil)
}

// walkResolver is the walk's DNS: every name has walkHostname as MX and no
// TXT records.
type walkResolver struct{}

func (walkResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return []*net.MX{{Host: strings.ToUpper(walkHostname) + ".", Pref: 10}}, nil
}

func (walkResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// walkAdmins walks the server admin routes and POST /api/v1/me/password.
// adm is a server admin, bob a user, writeTok an API token of adm.
func (w *specWalker) walkAdmins(adm, bob, writeTok string) {
	t := w.t
	w.json(http.StatusOK, "GET", "/api/v1/admins", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/admins", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/admins", bob, nil)

	w.json(http.StatusCreated, "POST", "/api/v1/admins", adm, map[string]any{"email": "second@example.net", "password": "second-password"})
	w.json(http.StatusConflict, "POST", "/api/v1/admins", adm, map[string]any{"email": "second@example.net", "password": "second-password"})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/admins", adm, map[string]any{"email": "nonsense", "password": "short"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/admins", adm, `{"email":"x@example.net","password":"long-enough","role":"root"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/admins", adm, "text/plain", `{"email":"x@example.net","password":"long-enough"}`)
	w.tooLarge("POST", "/api/v1/admins", adm)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/admins", "", map[string]any{"email": "x@example.net", "password": "long-enough"})
	w.json(http.StatusForbidden, "POST", "/api/v1/admins", bob, map[string]any{"email": "x@example.net", "password": "long-enough"})
	w.json(http.StatusForbidden, "POST", "/api/v1/admins", writeTok, map[string]any{"email": "x@example.net", "password": "long-enough"})

	w.json(http.StatusOK, "PATCH", "/api/v1/admins/second@example.net", adm, map[string]any{"password": "second-reset-pw"})
	w.json(http.StatusNotFound, "PATCH", "/api/v1/admins/nobody@example.net", adm, map[string]any{"password": "long-enough"})
	w.json(http.StatusUnprocessableEntity, "PATCH", "/api/v1/admins/second@example.net", adm, map[string]any{"password": "short"})
	w.json(http.StatusBadRequest, "PATCH", "/api/v1/admins/second@example.net", adm, `{"password":"long-enough","email":"x@example.net"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "PATCH", "/api/v1/admins/second@example.net", adm, "text/plain", `{"password":"long-enough"}`)
	w.tooLarge("PATCH", "/api/v1/admins/second@example.net", adm)
	w.json(http.StatusUnauthorized, "PATCH", "/api/v1/admins/second@example.net", "", map[string]any{"password": "long-enough"})
	w.json(http.StatusForbidden, "PATCH", "/api/v1/admins/second@example.net", bob, map[string]any{"password": "long-enough"})

	second := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "second@example.net", "password": "second-reset-pw"}), "token")
	w.json(http.StatusOK, "GET", "/api/v1/me", second, nil)

	// One's own password, for an admin and a user.
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/password", second, map[string]any{"current_password": "wrong-password", "new_password": "second-own-pw"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/me/password", second, `{"current_password":"second-reset-pw","new_password":"second-own-pw","x":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/me/password", second, "text/plain", `{}`)
	w.tooLarge("POST", "/api/v1/me/password", second)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/me/password", "", map[string]any{"current_password": "x", "new_password": "long-enough"})
	w.json(http.StatusForbidden, "POST", "/api/v1/me/password", writeTok, map[string]any{"current_password": walkAdminPW, "new_password": "long-enough"})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/me/password", token: second, ctype: "application/json",
		body: []byte(`{"current_password":"second-reset-pw","new_password":"second-own-pw"}`)})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", second, nil) // the change ended this session
	second = str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "second@example.net", "password": "second-own-pw"}), "token")
	for range walkBlockAfter {
		w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/password", second, map[string]any{"current_password": "guess", "new_password": "long-enough"})
	}
	w.json(http.StatusTooManyRequests, "POST", "/api/v1/me/password", second, map[string]any{"current_password": "guess", "new_password": "long-enough"})

	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/admins/second@example.net", token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/admins/second@example.net", token: adm})
	w.send(http.StatusConflict, walkReq{method: "DELETE", target: "/api/v1/admins/" + walkAdmin, token: adm})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/admins/" + walkAdmin})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/admins/" + walkAdmin, token: bob})
}
