package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
)

// maxTokenDays bounds expires_in_days.
const maxTokenDays = 3650

// listTokens handles GET /api/v1/tokens.
func (a *API) listTokens(c *gin.Context) {
	ts, err := a.svc.ListTokens(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": mapAll(ts, toAPIToken)})
}

// createToken handles POST /api/v1/tokens.
func (a *API) createToken(c *gin.Context) {
	var req struct {
		Name          string `json:"name"`
		Scope         string `json:"scope"`
		ExpiresInDays *int   `json:"expires_in_days"`
	}
	if !bindJSON(c, &req) {
		return
	}
	var ttl time.Duration
	if d := req.ExpiresInDays; d != nil {
		if *d > maxTokenDays {
			writeProblem(c, core.Invalid("expires_in_days", fmt.Sprintf("must be at most %d", maxTokenDays)))
			return
		}
		if *d < 0 {
			ttl = -1
		} else {
			ttl = time.Duration(*d) * 24 * time.Hour
		}
	}
	t, secret, err := a.svc.CreateToken(c.Request.Context(), actorOf(c), req.Name, req.Scope, ttl)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": toAPIToken(t), "secret": secret})
}

// deleteToken handles DELETE /api/v1/tokens/{id}.
func (a *API) deleteToken(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		abortProblem(c, kindNotFound, fmt.Sprintf("token %q: not found", c.Param("id")))
		return
	}
	actor := actorOf(c)
	if actor.TokenPrefix != "" {
		// The service lets a server admin's token revoke tokens; the API
		// keeps token management to password sessions throughout.
		writeProblem(c, fmt.Errorf("API tokens cannot manage tokens; sign in with a password: %w", core.ErrForbidden))
		return
	}
	if err := a.svc.DeleteToken(c.Request.Context(), actor, id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
