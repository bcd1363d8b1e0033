package api

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// sharedList is the body of GET /api/v1/shared-accounts.
type sharedList struct {
	Items []service.SharedAccount `json:"items"`
}

// listSharedAccounts handles GET /api/v1/shared-accounts.
func (a *API) listSharedAccounts(c *gin.Context) {
	l, err := a.svc.ListSharedAccounts(c.Request.Context(), actorOf(c), c.Query("domain"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sharedList{Items: l})
}

// createSharedAccount handles POST /api/v1/shared-accounts.
func (a *API) createSharedAccount(c *gin.Context) {
	var req struct {
		Address     string   `json:"address"`
		DisplayName string   `json:"display_name"`
		QuotaBytes  *int64   `json:"quota_bytes"`
		Members     []string `json:"members"`
	}
	if !bindJSON(c, &req) {
		return
	}
	sa, err := a.svc.CreateSharedAccount(c.Request.Context(), actorOf(c), service.NewSharedAccount{
		Address: req.Address, DisplayName: req.DisplayName, QuotaBytes: req.QuotaBytes, Members: req.Members,
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/shared-accounts/"+url.PathEscape(sa.Address))
	c.JSON(http.StatusCreated, sa)
}

// getSharedAccount handles GET /api/v1/shared-accounts/{address}.
func (a *API) getSharedAccount(c *gin.Context) {
	sa, err := a.svc.GetSharedAccount(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
}

// deleteSharedAccount handles DELETE /api/v1/shared-accounts/{address}.
func (a *API) deleteSharedAccount(c *gin.Context) {
	if err := a.svc.DeleteSharedAccount(c.Request.Context(), actorOf(c), c.Param("address")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// putSharedMember handles PUT /api/v1/shared-accounts/{address}/members/{member}.
func (a *API) putSharedMember(c *gin.Context) {
	var req struct {
		Rights string `json:"rights"`
	}
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	sa, err := a.svc.SetSharedMember(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("member"), req.Rights)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
}

// deleteSharedMember handles DELETE /api/v1/shared-accounts/{address}/members/{member}.
func (a *API) deleteSharedMember(c *gin.Context) {
	if _, err := a.svc.RemoveSharedMember(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("member")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// putSharedSeen handles PUT /api/v1/shared-accounts/{address}/seen.
func (a *API) putSharedSeen(c *gin.Context) {
	var req struct {
		Mailbox     string `json:"mailbox"`
		PrivateSeen *bool  `json:"private_seen"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.PrivateSeen == nil {
		writeProblem(c, core.Invalid("private_seen", "required: true or false"))
		return
	}
	sa, err := a.svc.SetSharedSeen(c.Request.Context(), actorOf(c), c.Param("address"), req.Mailbox, *req.PrivateSeen)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
}
