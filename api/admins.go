package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// listAdmins handles GET /api/v1/admins.
func (a *API) listAdmins(c *gin.Context) {
	as, err := a.svc.ListAdmins(c.Request.Context(), actorOf(c))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": mapAll(as, toAdmin)})
}

// createAdmin handles POST /api/v1/admins.
func (a *API) createAdmin(c *gin.Context) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !bindJSON(c, &req) {
		return
	}
	ad, err := a.svc.CreateAdmin(c.Request.Context(), actorOf(c), req.Email, req.Password)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/admins/"+url.PathEscape(ad.Email))
	c.JSON(http.StatusCreated, toAdmin(ad))
}

// updateAdmin handles PATCH /api/v1/admins/{email}: a server admin resets
// another's (or their own) password.
func (a *API) updateAdmin(c *gin.Context) {
	var req struct {
		Password *string `json:"password"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.Password == nil {
		writeProblem(c, core.Invalid("password", "is required"))
		return
	}
	ad, err := a.svc.SetAdminPassword(c.Request.Context(), actorOf(c), c.Param("email"), *req.Password)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toAdmin(ad))
}

// deleteAdmin handles DELETE /api/v1/admins/{email}.
func (a *API) deleteAdmin(c *gin.Context) {
	if err := a.svc.DeleteAdmin(c.Request.Context(), actorOf(c), c.Param("email")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// changeOwnPassword handles POST /api/v1/me/password. Wrong current
// passwords count as failed logins, so a stolen session cannot be used to
// guess its owner's password.
func (a *API) changeOwnPassword(c *gin.Context) {
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if !bindJSON(c, &req) {
		return
	}
	actor := actorOf(c)
	ip := clientAddr(c)
	if a.throttled(c, ip, actor.Email, "too many wrong passwords; try again later") {
		return
	}
	err := a.svc.ChangeOwnPassword(c.Request.Context(), actor, req.CurrentPassword, req.NewPassword)
	if errors.Is(err, service.ErrWrongPassword) {
		a.penalize(c, ip, actor.Email)
	}
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
