package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	// typChallenge is the short-lived token of a sign-in whose password
	// was right and whose second factor is awaited.
	typChallenge = "second-factor"
)

// apiTokenPrefix starts every API token secret.
const apiTokenPrefix = "yb_"

// claims are a session JWT's claims. A token is bound to its principal's
// account (uid: a deleted account's tokens do not work for a new account
// at the same address) and credential version (cv: a password change or
// disabling ends it).
type claims struct {
	Kind string `json:"kind"`          // service.KindAdmin or service.KindUser
	Typ  string `json:"typ"`           // typAccess or typRefresh
	UID  int64  `json:"uid"`           // the principal's account ID
	CV   int64  `json:"cv"`            // the principal's credential version
	SID  string `json:"sid,omitempty"` // an access token's session (ended sessions' tokens stop at once)
	jwt.RegisteredClaims
}

// issue signs a session token of typ for an actor, valid until expires.
// A refresh token's ID is its session record's (jti); an access token gets
// a random one.
func (a *API) issue(kind string, actor service.Actor, typ, jti string, expires time.Time) (string, error) {
	if jti == "" {
		b := make([]byte, 16)
		rand.Read(b)
		jti = hex.EncodeToString(b)
	}
	cl := claims{Kind: kind, Typ: typ, UID: actor.PrincipalID(), CV: actor.CredentialVersion, SID: actor.SessionID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    a.issuer,
		Subject:   actor.Email,
		IssuedAt:  jwt.NewNumericDate(a.now()),
		ExpiresAt: jwt.NewNumericDate(expires),
		ID:        jti,
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
	if cl.Subject == "" || cl.UID == 0 || cl.ID == "" || (cl.Kind != service.KindAdmin && cl.Kind != service.KindUser) {
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

// sessionFor issues a token pair for an actor: an access token and the
// refresh token jti of its session, valid until refreshExpires.
func (a *API) sessionFor(c *gin.Context, kind string, actor service.Actor, jti string, refreshExpires time.Time) {
	access, err := a.issue(kind, actor, typAccess, "", a.now().Add(accessTTL))
	if err != nil {
		writeProblem(c, err)
		return
	}
	refresh, err := a.issue(kind, actor, typRefresh, jti, refreshExpires)
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
	if a.throttled(c, ip, req.Email, "too many failed logins; try again later") {
		return
	}
	actor, kind, err := a.svc.Login(c.Request.Context(), req.Email, req.Password)
	if err != nil {
		if !errors.Is(err, core.ErrAuthFailed) {
			writeProblem(c, err)
			return
		}
		a.penalize(c, ip, req.Email)
		abortProblem(c, kindUnauthorized, "wrong email or password")
		return
	}
	if kind == service.KindUser && actor.SecondFactor {
		// The password was right; the failures counted against the
		// account are forgiven only once the second factor is too, so
		// that knowing the password buys no fresh guesses at the code.
		a.askSecondFactor(c, actor)
		return
	}
	a.limiter.Succeeded(c.Request.Context(), ip, req.Email)
	a.startSession(c, kind, actor)
}

// startSession records a new session of a signed-in actor and answers its
// first token pair.
func (a *API) startSession(c *gin.Context, kind string, actor service.Actor) {
	expires := a.now().Add(refreshTTL)
	jti, err := a.svc.StartSession(c.Request.Context(), actor, kind, expires, clientInfo(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	actor.SessionID = jti
	a.sessionFor(c, kind, actor, jti, expires)
}

// clientInfo is where a request comes from, for the list of sessions.
func clientInfo(c *gin.Context) service.ClientInfo {
	return service.ClientInfo{RemoteIP: clientAddr(c).String(), UserAgent: c.Request.UserAgent()}
}

// throttled answers 429 with detail and reports true when the login
// limiter refuses attempts from ip on account.
func (a *API) throttled(c *gin.Context, ip netip.Addr, account, detail string) bool {
	if a.limiter.Check(c.Request.Context(), ip, account) {
		return false
	}
	c.Header("Retry-After", strconv.Itoa(int(limits.DefaultAuthWindow.Seconds())))
	abortProblem(c, kindRateLimited, detail)
	return true
}

// penalize records a wrong password from ip for account and waits the
// delay it earns.
func (a *API) penalize(c *gin.Context, ip netip.Addr, account string) {
	a.limiter.Failed(c.Request.Context(), ip, account)
	if d := a.limiter.Delay(c.Request.Context(), ip, account); d > 0 {
		sleep(c.Request.Context(), d)
	}
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
	// A refresh token is used once: the session moves on to a new one,
	// and a second use of this one revokes the session.
	expires := a.now().Add(refreshTTL)
	actor, kind, jti, err := a.svc.RefreshSession(c.Request.Context(), cl.ID, expires)
	if err == nil && (kind != cl.Kind || actor.PrincipalID() != cl.UID) {
		err = fmt.Errorf("refresh token does not match its session: %w", core.ErrAuthFailed)
	}
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			abortProblem(c, kindUnauthorized, "the refresh token is no longer valid (used, revoked, or the account changed); sign in again")
			return
		}
		writeProblem(c, err)
		return
	}
	a.sessionFor(c, kind, actor, jti, expires)
}

// logout handles POST /api/v1/auth/logout: the session of the refresh
// token ends, and its access tokens stop working at once. An invalid or
// used-up refresh token is no error: there is nothing left to end.
func (a *API) logout(c *gin.Context) {
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
	if cl, err := a.verify(req.RefreshToken, typRefresh); err == nil {
		if err := a.svc.EndSession(c.Request.Context(), cl.ID); err != nil {
			writeProblem(c, err)
			return
		}
	}
	c.Status(http.StatusNoContent)
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
		actor, err = a.svc.ResolveSession(ctx, cl.Kind, cl.Subject, cl.UID, cl.CV, cl.SID)
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
	Email   string        `json:"email"`
	Role    string        `json:"role"`
	Domains []string      `json:"domains"`
	User    *userResponse `json:"user"`
	// SecondFactor is the mail account's second factor; null for a
	// server admin.
	SecondFactor *mailstore.SecondFactorStatus `json:"second_factor"`
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
		ur := toUser(u)
		out.User = &ur
		if out.SecondFactor, err = a.svc.SecondFactorStatus(c.Request.Context(), actor); err != nil {
			writeProblem(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, out)
}
