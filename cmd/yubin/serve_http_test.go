package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRedirectToHTTPS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	loopbackOnly := func(a net.Addr) bool { ta, _ := a.(*net.TCPAddr); return ta != nil && ta.IP.IsLoopback() }
	h := redirectToHTTPS(ok, loopbackOnly, "mail.example.com", 8443)
	tests := []struct {
		name, remote, host, path string
		code                     int
		location                 string
	}{
		{"loopback served", "127.0.0.1:5000", "mail.example.com:8080", "/api/v1/domains", http.StatusTeapot, ""},
		{"ipv6 loopback served", "[::1]:5000", "localhost:8080", "/admin/", http.StatusTeapot, ""},
		{"remote redirected", "192.0.2.7:5000", "mail.example.com:8080", "/api/v1/auth/login?x=1", http.StatusPermanentRedirect, "https://mail.example.com:8443/api/v1/auth/login?x=1"},
		{"remote without port in Host", "192.0.2.7:5000", "mail.example.com", "/admin/", http.StatusPermanentRedirect, "https://mail.example.com:8443/admin/"},
		{"foreign Host ignored", "192.0.2.7:5000", "evil.example", "/admin/", http.StatusPermanentRedirect, "https://mail.example.com:8443/admin/"},
		{"no Host at all", "192.0.2.7:5000", "", "/admin/", http.StatusPermanentRedirect, "https://mail.example.com:8443/admin/"},
		{"health checks served to all", "192.0.2.7:5000", "mail.example.com:8080", "/healthz", http.StatusTeapot, ""},
		{"readiness served to all", "192.0.2.7:5000", "mail.example.com:8080", "/readyz", http.StatusTeapot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://"+tt.host+tt.path, nil)
			r.RemoteAddr, r.Host = tt.remote, tt.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.code || w.Header().Get("Location") != tt.location {
				t.Errorf("%d %q, want %d %q", w.Code, w.Header().Get("Location"), tt.code, tt.location)
			}
		})
	}
}
