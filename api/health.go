package api

import (
	"context"
	"net/http"
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
	return a.svc.Store().Ping(ctx)
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

// metrics serves GET /metrics.
func (a *API) metrics() gin.HandlerFunc {
	h := promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{ErrorLog: nil})
	return gin.WrapH(h)
}

// openapi serves GET /api/openapi.yaml.
func (a *API) openapi(c *gin.Context) {
	if len(a.opts.OpenAPI) == 0 {
		abortProblem(c, kindNotFound, "the OpenAPI document is not available")
		return
	}
	c.Data(http.StatusOK, "application/yaml", a.opts.OpenAPI)
}
