package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// listOwnPasskeys handles GET /api/v1/me/passkeys.
func (a *API) listOwnPasskeys(c *gin.Context) {
	items, err := a.svc.ListPasskeys(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": mapAll(items, toPasskey), "available": a.svc.PasskeysEnabled()})
}

// beginPasskeyRegistration handles POST /api/v1/me/passkeys/begin: the
// options for navigator.credentials.create().
func (a *API) beginPasskeyRegistration(c *gin.Context) {
	opts, err := a.svc.BeginPasskeyRegistration(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, opts)
}

// finishPasskeyRegistration handles POST /api/v1/me/passkeys: the name
// and the browser's PublicKeyCredential store the new passkey. When it is
// the account's first second factor, the answer holds the recovery codes
// (once) and a new token pair, since every earlier session ended.
func (a *API) finishPasskeyRegistration(c *gin.Context) {
	var req struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if len(req.Credential) == 0 || string(req.Credential) == "null" {
		writeProblem(c, core.Invalid("credential", "is required"))
		return
	}
	actor := actorOf(c)
	pk, codes, err := a.svc.FinishPasskeyRegistration(c.Request.Context(), actor, req.Name, req.Credential)
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := gin.H{"passkey": toPasskey(pk)}
	if codes != nil {
		session, err := a.renewSession(c, actor)
		if err != nil {
			writeProblem(c, err)
			return
		}
		out["recovery_codes"], out["session"] = codes, session
	}
	c.JSON(http.StatusCreated, out)
}

// deleteOwnPasskey handles DELETE /api/v1/me/passkeys/{id}.
func (a *API) deleteOwnPasskey(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		abortProblem(c, kindNotFound, "no such passkey")
		return
	}
	if err := a.svc.DeletePasskey(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// beginPasskeySecondFactor handles POST
// /api/v1/auth/login/second-factor/passkey: with the challenge of a
// sign-in whose password was right, the options for
// navigator.credentials.get(); the assertion goes to
// POST /api/v1/auth/login/second-factor as "passkey".
func (a *API) beginPasskeySecondFactor(c *gin.Context) {
	var req struct {
		Challenge string `json:"challenge"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.Challenge == "" {
		writeProblem(c, core.Invalid("challenge", "is required"))
		return
	}
	actor, ok := a.challengeActor(c, req.Challenge)
	if !ok {
		return
	}
	opts, err := a.svc.BeginPasskeySecondFactor(c.Request.Context(), actor)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, opts)
}

// beginPasskeySignIn handles POST /api/v1/auth/passkey/begin: the options
// for navigator.credentials.get() of a sign-in with a discoverable
// passkey, without address or password.
func (a *API) beginPasskeySignIn(c *gin.Context) {
	if a.throttled(c, clientAddr(c), "", "too many failed sign-ins; try again later") {
		return
	}
	opts, err := a.svc.BeginPasskeySignIn(c.Request.Context())
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, opts)
}

// finishPasskeySignIn handles POST /api/v1/auth/passkey/finish: the
// assertion ("credential") of a discoverable passkey gives the session's
// token pair. Failures count in the login throttle, against the passkey's
// account when it is known.
func (a *API) finishPasskeySignIn(c *gin.Context) {
	var req struct {
		Credential json.RawMessage `json:"credential"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if len(req.Credential) == 0 || string(req.Credential) == "null" {
		writeProblem(c, core.Invalid("credential", "is required"))
		return
	}
	ip := clientAddr(c)
	if a.throttled(c, ip, "", "too many failed sign-ins; try again later") {
		return
	}
	actor, account, err := a.svc.FinishPasskeySignIn(c.Request.Context(), req.Credential, c.ClientIP())
	if account != "" && !a.limiter.Check(c.Request.Context(), ip, account) {
		a.throttled(c, ip, account, "too many failed sign-ins; try again later")
		return
	}
	if err != nil {
		if !errors.Is(err, core.ErrAuthFailed) {
			writeProblem(c, err)
			return
		}
		a.penalize(c, ip, account)
		abortProblem(c, kindUnauthorized, "the passkey was not accepted")
		return
	}
	a.limiter.Succeeded(c.Request.Context(), ip, account)
	a.startSession(c, service.KindUser, actor)
}

// regenerateRecoveryCodes handles POST /api/v1/me/recovery-codes: with the
// password, new recovery codes (shown once) replace the old ones.
func (a *API) regenerateRecoveryCodes(c *gin.Context) {
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
	codes, err := a.svc.RegenerateRecoveryCodes(c.Request.Context(), actor, req.Password)
	if errors.Is(err, service.ErrWrongPassword) {
		a.penalize(c, ip, actor.Email)
	}
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes})
}
