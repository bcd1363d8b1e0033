package api

import (
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
