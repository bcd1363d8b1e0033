package api

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// listSendAs handles GET /api/v1/users/{address}/send-as.
func (a *API) listSendAs(c *gin.Context) {
	l, err := a.svc.ListSendAs(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": mapAll(l, toSendAs)})
}

// grantSendAs handles POST /api/v1/users/{address}/send-as.
func (a *API) grantSendAs(c *gin.Context) {
	var req struct {
		Address string `json:"address"`
	}
	if !bindJSON(c, &req) {
		return
	}
	g, err := a.svc.GrantSendAs(c.Request.Context(), actorOf(c), c.Param("address"), req.Address)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+url.PathEscape(c.Param("address"))+"/send-as/"+url.PathEscape(g.Address))
	c.JSON(http.StatusCreated, toSendAs(g))
}

// revokeSendAs handles DELETE /api/v1/users/{address}/send-as/{sendas}.
func (a *API) revokeSendAs(c *gin.Context) {
	if err := a.svc.RevokeSendAs(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("sendas")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
