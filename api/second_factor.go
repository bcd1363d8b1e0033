package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/skip2/go-qrcode"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// challengeTTL is how long the second step of a sign-in may take.
const challengeTTL = 5 * time.Minute

// askSecondFactor answers a sign-in whose password was right with the
// problem "second-factor-required" and a challenge token for
// POST /api/v1/auth/login/second-factor.
func (a *API) askSecondFactor(c *gin.Context, actor service.Actor) {
	challenge, err := a.issue(service.KindUser, actor, typChallenge, "", a.now().Add(challengeTTL))
	if err != nil {
		writeProblem(c, err)
		return
	}
	st, err := a.svc.SecondFactorStatus(c.Request.Context(), actor)
	if err != nil {
		writeProblem(c, err)
		return
	}
	var methods []string
	if st == nil || st.TOTP {
		methods = append(methods, mailstore.FactorTOTP)
	}
	if st != nil && st.Passkeys > 0 && a.svc.PasskeysEnabled() {
		methods = append(methods, mailstore.FactorPasskey)
	}
	methods = append(methods, mailstore.FactorRecoveryCode)
	p := newProblem(kindSecondFactor, "the password is right; within 5 minutes, send the challenge with a code from your authenticator app, a passkey's assertion (begun with POST /api/v1/auth/login/second-factor/passkey) or a recovery code to POST /api/v1/auth/login/second-factor")
	p.Challenge = challenge
	p.Methods = methods
	sendProblem(c, p)
}

// loginSecondFactor handles POST /api/v1/auth/login/second-factor: the
// challenge of the first step and a code ("code" from the authenticator
// or "recovery_code") give the session's token pair. Failures count
// against the account in the same throttle as wrong passwords.
func (a *API) loginSecondFactor(c *gin.Context) {
	var req struct {
		Challenge    string          `json:"challenge"`
		Code         string          `json:"code"`
		RecoveryCode string          `json:"recovery_code"`
		Passkey      json.RawMessage `json:"passkey"`
	}
	if !bindJSON(c, &req) {
		return
	}
	var fields []core.FieldError
	if req.Challenge == "" {
		fields = append(fields, core.FieldError{Field: "challenge", Message: "is required"})
	}
	given := 0
	for _, v := range []bool{req.Code != "", req.RecoveryCode != "", len(req.Passkey) > 0 && string(req.Passkey) != "null"} {
		if v {
			given++
		}
	}
	if given != 1 {
		fields = append(fields, core.FieldError{Field: "code", Message: "give one of code, recovery_code or passkey"})
	}
	if fields != nil {
		writeProblem(c, &core.ValidationError{Fields: fields})
		return
	}
	actor, ok := a.challengeActor(c, req.Challenge)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ip := clientAddr(c)
	var err error
	switch {
	case req.Code != "":
		_, err = a.svc.VerifySecondFactor(ctx, actor, mailstore.FactorTOTP, req.Code)
	case req.RecoveryCode != "":
		_, err = a.svc.VerifySecondFactor(ctx, actor, mailstore.FactorRecoveryCode, req.RecoveryCode)
	default:
		err = a.svc.FinishPasskeySecondFactor(ctx, actor, req.Passkey)
	}
	if err != nil {
		if !errors.Is(err, core.ErrAuthFailed) {
			writeProblem(c, err)
			return
		}
		a.penalize(c, ip, actor.Email)
		if len(req.Passkey) > 0 {
			abortProblem(c, kindUnauthorized, "the passkey was not accepted; begin again")
			return
		}
		abortProblem(c, kindUnauthorized, "wrong or already used code")
		return
	}
	a.limiter.Succeeded(c.Request.Context(), ip, actor.Email)
	a.startSession(c, service.KindUser, actor)
}

// challengeActor returns the user whose sign-in the challenge of the
// first step names, having checked the login throttle; it answers the
// request itself and reports false when the challenge is no good or the
// account is throttled.
func (a *API) challengeActor(c *gin.Context, challenge string) (service.Actor, bool) {
	cl, err := a.verify(challenge, typChallenge)
	if err != nil || cl.Kind != service.KindUser {
		abortProblem(c, kindUnauthorized, "invalid or expired challenge; sign in with the password again")
		return service.Actor{}, false
	}
	if a.throttled(c, clientAddr(c), cl.Subject, "too many failed sign-ins; try again later") {
		return service.Actor{}, false
	}
	actor, err := a.svc.ResolveSession(c.Request.Context(), cl.Kind, cl.Subject, cl.UID, cl.CV, "")
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			abortProblem(c, kindUnauthorized, "invalid or expired challenge; sign in with the password again")
			return service.Actor{}, false
		}
		writeProblem(c, err)
		return service.Actor{}, false
	}
	actor.RemoteIP = c.ClientIP()
	return actor, true
}

// enrolFirstRoutes are what a user who must set up a second factor may
// still call.
var enrolFirstRoutes = map[string]bool{
	"GET /api/v1/me":                 true,
	"POST /api/v1/me/totp":           true,
	"POST /api/v1/me/totp/confirm":   true,
	"POST /api/v1/me/password":       true,
	"GET /api/v1/me/sessions":        true,
	"GET /api/v1/me/passkeys":        true,
	"POST /api/v1/me/passkeys/begin": true,
	"POST /api/v1/me/passkeys":       true,
	"DELETE /api/v1/me/sessions/:id": true,
}

// requireEnrolment refuses, with "second-factor-setup-required", every
// other request of a user whose domain or server requires a second factor
// they have not set up.
func (a *API) requireEnrolment(c *gin.Context) {
	if actor := actorOf(c); actor.MustEnrol && !enrolFirstRoutes[c.Request.Method+" "+c.FullPath()] {
		abortProblem(c, kindEnrolFirst, "your domain requires two-factor sign-in: set up an authenticator (POST /api/v1/me/totp) or a passkey (POST /api/v1/me/passkeys/begin) first")
		return
	}
	c.Next()
}

// startTOTP handles POST /api/v1/me/totp: a new authenticator secret and
// its otpauth URI, to confirm with POST /api/v1/me/totp/confirm.
func (a *API) startTOTP(c *gin.Context) {
	en, err := a.svc.StartTOTP(c.Request.Context(), actorOf(c), a.issuer)
	if err != nil {
		writeProblem(c, err)
		return
	}
	png, err := qrcode.Encode(en.URI, qrcode.Medium, totpQRSize)
	if err != nil {
		writeProblem(c, fmt.Errorf("QR code of the authenticator secret: %w", err))
		return
	}
	c.JSON(http.StatusCreated, totpEnrolment{TOTPEnrolment: *en, QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)})
}

// totpQRSize is the width and height of the enrolment's QR code, in
// pixels.
const totpQRSize = 256

// totpEnrolment is a new authenticator secret with its otpauth URI as a
// QR code (a PNG data URI) for the app's camera.
type totpEnrolment struct {
	mailstore.TOTPEnrolment
	QRCode string `json:"qr_code"`
}

// confirmTOTP handles POST /api/v1/me/totp/confirm: a code from the new
// authenticator turns it on; the answer holds the recovery codes (once)
// and a new token pair, since every earlier session of the account ends.
func (a *API) confirmTOTP(c *gin.Context) {
	var req struct {
		Code string `json:"code"`
	}
	if !bindJSON(c, &req) {
		return
	}
	actor := actorOf(c)
	ip := clientAddr(c)
	if a.throttled(c, ip, actor.Email, "too many wrong codes; try again later") {
		return
	}
	ctx := c.Request.Context()
	codes, err := a.svc.ConfirmTOTP(ctx, actor, req.Code)
	if errors.Is(err, core.ErrAuthFailed) {
		a.penalize(c, ip, actor.Email)
	}
	if err != nil {
		writeProblem(c, err)
		return
	}
	session, err := a.renewSession(c, actor)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes, "session": session})
}

// renewSession starts a new session of the user actor, whose sessions
// just ended because their credentials changed (a second factor turned
// on), and returns its first token pair.
func (a *API) renewSession(c *gin.Context, actor service.Actor) (*tokenResponse, error) {
	ctx := c.Request.Context()
	fresh, err := a.svc.Resolve(ctx, service.KindUser, actor.Email)
	if err != nil {
		return nil, err
	}
	expires := a.now().Add(refreshTTL)
	jti, err := a.svc.StartSession(ctx, fresh, service.KindUser, expires, clientInfo(c))
	if err != nil {
		return nil, err
	}
	fresh.SessionID = jti
	access, err := a.issue(service.KindUser, fresh, typAccess, "", a.now().Add(accessTTL))
	if err != nil {
		return nil, err
	}
	refresh, err := a.issue(service.KindUser, fresh, typRefresh, jti, expires)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		Token: access, TokenType: "Bearer", ExpiresIn: int(accessTTL.Seconds()),
		RefreshToken: refresh, RefreshExpiresIn: int(refreshTTL.Seconds()),
		Role: string(fresh.Role), Email: fresh.Email,
	}, nil
}

// disableTOTP handles POST /api/v1/me/totp/disable: with the password,
// the second factor goes (and the account's sessions end).
func (a *API) disableTOTP(c *gin.Context) {
	var req struct {
		Password string `json:"password"`
	}
	if !bindJSON(c, &req) {
		return
	}
	actor := actorOf(c)
	ip := clientAddr(c)
	if a.throttled(c, ip, actor.Email, "too many wrong passwords; try again later") {
		return
	}
	err := a.svc.DisableSecondFactor(c.Request.Context(), actor, req.Password)
	if errors.Is(err, service.ErrWrongPassword) {
		a.penalize(c, ip, actor.Email)
	}
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// resetSecondFactor handles DELETE /api/v1/users/{address}/second-factor.
func (a *API) resetSecondFactor(c *gin.Context) {
	if err := a.svc.ResetSecondFactor(c.Request.Context(), actorOf(c), c.Param("address")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// getSecurityPolicy handles GET /api/v1/settings/security.
func (a *API) getSecurityPolicy(c *gin.Context) {
	p, err := a.svc.GetSecurityPolicy(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toSecurityPolicy(p))
}

// updateSecurityPolicy handles PATCH /api/v1/settings/security.
func (a *API) updateSecurityPolicy(c *gin.Context) {
	var req struct {
		RequireTwoFactor *bool `json:"require_two_factor"`
		NotifyNewSignIn  *bool `json:"notify_new_sign_in"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.RequireTwoFactor == nil && req.NotifyNewSignIn == nil {
		writeProblem(c, core.Invalid("require_two_factor", "give require_two_factor or notify_new_sign_in"))
		return
	}
	p, err := a.svc.UpdateSecurityPolicy(c.Request.Context(), actorOf(c), mailstore.SecurityPolicyUpdate{
		RequireTwoFactor: req.RequireTwoFactor, NotifyNewSignIn: req.NotifyNewSignIn,
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toSecurityPolicy(p))
}
