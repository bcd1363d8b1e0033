package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthTimeout bounds the database ping of a health check.
const healthTimeout = 2 * time.Second

// health answers a health check.
func health(c *gin.Context, code int, body gin.H) {
	c.Header("Cache-Control", "no-store")
	c.JSON(code, body)
}

// ping checks that the mailstore answers.
func (a *API) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return a.svc.Ping(ctx)
}

// healthz handles GET /healthz: 200 while the mailstore answers.
func (a *API) healthz(c *gin.Context) {
	if err := a.ping(c.Request.Context()); err != nil {
		health(c, http.StatusServiceUnavailable, gin.H{"status": "unavailable"})
		return
	}
	health(c, http.StatusOK, gin.H{"status": "ok"})
}

// readyz handles GET /readyz: 200 while the server is ready to serve.
func (a *API) readyz(c *gin.Context) {
	var ok bool
	var checks map[string]string
	if a.opts.Ready != nil {
		ok, checks = a.opts.Ready()
	} else {
		ok, checks = true, map[string]string{"database": "ok"}
		if err := a.ping(c.Request.Context()); err != nil {
			ok, checks["database"] = false, "unavailable"
		}
	}
	if !ok {
		if checks == nil {
			checks = map[string]string{}
		}
		health(c, http.StatusServiceUnavailable, gin.H{"status": "not ready", "checks": checks})
		return
	}
	health(c, http.StatusOK, gin.H{"status": "ready"})
}

// metrics serves GET /metrics to clients on loopback, and to others that
// present the metrics token (Options.MetricsToken) as a bearer token.
func (a *API) metrics() gin.HandlerFunc {
	h := promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{ErrorLog: nil})
	return func(c *gin.Context) {
		if !a.isLoopback(c.Request.RemoteAddr) && !a.metricsTokenOK(c.GetHeader("Authorization")) {
			detail := "the metrics are served on loopback only (set YUBIN_METRICS_TOKEN to scrape them from elsewhere)"
			if a.opts.MetricsToken != "" {
				detail = "the metrics need the metrics token as a bearer token, or a request from loopback"
			}
			abortProblem(c, kindUnauthorized, detail)
			return
		}
		h.ServeHTTP(c.Writer, c.Request)
	}
}

// metricsTokenOK reports whether an Authorization header carries the
// metrics token.
func (a *API) metricsTokenOK(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if a.opts.MetricsToken == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(a.opts.MetricsToken)) == 1
}

// remoteIsLoopback reports whether a request's RemoteAddr is a loopback
// address.
func remoteIsLoopback(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// openapi serves GET /api/openapi.yaml.
func (a *API) openapi(c *gin.Context) {
	if len(a.opts.OpenAPI) == 0 {
		abortProblem(c, kindNotFound, "the OpenAPI document is not available")
		return
	}
	c.Data(http.StatusOK, "application/yaml", a.opts.OpenAPI)
}
