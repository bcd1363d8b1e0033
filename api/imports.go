package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// listImports handles GET /api/v1/users/{address}/imports.
func (a *API) listImports(c *gin.Context) {
	l, err := a.svc.ListImports(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": l})
}

// startImport handles POST /api/v1/users/{address}/imports.
func (a *API) startImport(c *gin.Context) {
	var req struct {
		Source   string `json:"source"`
		Password string `json:"password"`
		DryRun   bool   `json:"dry_run"`
	}
	if !bindJSON(c, &req) {
		return
	}
	j, err := a.svc.StartImport(c.Request.Context(), actorOf(c), c.Param("address"),
		service.ImportRequest{Source: req.Source, Password: req.Password, DryRun: req.DryRun})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+url.PathEscape(c.Param("address"))+"/imports/"+strconv.FormatInt(j.ID, 10))
	c.JSON(http.StatusAccepted, j)
}

// importID reads the {id} of an import job's path.
func importID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(c, core.ErrNotFound)
		return 0, false
	}
	return id, true
}

// getImport handles GET /api/v1/users/{address}/imports/{id}.
func (a *API) getImport(c *gin.Context) {
	id, ok := importID(c)
	if !ok {
		return
	}
	j, err := a.svc.GetImport(c.Request.Context(), actorOf(c), c.Param("address"), id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

// cancelImport handles POST /api/v1/users/{address}/imports/{id}/cancel.
func (a *API) cancelImport(c *gin.Context) {
	id, ok := importID(c)
	if !ok {
		return
	}
	j, err := a.svc.CancelImport(c.Request.Context(), actorOf(c), c.Param("address"), id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}
