package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// appPasswordRequest is the body of POST /api/v1/me/app-passwords.
type appPasswordRequest struct {
	Name      string     `json:"name"`
	Protocols []string   `json:"protocols"`
	ExpiresAt *time.Time `json:"expires_at"`
	// CurrentPassword is needed when the account's mail is encrypted with
	// its password (user-key mode): the app password gets a copy of the key.
	CurrentPassword string `json:"current_password"`
}

// createAppPassword handles POST /api/v1/me/app-passwords: the new
// password is in the answer once, in the field "password".
func (a *API) createAppPassword(c *gin.Context) {
	var req appPasswordRequest
	if !bindJSON(c, &req) {
		return
	}
	actor := actorOf(c)
	ap, secret, err := a.svc.CreateAppPassword(c.Request.Context(), actor, actor.Email, mailstore.NewAppPassword{
		Name: req.Name, Protocols: req.Protocols, ExpiresAt: req.ExpiresAt, AccountPassword: req.CurrentPassword,
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"app_password": toAppPassword(ap), "password": secret})
}

// listOwnAppPasswords handles GET /api/v1/me/app-passwords.
func (a *API) listOwnAppPasswords(c *gin.Context) {
	a.listAppPasswordsOf(c, actorOf(c).Email)
}

// listUserAppPasswords handles GET /api/v1/users/{address}/app-passwords.
func (a *API) listUserAppPasswords(c *gin.Context) {
	a.listAppPasswordsOf(c, c.Param("address"))
}

func (a *API) listAppPasswordsOf(c *gin.Context, address string) {
	aps, err := a.svc.ListAppPasswords(c.Request.Context(), actorOf(c), address)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": mapAll(aps, toAppPassword)})
}

// deleteOwnAppPassword handles DELETE /api/v1/me/app-passwords/{id}.
func (a *API) deleteOwnAppPassword(c *gin.Context) {
	a.deleteAppPasswordOf(c, actorOf(c).Email)
}

// deleteUserAppPassword handles DELETE
// /api/v1/users/{address}/app-passwords/{id}.
func (a *API) deleteUserAppPassword(c *gin.Context) {
	a.deleteAppPasswordOf(c, c.Param("address"))
}

func (a *API) deleteAppPasswordOf(c *gin.Context, address string) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(c, fmt.Errorf("app password %q: %w", c.Param("id"), core.ErrNotFound))
		return
	}
	if err := a.svc.DeleteAppPassword(c.Request.Context(), actorOf(c), address, id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
