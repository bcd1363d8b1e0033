// Package api is Yubin's admin REST API: domains, users, aliases, API
// tokens and the audit log over JSON, with health, metrics and client
// autoconfiguration beside it. Every handler goes through the service
// layer, which authorizes and audits the operation.
package api

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/tlsrpt"
	webadmin "github.com/yubinmail/yubin/web-admin"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// Token lifetimes.
const (
	accessTTL  = 15 * time.Minute
	refreshTTL = 7 * 24 * time.Hour
)

// jwtKeySize is the length of the HS256 key.
const jwtKeySize = 32

// Options configure the API.
type Options struct {
	Service  *service.Service
	Logger   *slog.Logger
	Hostname string // the JWT issuer
	// SigningKey is the HS256 key (32 bytes): `yubin serve` keeps it in the
	// database (internal/jwtkey), shared by every node. nil makes a random
	// one, so that API sessions end when the process does (tests).
	SigningKey []byte
	Clients    ClientSettings
	// Ready reports whether the server is ready, with the state of each
	// check; nil means ready while the mailstore answers.
	Ready       func() (bool, map[string]string)
	AuthLimiter *limits.AuthLimiter // nil: a default one
	Metrics     prometheus.Gatherer // served beside the API's own; may be nil
	// MetricsToken lets clients that are not on loopback read /metrics
	// with "Authorization: Bearer TOKEN"; empty: loopback only.
	MetricsToken string
	OpenAPI      []byte // served at /api/openapi.yaml
	// Resolver looks up what DNS publishes for
	// GET /api/v1/domains/{name}/dns/check; nil answers it with 503.
	Resolver Resolver
	// TLSStatus describes the listeners' certificates for
	// GET /api/v1/tls/certificates; nil answers it with 503.
	TLSStatus func() TLSStatus
	// TLSReports keeps the TLS reports (RFC 8460) other servers post to
	// POST /api/v1/tls-reports; nil answers it with 503.
	TLSReports *tlsrpt.Store
}

// API serves the REST API.
type API struct {
	opts     Options
	svc      *service.Service
	log      *slog.Logger
	issuer   string
	key      []byte
	limiter  *limits.AuthLimiter
	registry *prometheus.Registry
	gatherer prometheus.Gatherer
	requests *prometheus.CounterVec
	engine   *gin.Engine
	now      func() time.Time
	// isLoopback tells loopback clients by their RemoteAddr (replaced in
	// tests, which can only connect over loopback).
	isLoopback func(remoteAddr string) bool
}

var ginModeOnce sync.Once

// New returns the API, loading the JWT signing key from the data folder or
// creating it on first start.
func New(opts Options) (*API, error) {
	if opts.Service == nil {
		return nil, errors.New("api: no service")
	}
	a := &API{opts: opts, svc: opts.Service, log: opts.Logger, issuer: opts.Hostname, limiter: opts.AuthLimiter, now: time.Now, isLoopback: remoteIsLoopback}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("component", "api")
	if a.issuer == "" {
		a.issuer = "yubin"
	}
	if a.limiter == nil {
		a.limiter = limits.NewAuthLimiter(limits.AuthLimiterConfig{})
	}
	switch {
	case opts.SigningKey != nil:
		if len(opts.SigningKey) != jwtKeySize {
			return nil, fmt.Errorf("api: signing key of %d bytes, want %d", len(opts.SigningKey), jwtKeySize)
		}
		a.key = opts.SigningKey
	default:
		a.key = make([]byte, jwtKeySize)
		rand.Read(a.key)
		a.log.Warn("no signing key given: API sessions will not survive a restart")
	}
	a.registry = prometheus.NewRegistry()
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yubin_api_requests_total",
		Help: "HTTP requests to the API by route template, method and status.",
	}, []string{"route", "method", "status"})
	a.registry.MustRegister(a.requests)
	a.gatherer = a.registry
	if opts.Metrics != nil {
		a.gatherer = prometheus.Gatherers{opts.Metrics, a.registry}
	}
	a.engine = a.newEngine()
	return a, nil
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler { return a.engine }

// newEngine builds the router.
func (a *API) newEngine() *gin.Engine {
	ginModeOnce.Do(func() { gin.SetMode(gin.ReleaseMode) })
	e := gin.New()
	_ = e.SetTrustedProxies(nil)
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	e.Use(a.recovery, a.logRequests, a.countRequests, securityHeaders, limitBody)
	e.NoRoute(func(c *gin.Context) { abortProblem(c, kindNotFound, "no such resource") })
	e.NoMethod(func(c *gin.Context) {
		abortProblem(c, kindMethodNotAllowed, c.Request.Method+" is not allowed here")
	})
	a.routes(e)
	return e
}

// routes registers every route.
func (a *API) routes(e *gin.Engine) {
	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metrics())
	e.GET("/api/openapi.yaml", a.openapi)
	mountAutoconfig(e, a.opts.Clients, a.svc.HostsDomain)
	mountMTASTS(e, a.opts.Clients, a.svc.HostsDomain)
	e.POST(tlsReportsPath, a.receiveTLSReport)

	// The web admin dashboard (web-admin/), and / leads to it.
	dashboard := gin.WrapH(webadmin.Handler())
	for _, p := range []string{webadmin.Prefix, webadmin.Prefix + "/*path"} {
		e.GET(p, dashboard)
		e.HEAD(p, dashboard)
	}
	e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, webadmin.Prefix+"/") })

	v1 := e.Group("/api/v1")
	v1.POST("/auth/login", a.login)
	v1.POST("/auth/refresh", a.refresh)
	v1.POST("/auth/logout", a.logout)
	v1.POST("/auth/login/second-factor", a.loginSecondFactor)
	v1.POST("/auth/login/second-factor/passkey", a.beginPasskeySecondFactor)
	v1.POST("/auth/passkey/begin", a.beginPasskeySignIn)
	v1.POST("/auth/passkey/finish", a.finishPasskeySignIn)

	p := v1.Group("", a.authenticate, a.requireEnrolment)
	p.GET("/me", a.me)
	p.POST("/me/password", a.changeOwnPassword)

	p.GET("/admins", a.listAdmins)
	p.POST("/admins", a.createAdmin)
	p.PATCH("/admins/:email", a.updateAdmin)
	p.DELETE("/admins/:email", a.deleteAdmin)

	p.GET("/domains", a.listDomains)
	p.POST("/domains", a.createDomain)
	p.GET("/domains/:name", a.getDomain)
	p.PATCH("/domains/:name", a.updateDomain)
	p.DELETE("/domains/:name", a.deleteDomain)
	p.GET("/domains/:name/usage", a.domainUsage)
	p.GET("/domains/:name/dns", a.domainDNS)
	p.GET("/domains/:name/dns/check", a.domainDNSCheck)
	p.POST("/domains/:name/dkim/rotate", a.rotateDKIM)
	p.POST("/domains/:name/recovery-key", a.createRecoveryKey)
	p.DELETE("/domains/:name/recovery-key", a.deleteRecoveryKey)
	p.GET("/domains/:name/admins", a.listDomainAdmins)
	p.GET("/domains/:name/sieve", a.getDomainSieve)
	p.PUT("/domains/:name/sieve", a.putDomainSieve)
	p.DELETE("/domains/:name/sieve", a.deleteDomainSieve)
	p.PUT("/domains/:name/admins/:address", a.addDomainAdmin)
	p.DELETE("/domains/:name/admins/:address", a.removeDomainAdmin)

	p.GET("/users", a.listUsers)
	p.POST("/users", a.createUser)
	p.GET("/users/:address", a.getUser)
	p.PATCH("/users/:address", a.updateUser)
	p.DELETE("/users/:address", a.deleteUser)
	p.GET("/users/:address/quota", a.userQuota)
	p.GET("/users/:address/encryption", a.userEncryption)
	p.GET("/users/:address/mobileconfig", a.userMobileconfig)
	p.GET("/users/:address/send-as", a.listSendAs)
	p.POST("/users/:address/send-as", a.grantSendAs)
	p.DELETE("/users/:address/send-as/:sendas", a.revokeSendAs)
	p.GET("/users/:address/sieve", a.listSieveScripts)
	p.GET("/users/:address/sieve/:name", a.getSieveScript)
	p.PUT("/users/:address/sieve/:name", a.putSieveScript)
	p.DELETE("/users/:address/sieve/:name", a.deleteSieveScript)
	p.POST("/users/:address/sieve/:name/activate", a.activateSieveScript)
	p.POST("/users/:address/sieve/:name/deactivate", a.deactivateSieveScript)
	p.GET("/users/:address/sieve/:name/rules", a.getSieveRules)
	p.PUT("/users/:address/sieve/:name/rules", a.putSieveRules)
	p.GET("/users/:address/imports", a.listImports)
	p.POST("/users/:address/imports", a.startImport)
	p.GET("/users/:address/imports/:id", a.getImport)
	p.POST("/users/:address/imports/:id/cancel", a.cancelImport)

	p.GET("/aliases", a.listAliases)
	p.POST("/aliases", a.createAlias)
	p.GET("/aliases/:address", a.getAlias)
	p.PATCH("/aliases/:address", a.updateAlias)
	p.DELETE("/aliases/:address", a.deleteAlias)

	p.GET("/shared-accounts", a.listSharedAccounts)
	p.POST("/shared-accounts", a.createSharedAccount)
	p.GET("/shared-accounts/:address", a.getSharedAccount)
	p.DELETE("/shared-accounts/:address", a.deleteSharedAccount)
	p.PUT("/shared-accounts/:address/members/:member", a.putSharedMember)
	p.DELETE("/shared-accounts/:address/members/:member", a.deleteSharedMember)
	p.PUT("/shared-accounts/:address/seen", a.putSharedSeen)

	p.GET("/tokens", a.listTokens)
	p.POST("/tokens", a.createToken)
	p.DELETE("/tokens/:id", a.deleteToken)

	p.GET("/me/app-passwords", a.listOwnAppPasswords)
	p.POST("/me/app-passwords", a.createAppPassword)
	p.DELETE("/me/app-passwords/:id", a.deleteOwnAppPassword)
	p.GET("/users/:address/app-passwords", a.listUserAppPasswords)
	p.DELETE("/users/:address/app-passwords/:id", a.deleteUserAppPassword)

	p.POST("/me/totp", a.startTOTP)
	p.POST("/me/totp/confirm", a.confirmTOTP)
	p.POST("/me/totp/disable", a.disableTOTP)
	p.DELETE("/users/:address/second-factor", a.resetSecondFactor)
	p.GET("/me/passkeys", a.listOwnPasskeys)
	p.POST("/me/passkeys/begin", a.beginPasskeyRegistration)
	p.POST("/me/passkeys", a.finishPasskeyRegistration)
	p.DELETE("/me/passkeys/:id", a.deleteOwnPasskey)
	p.POST("/me/recovery-codes", a.regenerateRecoveryCodes)
	p.GET("/settings/security", a.getSecurityPolicy)
	p.PATCH("/settings/security", a.updateSecurityPolicy)
	p.GET("/me/sessions", a.listOwnSessions)
	p.DELETE("/me/sessions/:id", a.endOwnSession)
	p.GET("/users/:address/sessions", a.listUserSessions)
	p.DELETE("/users/:address/sessions/:id", a.endUserSession)

	p.GET("/audit", a.listAudit)

	p.GET("/quarantine", a.listQuarantine)
	p.GET("/quarantine/:id", a.getQuarantined)
	p.POST("/quarantine/:id/release", a.releaseQuarantined)
	p.DELETE("/quarantine/:id", a.deleteQuarantined)

	p.GET("/queue", a.listQueue)
	p.GET("/queue/:id", a.getQueued)
	p.POST("/queue/:id/retry", a.retryQueued)
	p.POST("/queue/:id/hold", a.holdQueued(true))
	p.POST("/queue/:id/release", a.holdQueued(false))
	p.DELETE("/queue/:id", a.deleteQueued)

	p.POST("/spam/train", a.trainSpam)
	p.GET("/spam/stats", a.spamStats)
	p.GET("/stats", a.stats)
	p.GET("/tls/certificates", a.tlsCertificates)
	p.GET("/tls-reports", a.listTLSReports)
}

const loggerKey = "yubin.logger"

// loggerOf returns the API's logger from the request context.
func loggerOf(c *gin.Context) *slog.Logger {
	if v, ok := c.Get(loggerKey); ok {
		if l, ok := v.(*slog.Logger); ok {
			return l
		}
	}
	return nil
}

// recovery turns a panic into a logged 500 problem.
func (a *API) recovery(c *gin.Context) {
	c.Set(loggerKey, a.log)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		a.log.Error("panic in API handler", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		abortProblem(c, kindInternal, "the server could not complete the request")
	}()
	c.Next()
}

// logRequests logs each request at debug level.
func (a *API) logRequests(c *gin.Context) {
	if !a.log.Enabled(c.Request.Context(), slog.LevelDebug) {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	a.log.Debug("API request", "method", c.Request.Method, "path", c.Request.URL.Path, "route", c.FullPath(),
		"status", c.Writer.Status(), "bytes", c.Writer.Size(), "remote", c.ClientIP(), "duration", time.Since(start))
}

// countRequests counts requests by route template, method and status.
func (a *API) countRequests(c *gin.Context) {
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	a.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
}

// hstsMaxAge is how long browsers keep to HTTPS after an answer over it
// (RFC 6797): one year.
const hstsMaxAge = 365 * 24 * 60 * 60

// securityHeaders sets headers every answer carries, and HSTS on answers
// over HTTPS (browsers ignore it over a connection whose certificate they
// do not trust, RFC 6797 §8.1, so a self-signed certificate locks nobody
// out).
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Request.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age="+strconv.Itoa(hstsMaxAge))
	}
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	c.Next()
}

// limitBody refuses bodies over MaxBodyBytes (or the route's own limit in
// bodyLimits): at once when the length is declared, else when reading
// crosses the limit.
func limitBody(c *gin.Context) {
	limit := int64(MaxBodyBytes)
	if n, ok := bodyLimits[c.FullPath()]; ok {
		limit = n
	}
	if c.Request.ContentLength > limit {
		abortProblem(c, kindTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}
