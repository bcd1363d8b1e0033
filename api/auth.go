package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// Session token types (the "typ" claim).
const (
	typAccess  = "access"
	typRefresh = "refresh"
)

// apiTokenPrefix starts every API token secret.
const apiTokenPrefix = "yb_"

// claims are a session JWT's claims.
type claims struct {
	Kind string `json:"kind"` // service.KindAdmin or service.KindUser
	Typ  string `json:"typ"`  // typAccess or typRefresh
	jwt.RegisteredClaims
}

// issue signs a session token of typ for a principal.
func (a *API) issue(kind, email, typ string, ttl time.Duration) (string, error) {
	now := a.now()
	jti := make([]byte, 16)
	rand.Read(jti)
	cl := claims{Kind: kind, Typ: typ, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    a.issuer,
		Subject:   email,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        hex.EncodeToString(jti),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(a.key)
}

// verify checks a session token of typ and returns its claims.
func (a *API) verify(token, typ string) (*claims, error) {
	cl := &claims{}
	_, err := jwt.ParseWithClaims(token, cl, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(a.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return nil, err
	}
	if cl.Typ != typ {
		return nil, errors.New("wrong token type")
	}
	if cl.Subject == "" || (cl.Kind != service.KindAdmin && cl.Kind != service.KindUser) {
		return nil, errors.New("incomplete claims")
	}
	return cl, nil
}

// tokenResponse is the answer to a login or a refresh.
type tokenResponse struct {
	Token            string `json:"token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Role             string `json:"role"`
	Email            string `json:"email"`
}

// sessionFor issues a token pair for an actor.
func (a *API) sessionFor(c *gin.Context, kind string, actor service.Actor) {
	access, err := a.issue(kind, actor.Email, typAccess, accessTTL)
	if err != nil {
		writeProblem(c, err)
		return
	}
	refresh, err := a.issue(kind, actor.Email, typRefresh, refreshTTL)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, tokenResponse{
		Token: access, TokenType: "Bearer", ExpiresIn: int(accessTTL.Seconds()),
		RefreshToken: refresh, RefreshExpiresIn: int(refreshTTL.Seconds()),
		Role: string(actor.Role), Email: actor.Email,
	})
}

// clientAddr returns the client's IP address.
func clientAddr(c *gin.Context) netip.Addr {
	ip, _ := netip.ParseAddr(c.ClientIP())
	return ip.Unmap()
}

// login handles POST /api/v1/auth/login.
func (a *API) login(c *gin.Context) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !bindJSON(c, &req) {
		return
	}
	var fields []core.FieldError
	if strings.TrimSpace(req.Email) == "" {
		fields = append(fields, core.FieldError{Field: "email", Message: "is required"})
	}
	if req.Password == "" {
		fields = append(fields, core.FieldError{Field: "password", Message: "is required"})
	}
	if fields != nil {
		writeProblem(c, &core.ValidationError{Fields: fields})
		return
	}
	ip := clientAddr(c)
	if !a.limiter.Check(ip, req.Email) {
		c.Header("Retry-After", strconv.Itoa(int(limits.DefaultAuthWindow.Seconds())))
		abortProblem(c, kindRateLimited, "too many failed logins; try again later")
		return
	}
	actor, kind, err := a.svc.Login(c.Request.Context(), req.Email, req.Password)
	if err != nil {
		if !errors.Is(err, core.ErrAuthFailed) {
			writeProblem(c, err)
			return
		}
		a.limiter.Failed(ip, req.Email)
		if d := a.limiter.Delay(ip, req.Email); d > 0 {
			sleep(c.Request.Context(), d)
		}
		abortProblem(c, kindUnauthorized, "wrong email or password")
		return
	}
	a.limiter.Succeeded(ip, req.Email)
	a.sessionFor(c, kind, actor)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// refresh handles POST /api/v1/auth/refresh.
func (a *API) refresh(c *gin.Context) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.RefreshToken == "" {
		writeProblem(c, core.Invalid("refresh_token", "is required"))
		return
	}
	cl, err := a.verify(req.RefreshToken, typRefresh)
	if err != nil {
		abortProblem(c, kindUnauthorized, "invalid or expired refresh token")
		return
	}
	actor, err := a.svc.Resolve(c.Request.Context(), cl.Kind, cl.Subject)
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			abortProblem(c, kindUnauthorized, "the account no longer exists or is disabled")
			return
		}
		writeProblem(c, err)
		return
	}
	a.sessionFor(c, cl.Kind, actor)
}

const actorKey = "yubin.actor"

// authenticate resolves the bearer token into the request's actor.
func (a *API) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h == "" {
		abortProblem(c, kindUnauthorized, "missing bearer token")
		return
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		abortProblem(c, kindUnauthorized, "the Authorization header must be \"Bearer <token>\"")
		return
	}
	ctx := c.Request.Context()
	var actor service.Actor
	var err error
	if strings.HasPrefix(token, apiTokenPrefix) {
		actor, _, err = a.svc.ResolveToken(ctx, token)
	} else {
		var cl *claims
		cl, err = a.verify(token, typAccess)
		if err != nil {
			abortProblem(c, kindUnauthorized, "invalid or expired token")
			return
		}
		actor, err = a.svc.Resolve(ctx, cl.Kind, cl.Subject)
	}
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			abortProblem(c, kindUnauthorized, "invalid or expired token")
			return
		}
		writeProblem(c, err)
		return
	}
	actor.Source = "api"
	actor.RemoteIP = c.ClientIP()
	c.Set(actorKey, actor)
	c.Next()
}

// actorOf returns the request's authenticated actor.
func actorOf(c *gin.Context) service.Actor {
	v, _ := c.Get(actorKey)
	a, _ := v.(service.Actor)
	return a
}

// meResponse describes the authenticated principal.
type meResponse struct {
	Email   string          `json:"email"`
	Role    string          `json:"role"`
	Domains []string        `json:"domains"`
	User    *mailstore.User `json:"user"`
}

// me handles GET /api/v1/me.
func (a *API) me(c *gin.Context) {
	actor := actorOf(c)
	out := meResponse{Email: actor.Email, Role: string(actor.Role), Domains: actor.Domains}
	if out.Domains == nil {
		out.Domains = []string{}
	}
	if actor.UserID != 0 {
		u, err := a.svc.GetUser(c.Request.Context(), actor, actor.Email)
		if err != nil {
			writeProblem(c, err)
			return
		}
		out.User = u
	}
	c.JSON(http.StatusOK, out)
}
