package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	yubin "github.com/yubinmail/yubin"
)

// specRoutes is every method and path of the agreed REST surface
// (the api-spec). openapi.yaml must describe each of them.
var specRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/refresh"},
	{"POST", "/api/v1/auth/logout"},
	{"GET", "/api/v1/me"},
	{"POST", "/api/v1/me/password"},

	{"GET", "/api/v1/admins"},
	{"POST", "/api/v1/admins"},
	{"PATCH", "/api/v1/admins/{email}"},
	{"DELETE", "/api/v1/admins/{email}"},

	{"GET", "/api/v1/domains"},
	{"POST", "/api/v1/domains"},
	{"GET", "/api/v1/domains/{name}"},
	{"PATCH", "/api/v1/domains/{name}"},
	{"DELETE", "/api/v1/domains/{name}"},
	{"GET", "/api/v1/domains/{name}/usage"},
	{"GET", "/api/v1/domains/{name}/dns"},
	{"GET", "/api/v1/domains/{name}/dns/check"},
	{"POST", "/api/v1/domains/{name}/dkim/rotate"},
	{"POST", "/api/v1/domains/{name}/recovery-key"},
	{"DELETE", "/api/v1/domains/{name}/recovery-key"},
	{"GET", "/api/v1/domains/{name}/admins"},
	{"PUT", "/api/v1/domains/{name}/admins/{address}"},
	{"DELETE", "/api/v1/domains/{name}/admins/{address}"},

	{"GET", "/api/v1/users"},
	{"POST", "/api/v1/users"},
	{"GET", "/api/v1/users/{address}"},
	{"PATCH", "/api/v1/users/{address}"},
	{"DELETE", "/api/v1/users/{address}"},
	{"GET", "/api/v1/users/{address}/quota"},
	{"GET", "/api/v1/users/{address}/encryption"},
	{"GET", "/api/v1/users/{address}/mobileconfig"},
	{"GET", "/api/v1/users/{address}/send-as"},
	{"POST", "/api/v1/users/{address}/send-as"},
	{"DELETE", "/api/v1/users/{address}/send-as/{sendas}"},
	{"GET", "/api/v1/users/{address}/imports"},
	{"POST", "/api/v1/users/{address}/imports"},
	{"GET", "/api/v1/users/{address}/imports/{id}"},
	{"POST", "/api/v1/users/{address}/imports/{id}/cancel"},
	{"GET", "/api/v1/users/{address}/sieve"},
	{"GET", "/api/v1/users/{address}/sieve/{script}"},
	{"PUT", "/api/v1/users/{address}/sieve/{script}"},
	{"DELETE", "/api/v1/users/{address}/sieve/{script}"},
	{"POST", "/api/v1/users/{address}/sieve/{script}/activate"},
	{"POST", "/api/v1/users/{address}/sieve/{script}/deactivate"},
	{"GET", "/api/v1/users/{address}/sieve/{script}/rules"},
	{"PUT", "/api/v1/users/{address}/sieve/{script}/rules"},
	{"GET", "/api/v1/domains/{name}/sieve"},
	{"PUT", "/api/v1/domains/{name}/sieve"},
	{"DELETE", "/api/v1/domains/{name}/sieve"},

	{"GET", "/api/v1/aliases"},
	{"POST", "/api/v1/aliases"},
	{"GET", "/api/v1/aliases/{address}"},
	{"PATCH", "/api/v1/aliases/{address}"},
	{"DELETE", "/api/v1/aliases/{address}"},

	{"GET", "/api/v1/shared-accounts"},
	{"POST", "/api/v1/shared-accounts"},
	{"GET", "/api/v1/shared-accounts/{address}"},
	{"DELETE", "/api/v1/shared-accounts/{address}"},
	{"PUT", "/api/v1/shared-accounts/{address}/members/{member}"},
	{"DELETE", "/api/v1/shared-accounts/{address}/members/{member}"},
	{"PUT", "/api/v1/shared-accounts/{address}/seen"},

	{"GET", "/api/v1/tokens"},
	{"POST", "/api/v1/tokens"},
	{"DELETE", "/api/v1/tokens/{id}"},

	{"GET", "/api/v1/me/app-passwords"},
	{"POST", "/api/v1/me/app-passwords"},
	{"DELETE", "/api/v1/me/app-passwords/{id}"},
	{"GET", "/api/v1/users/{address}/app-passwords"},
	{"DELETE", "/api/v1/users/{address}/app-passwords/{id}"},
	{"POST", "/api/v1/auth/login/second-factor"},
	{"POST", "/api/v1/me/totp"},
	{"POST", "/api/v1/me/totp/confirm"},
	{"POST", "/api/v1/me/totp/disable"},
	{"DELETE", "/api/v1/users/{address}/second-factor"},
	{"GET", "/api/v1/me/passkeys"},
	{"POST", "/api/v1/me/passkeys"},
	{"POST", "/api/v1/me/passkeys/begin"},
	{"DELETE", "/api/v1/me/passkeys/{id}"},
	{"POST", "/api/v1/me/recovery-codes"},
	{"POST", "/api/v1/auth/login/second-factor/passkey"},
	{"POST", "/api/v1/auth/passkey/begin"},
	{"POST", "/api/v1/auth/passkey/finish"},
	{"GET", "/api/v1/settings/security"},
	{"PATCH", "/api/v1/settings/security"},
	{"GET", "/api/v1/me/sessions"},
	{"DELETE", "/api/v1/me/sessions/{id}"},
	{"GET", "/api/v1/users/{address}/sessions"},
	{"DELETE", "/api/v1/users/{address}/sessions/{id}"},

	{"GET", "/api/v1/audit"},

	{"GET", "/api/v1/quarantine"},
	{"GET", "/api/v1/quarantine/{id}"},
	{"DELETE", "/api/v1/quarantine/{id}"},
	{"POST", "/api/v1/quarantine/{id}/release"},

	{"GET", "/api/v1/queue"},
	{"GET", "/api/v1/queue/{id}"},
	{"DELETE", "/api/v1/queue/{id}"},
	{"POST", "/api/v1/queue/{id}/retry"},
	{"POST", "/api/v1/queue/{id}/hold"},
	{"POST", "/api/v1/queue/{id}/release"},

	{"POST", "/api/v1/spam/train"},
	{"GET", "/api/v1/spam/stats"},
	{"GET", "/api/v1/stats"},
	{"GET", "/api/v1/tls/certificates"},
	{"GET", "/.well-known/mta-sts.txt"},
	{"POST", "/api/v1/tls-reports"},
	{"GET", "/api/v1/tls-reports"},

	{"GET", "/api/openapi.yaml"},
	{"GET", "/healthz"},
	{"GET", "/readyz"},
	{"GET", "/metrics"},
	{"GET", "/.well-known/autoconfig/mail/config-v1.1.xml"},
	{"GET", "/mail/config-v1.1.xml"},
	{"POST", "/autodiscover/autodiscover.xml"},
	{"POST", "/Autodiscover/Autodiscover.xml"},
}

// unauthenticatedRoutes need no credential: their operations must say
// `security: []`. Every other route must use the global bearerAuth.
var unauthenticatedRoutes = map[string]bool{
	"POST /api/v1/auth/login":                          true,
	"POST /api/v1/auth/refresh":                        true,
	"POST /api/v1/auth/logout":                         true,
	"POST /api/v1/auth/login/second-factor":            true,
	"POST /api/v1/auth/login/second-factor/passkey":    true,
	"POST /api/v1/auth/passkey/begin":                  true,
	"POST /api/v1/auth/passkey/finish":                 true,
	"GET /api/openapi.yaml":                            true,
	"GET /healthz":                                     true,
	"GET /readyz":                                      true,
	"GET /metrics":                                     true,
	"GET /.well-known/autoconfig/mail/config-v1.1.xml": true,
	"GET /mail/config-v1.1.xml":                        true,
	"POST /autodiscover/autodiscover.xml":              true,
	"POST /Autodiscover/Autodiscover.xml":              true,
	"GET /.well-known/mta-sts.txt":                     true,
	"POST /api/v1/tls-reports":                         true,
}

// loadSpec parses and validates the embedded openapi.yaml.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(yubin.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// specRouter is a router over openapi.yaml for checkAgainstSpec. The
// document's servers list is dropped so that requests to any host (an
// httptest server, say) are matched by path alone.
func specRouter(t testing.TB) routers.Router {
	t.Helper()
	doc := loadSpec(t)
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router over openapi.yaml: %v", err)
	}
	return r
}

// TestOpenAPIValid is the linter check: openapi.yaml must be a valid
// OpenAPI 3 document, examples included.
func TestOpenAPIValid(t *testing.T) {
	doc := loadSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info == nil || doc.Info.Title != "Yubin admin API" {
		t.Errorf("info.title is not %q", "Yubin admin API")
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Fatal("no bearerAuth security scheme")
	}
	if doc.Security == nil || len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("global security is not bearerAuth")
	}
	for _, name := range []string{
		"Problem", "Domain", "DomainCreate", "DomainPatch", "DomainUsage", "DNSRecord", "DNSRecords",
		"User", "UserCreate", "UserPatch", "Quota", "Alias", "AliasCreate", "AliasPatch",
		"APIToken", "TokenCreate", "TokenCreated", "AuditEntry", "LoginRequest", "RefreshRequest",
		"TokenPair", "Me", "DomainList", "UserList", "AliasList", "AuditList",
		"QuarantinedMessage", "QuarantinedMessageDetail", "QuarantineList", "SpamStats",
		"QueuedMessage", "QueuedRecipient", "QueueList",
	} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s is missing", name)
		}
	}
}

// TestOpenAPIRoutes checks openapi.yaml describes exactly the agreed
// routes, each with an operationId, a tag, the right security, and
// problem+json error responses.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadSpec(t)
	want := map[string]bool{}
	ids := map[string]string{}
	for _, r := range specRoutes {
		key := r.method + " " + r.path
		want[key] = true
		item := doc.Paths.Value(r.path)
		if item == nil {
			t.Errorf("%s: path missing from openapi.yaml", key)
			continue
		}
		op := item.GetOperation(r.method)
		if op == nil {
			t.Errorf("%s: operation missing from openapi.yaml", key)
			continue
		}
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", key)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s: operationId %q also used by %s", key, op.OperationID, other)
		}
		ids[op.OperationID] = key
		if len(op.Tags) == 0 {
			t.Errorf("%s: no tags", key)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if unauthenticatedRoutes[key] != public {
			t.Errorf("%s: unauthenticated = %v, want %v", key, public, unauthenticatedRoutes[key])
		}
		if !public {
			if op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s: no 401 response", key)
			}
		}
		for code, ref := range op.Responses.Map() {
			if !strings.HasPrefix(code, "4") && !strings.HasPrefix(code, "5") || ref.Value == nil {
				continue
			}
			if code == "503" && r.path == "/readyz" {
				continue
			}
			if ref.Value.Content.Get("application/problem+json") == nil {
				t.Errorf("%s: response %s is not application/problem+json", key, code)
			}
		}
		if op.RequestBody != nil && op.RequestBody.Value != nil {
			if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
				for _, code := range []int{400, 413, 415, 422} {
					if op.Responses.Status(code) == nil {
						t.Errorf("%s: takes JSON but has no %d response", key, code)
					}
				}
				if s := mt.Schema.Value; s == nil || s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
					t.Errorf("%s: request schema allows additional properties", key)
				}
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if key := method + " " + path; !want[key] {
				t.Errorf("%s: in openapi.yaml but not in the agreed surface", key)
			}
		}
	}
}

// TestOpenAPISpecCheckerSelfTest runs checkAgainstSpec on hand-made
// exchanges that match the examples, so the helper itself is known to work.
func TestOpenAPISpecCheckerSelfTest(t *testing.T) {
	router := specRouter(t)
	mk := func(method, target, ctype string, body []byte) *http.Request {
		req, err := http.NewRequest(method, "http://127.0.0.1:1"+target, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Authorization", "Bearer yb_test")
		return req
	}
	resp := func(status int, ctype string, hdr ...string) *http.Response {
		h := http.Header{}
		if ctype != "" {
			h.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	domain := `{"name":"example.com","enabled":true,"default_quota_bytes":0,"max_quota_bytes":0,"quota_bytes":0,"max_users":0,"used_bytes":0,"used_messages":0,"created_at":"2025-01-02T03:04:05Z"}`

	body := []byte(`{"name":"example.com"}`)
	checkAgainstSpec(t, router, mk("POST", "/api/v1/domains", "application/json", body), body,
		resp(201, "application/json; charset=utf-8", "Location", "/api/v1/domains/example.com"), []byte(domain))
	checkAgainstSpec(t, router, mk("GET", "/api/v1/domains?limit=10&search=ex", "", nil), nil,
		resp(200, "application/json; charset=utf-8"), []byte(`{"items":[`+domain+`],"total":1,"limit":10,"offset":0}`))
	checkAgainstSpec(t, router, mk("DELETE", "/api/v1/domains/example.com?cascade=true", "", nil), nil, resp(204, ""), nil)
	checkAgainstSpec(t, router, mk("GET", "/api/v1/me", "", nil), nil, resp(200, "application/json"),
		[]byte(`{"email":"admin@example.com","role":"admin","domains":[],"user":null,"second_factor":null}`))
	checkAgainstSpec(t, router, mk("GET", "/api/v1/tokens", "", nil), nil, resp(200, "application/json"),
		[]byte(`{"items":[{"id":1,"name":"n","prefix":"abcdefgh","scope":"read","created_at":"2025-01-02T03:04:05Z","expires_at":null,"last_used_at":null}]}`))
	checkAgainstSpec(t, router, mk("GET", "/api/v1/aliases/@example.com", "", nil), nil, resp(200, "application/json"),
		[]byte(`{"address":"@example.com","targets":["ann@example.com"],"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z"}`))
	// An invalid request answered with an error: only the response is checked.
	bad := []byte(`{"nmae":"x"}`)
	checkAgainstSpec(t, router, mk("POST", "/api/v1/domains", "application/json", bad), bad,
		resp(400, "application/problem+json"), []byte(`{"type":"https://yubin.dev/problems/invalid-json","title":"Bad Request","status":400,"detail":"unknown field"}`))
	checkAgainstSpec(t, router, mk("GET", "/api/v1/me", "", nil), nil, resp(401, "application/problem+json", "WWW-Authenticate", "Bearer"),
		[]byte(`{"type":"https://yubin.dev/problems/unauthorized","title":"Unauthorized","status":401}`))
	checkAgainstSpec(t, router, mk("GET", "/metrics", "", nil), nil, resp(200, "text/plain; version=0.0.4; charset=utf-8"),
		[]byte("# HELP up 1\nup 1\n"))
	checkAgainstSpec(t, router, mk("GET", "/api/openapi.yaml", "", nil), nil, resp(200, "application/yaml"), yubin.OpenAPI)
	checkAgainstSpec(t, router, mk("GET", "/readyz", "", nil), nil, resp(503, "application/json"),
		[]byte(`{"status":"not ready","checks":{"database":"ok","listeners":"down"}}`))
	checkAgainstSpec(t, router, mk("GET", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress="+url.QueryEscape("ann@example.com"), "", nil), nil,
		resp(200, "application/xml"), []byte(`<?xml version="1.0"?><clientConfig version="1.1"/>`))
	x := []byte(`<?xml version="1.0"?><Autodiscover/>`)
	checkAgainstSpec(t, router, mk("POST", "/Autodiscover/Autodiscover.xml", "text/xml", x), x, resp(200, "application/xml"), x)
	checkAgainstSpec(t, router, mk("GET", "/api/v1/users/ann@example.com/mobileconfig", "", nil), nil,
		resp(200, "application/x-apple-aspen-config"), []byte(`<?xml version="1.0"?><plist/>`))
}

var registerDecoders sync.Once

// checkAgainstSpec checks one HTTP exchange against openapi.yaml: the
// route must be described, the response status must be documented for
// it, and the response headers and body must match its schema. The
// request (parameters and body) must match too when the server accepted
// it (status below 400); a rejected request may break the spec on purpose
// (that is what is being tested), so then only the response is checked.
// Authentication is not checked (any credential is accepted).
//
// reqBody and respBody are the bodies as sent and received; req.Body and
// resp.Body are not read. router comes from specRouter.
func checkAgainstSpec(t *testing.T, router routers.Router, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	registerDecoders.Do(func() {
		// Bodies kin-openapi has no decoder for: checked as opaque strings.
		for _, ct := range []string{"application/xml", "text/xml", "application/x-apple-aspen-config", "message/rfc822", "application/sieve"} {
			if openapi3filter.RegisteredBodyDecoder(ct) == nil {
				openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
			}
		}
	})

	what := req.Method + " " + req.URL.RequestURI()
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	route, pathParams, err := router.FindRoute(r)
	if err != nil {
		t.Errorf("%s: not described by openapi.yaml: %v", what, err)
		return
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: pathParams,
		Route:      route,
		Options:    opts,
	}
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s: request does not match openapi.yaml: %v", what, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s → %d: response does not match openapi.yaml: %v\nbody: %.500s", what, resp.StatusCode, err, respBody)
	}
}
