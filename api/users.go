package api

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/service"
)

// listUsers handles GET /api/v1/users.
func (a *API) listUsers(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	l, err := a.svc.ListUsers(c.Request.Context(), actorOf(c), service.UserFilter{
		Domain: c.Query("domain"),
		Search: c.Query("search"),
		Page:   service.Page{Limit: limit, Offset: offset},
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, page(mapAll(l.Items, toUser), l.Total, limit, offset))
}

// createUser handles POST /api/v1/users.
func (a *API) createUser(c *gin.Context) {
	var req struct {
		Address       string `json:"address"`
		Password      string `json:"password"`
		DisplayName   string `json:"display_name"`
		QuotaBytes    *int64 `json:"quota_bytes"`
		QuotaMessages *int64 `json:"quota_messages"`
	}
	if !bindJSON(c, &req) {
		return
	}
	nu := service.NewUser{
		Address:     req.Address,
		Password:    req.Password,
		DisplayName: req.DisplayName,
		QuotaBytes:  req.QuotaBytes,
	}
	if req.QuotaMessages != nil {
		nu.QuotaMessages = *req.QuotaMessages
	}
	u, err := a.svc.CreateUser(c.Request.Context(), actorOf(c), nu)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+url.PathEscape(u.Address))
	c.JSON(http.StatusCreated, toUser(u))
}

// getUser handles GET /api/v1/users/{address}.
func (a *API) getUser(c *gin.Context) {
	u, err := a.svc.GetUser(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}

// updateUser handles PATCH /api/v1/users/{address}.
func (a *API) updateUser(c *gin.Context) {
	var req struct {
		Password      *string `json:"password"`
		DisplayName   *string `json:"display_name"`
		QuotaBytes    *int64  `json:"quota_bytes"`
		QuotaMessages *int64  `json:"quota_messages"`
		Enabled       *bool   `json:"enabled"`
		Language      *string `json:"language"`
		// For a password reset of a user-key account (see
		// GET /users/{address}/encryption).
		RecoveryKey          *string `json:"recovery_key"`
		DiscardEncryptedMail bool    `json:"discard_encrypted_mail"`
	}
	if !bindJSON(c, &req) {
		return
	}
	u, err := a.svc.UpdateUser(c.Request.Context(), actorOf(c), c.Param("address"), service.UserPatch{
		Password:      req.Password,
		DisplayName:   req.DisplayName,
		QuotaBytes:    req.QuotaBytes,
		QuotaMessages: req.QuotaMessages,
		Enabled:       req.Enabled,
		Language:      req.Language,

		RecoveryKey:          req.RecoveryKey,
		DiscardEncryptedMail: req.DiscardEncryptedMail,
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}

// deleteUser handles DELETE /api/v1/users/{address}.
func (a *API) deleteUser(c *gin.Context) {
	if err := a.svc.DeleteUser(c.Request.Context(), actorOf(c), c.Param("address")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// userQuota handles GET /api/v1/users/{address}/quota.
func (a *API) userQuota(c *gin.Context) {
	u, err := a.svc.GetUser(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"quota_bytes":    u.QuotaBytes,
		"used_bytes":     u.UsedBytes,
		"quota_messages": u.QuotaMessages,
		"used_messages":  u.UsedMessages,
	})
}

// userMobileconfig handles GET /api/v1/users/{address}/mobileconfig.
func (a *API) userMobileconfig(c *gin.Context) {
	u, err := a.svc.GetUser(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	if err := writeMobileconfig(c.Writer, a.opts.Clients, u.Address, u.DisplayName); err != nil {
		writeProblem(c, err)
	}
}

// userEncryption handles GET /api/v1/users/{address}/encryption: how the
// account's mail is encrypted at rest and what a password reset would do
// to it.
func (a *API) userEncryption(c *gin.Context) {
	e, err := a.svc.UserEncryption(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}
