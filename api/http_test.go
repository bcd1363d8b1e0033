package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestRequestBodies(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")

	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/users", e.admin,
		map[string]any{"address": "ann@example.com", "password": "short", "quota_bytes": -1, "quota_messages": -2})
	if got := strings.Join(fieldsOf(p), ","); got != "password,quota_bytes,quota_messages" {
		t.Errorf("fields %q", got)
	}
	for _, f := range p.Errors {
		if f.Message == "" {
			t.Errorf("field %s without message", f.Field)
		}
	}
	p = e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/users", e.admin, map[string]any{"address": "nonsense", "password": "long-enough"})
	if got := strings.Join(fieldsOf(p), ","); got != "address" {
		t.Errorf("fields %q", got)
	}

	cases := []struct {
		name, body, detail string
	}{
		{"unknown field", `{"address":"ann@example.com","password":"ann-password","x":1}`, `unknown field "x"`},
		{"wrong type", `{"address":"ann@example.com","password":"ann-password","quota_bytes":"lots"}`, "field quota_bytes: expected integer"},
		{"fraction", `{"address":"ann@example.com","password":"ann-password","quota_bytes":1.5}`, "field quota_bytes: expected integer"},
		{"number for string", `{"address":1,"password":"ann-password"}`, "field address: expected string"},
		{"trailing data", `{"address":"ann@example.com","password":"ann-password"} {}`, "unexpected data after the JSON value"},
		{"trailing garbage", `{"address":"ann@example.com","password":"ann-password"}x`, "unexpected data after the JSON value"},
		{"malformed", `{"address":`, "malformed JSON: unexpected end of input"},
		{"syntax", `{"address" "x"}`, "malformed JSON at byte"},
		{"empty", ``, "the request body is empty"},
		{"array", `[1,2]`, "expected a JSON object"},
	}
	for _, c := range cases {
		p := e.problem(http.StatusBadRequest, kindInvalidJSON, "POST", "/api/v1/users", e.admin, rawBody(c.body))
		if !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: detail %q, want %q", c.name, p.Detail, c.detail)
		}
	}

	// Wrong or missing content type.
	for _, ct := range []string{"text/plain", "", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/domains", strings.NewReader(`{"name":"x.example"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, b := e.send(req)
		checkProblem(t, resp, b, http.StatusUnsupportedMediaType, kindUnsupportedMedia, "Content-Type "+ct)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/domains", strings.NewReader(`{"name":"x.example"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if resp, b := e.send(req); resp.StatusCode != http.StatusCreated {
		t.Errorf("charset parameter: %d %s", resp.StatusCode, b)
	}

	// Too large: declared, and streamed without a length.
	big := `{"address":"ann@example.com","password":"` + strings.Repeat("a", 2<<20) + `"}`
	e.problem(http.StatusRequestEntityTooLarge, kindTooLarge, "POST", "/api/v1/users", e.admin, rawBody(big))
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/users", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, b := e.send(req)
	checkProblem(t, resp, b, http.StatusRequestEntityTooLarge, kindTooLarge, "chunked body")
	// Over the limit and malformed early on (issue 11 item 19): still too
	// large, not malformed.
	for name, body := range map[string]string{
		"garbage after the value": `{}` + strings.Repeat("x", 2<<20),
		"syntax error at once":    `{"address" ` + strings.Repeat("x", 2<<20),
		"unknown field first":     `{"x":"` + strings.Repeat("a", 2<<20) + `"}`,
	} {
		for _, chunked := range []bool{true, false} {
			req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/users", io.MultiReader(strings.NewReader(body)))
			if !chunked {
				req.ContentLength = int64(len(body))
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.admin)
			resp, b = e.send(req)
			checkProblem(t, resp, b, http.StatusRequestEntityTooLarge, kindTooLarge, fmt.Sprintf("%s (chunked %v)", name, chunked))
		}
	}
	// Just under the limit is fine (and here invalid for other reasons).
	under := `{"address":"ann@example.com","password":"ann-password","display_name":"` + strings.Repeat("a", MaxBodyBytes-200) + `"}`
	if resp, b := e.do("POST", "/api/v1/users", e.admin, rawBody(under)); resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Errorf("body under the limit refused: %s", b[:100])
	}

	// Query parameters.
	e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/domains?limit=0", e.admin, nil)
	e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/domains?limit=1001", e.admin, nil)
	p = e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/users?limit=x&offset=-1", e.admin, nil)
	if got := strings.Join(fieldsOf(p), ","); got != "limit,offset" {
		t.Errorf("fields %q", got)
	}
}

func TestRoutingAndHeaders(t *testing.T) {
	e := newEnv(t)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/nothing", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/nothing", "", nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/domains", "", nil)
	e.problem(http.StatusMethodNotAllowed, kindMethodNotAllowed, "PUT", "/api/v1/domains", e.admin, map[string]any{})

	resp, _ := e.do("GET", "/api/v1/domains", e.admin, nil)
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestHealthMetricsOpenAPI(t *testing.T) {
	ready := true
	e := newEnv(t, func(o *Options) {
		o.Ready = func() (bool, map[string]string) {
			if ready {
				return true, map[string]string{"database": "ok"}
			}
			return false, map[string]string{"database": "ok", "listeners": "shutting down"}
		}
	})
	get := func(path, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return e.send(req)
	}
	resp, b := get("/healthz", "application/json")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", resp.StatusCode, b)
	}
	resp, b = get("/healthz", "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("healthz without Accept: %d %s", resp.StatusCode, b)
	}
	resp, b = get("/readyz", "*/*")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ready"}` {
		t.Errorf("readyz: %d %s", resp.StatusCode, b)
	}
	ready = false
	resp, b = get("/readyz", "application/json")
	var rz struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(b, &rz); resp.StatusCode != 503 || err != nil || rz.Status != "not ready" || rz.Checks["listeners"] != "shutting down" {
		t.Errorf("readyz not ready: %d %s", resp.StatusCode, b)
	}
	ready = true

	resp, b = get("/api/openapi.yaml", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || !bytes.HasPrefix(b, []byte("openapi:")) {
		t.Errorf("openapi: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	e2 := newEnv(t, func(o *Options) { o.OpenAPI = nil })
	e2.problem(http.StatusNotFound, kindNotFound, "GET", "/api/openapi.yaml", "", nil)

	e.do("GET", "/api/v1/domains/nowhere.example", e.admin, nil)
	resp, b = get("/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`yubin_api_requests_total{method="GET",route="/api/v1/domains/:name",status="404"} 1`,
		`yubin_api_requests_total{method="POST",route="/api/v1/auth/login",status="200"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s:\n%s", want, b)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t)
	e.api.engine.GET("/api/v1/boom", func(*gin.Context) { panic("boom") })
	p := e.problem(http.StatusInternalServerError, kindInternal, "GET", "/api/v1/boom", "", nil)
	if strings.Contains(p.Detail, "boom") {
		t.Errorf("detail leaks the panic: %q", p.Detail)
	}
	e.must(http.StatusOK, "GET", "/api/v1/me", e.admin, nil, nil)
}

func TestPatchTypes(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	p := e.problem(http.StatusBadRequest, kindInvalidJSON, "PATCH", "/api/v1/users/ann@example.com", e.admin, rawBody(`{"enabled":"yes"}`))
	if p.Detail != "field enabled: expected boolean" {
		t.Errorf("detail %q", p.Detail)
	}
	p = e.problem(http.StatusBadRequest, kindInvalidJSON, "PATCH", "/api/v1/aliases/x@example.com", e.admin, rawBody(`{"targets":"ann@example.com"}`))
	if p.Detail != "field targets: expected array" {
		t.Errorf("detail %q", p.Detail)
	}
}
