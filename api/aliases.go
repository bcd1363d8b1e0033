package api

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/service"
)

// listAliases handles GET /api/v1/aliases.
func (a *API) listAliases(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	l, err := a.svc.ListAliases(c.Request.Context(), actorOf(c), service.AliasFilter{
		Domain: c.Query("domain"),
		Search: c.Query("search"),
		Page:   service.Page{Limit: limit, Offset: offset},
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, page(mapAll(l.Items, toAlias), l.Total, limit, offset))
}

// createAlias handles POST /api/v1/aliases.
func (a *API) createAlias(c *gin.Context) {
	var req struct {
		Address string   `json:"address"`
		Targets []string `json:"targets"`
	}
	if !bindJSON(c, &req) {
		return
	}
	al, err := a.svc.CreateAlias(c.Request.Context(), actorOf(c), req.Address, req.Targets)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/aliases/"+url.PathEscape(al.Address))
	c.JSON(http.StatusCreated, toAlias(al))
}

// getAlias handles GET /api/v1/aliases/{address}.
func (a *API) getAlias(c *gin.Context) {
	al, err := a.svc.GetAlias(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toAlias(al))
}

// updateAlias handles PATCH /api/v1/aliases/{address}.
func (a *API) updateAlias(c *gin.Context) {
	var req struct {
		Targets []string `json:"targets"`
	}
	if !bindJSON(c, &req) {
		return
	}
	al, err := a.svc.UpdateAlias(c.Request.Context(), actorOf(c), c.Param("address"), req.Targets)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toAlias(al))
}

// deleteAlias handles DELETE /api/v1/aliases/{address}.
func (a *API) deleteAlias(c *gin.Context) {
	if err := a.svc.DeleteAlias(c.Request.Context(), actorOf(c), c.Param("address")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
