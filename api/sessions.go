package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
)

// listOwnSessions handles GET /api/v1/me/sessions.
func (a *API) listOwnSessions(c *gin.Context) {
	out, err := a.svc.ListOwnSessions(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toSessions(out))
}

// listUserSessions handles GET /api/v1/users/{address}/sessions.
func (a *API) listUserSessions(c *gin.Context) {
	out, err := a.svc.ListUserSessions(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toSessions(out))
}

// sessionID reads the {id} of a session route.
func sessionID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(c, fmt.Errorf("session %q: %w", c.Param("id"), core.ErrNotFound))
		return 0, false
	}
	return id, true
}

// endOwnSession handles DELETE /api/v1/me/sessions/{id}.
func (a *API) endOwnSession(c *gin.Context) {
	id, ok := sessionID(c)
	if !ok {
		return
	}
	if err := a.svc.EndOwnSession(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// endUserSession handles DELETE /api/v1/users/{address}/sessions/{id}.
func (a *API) endUserSession(c *gin.Context) {
	id, ok := sessionID(c)
	if !ok {
		return
	}
	if err := a.svc.EndUserSession(c.Request.Context(), actorOf(c), c.Param("address"), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
