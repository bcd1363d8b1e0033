package api

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/sieve/rules"
)

// sieveMediaType is the media type of a Sieve script (RFC 5804 section
// 6.2); text/plain is accepted too.
const sieveMediaType = "application/sieve"

// sieveList is the answer of GET /api/v1/users/{address}/sieve.
type sieveList struct {
	Items []service.SieveScriptInfo `json:"items"`
}

// listSieveScripts handles GET /api/v1/users/{address}/sieve.
func (a *API) listSieveScripts(c *gin.Context) {
	items, err := a.svc.ListSieveScripts(c.Request.Context(), actorOf(c), c.Param("address"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	if items == nil {
		items = []service.SieveScriptInfo{}
	}
	c.JSON(http.StatusOK, sieveList{Items: items})
}

// getSieveScript handles GET /api/v1/users/{address}/sieve/{name}.
func (a *API) getSieveScript(c *gin.Context) {
	script, err := a.svc.GetSieveScript(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Data(http.StatusOK, sieveMediaType+"; charset=utf-8", []byte(script))
}

// readScript reads a script body: application/sieve or text/plain, UTF-8.
func readScript(c *gin.Context) (string, bool) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != sieveMediaType && mt != "text/plain" {
		abortProblem(c, kindUnsupportedMedia, "the request body must be the script as application/sieve or text/plain")
		return "", false
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeProblem(c, err)
		return "", false
	}
	if !utf8.Valid(b) {
		writeProblem(c, core.Invalid("script", "must be UTF-8"))
		return "", false
	}
	return string(b), true
}

// putSieveScript handles PUT /api/v1/users/{address}/sieve/{name}.
func (a *API) putSieveScript(c *gin.Context) {
	script, ok := readScript(c)
	if !ok {
		return
	}
	if err := a.svc.PutSieveScript(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name"), script); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// deleteSieveScript handles DELETE /api/v1/users/{address}/sieve/{name}.
func (a *API) deleteSieveScript(c *gin.Context) {
	if err := a.svc.DeleteSieveScript(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// activateSieveScript handles POST
// /api/v1/users/{address}/sieve/{name}/activate.
func (a *API) activateSieveScript(c *gin.Context) {
	if err := a.svc.ActivateSieveScript(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// deactivateSieveScript handles POST
// /api/v1/users/{address}/sieve/{name}/deactivate: the script stops
// running at delivery if it was the active one.
func (a *API) deactivateSieveScript(c *gin.Context) {
	ctx, actor, addr, name := c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name")
	list, err := a.svc.ListSieveScripts(ctx, actor, addr)
	if err != nil {
		writeProblem(c, err)
		return
	}
	found := false
	for _, s := range list {
		if s.Name != name {
			continue
		}
		found = true
		if s.Active {
			if err := a.svc.ActivateSieveScript(ctx, actor, addr, ""); err != nil {
				writeProblem(c, err)
				return
			}
		}
	}
	if !found {
		writeProblem(c, fmt.Errorf("sieve script %q: %w", name, core.ErrNotFound))
		return
	}
	c.Status(http.StatusNoContent)
}

// sieveRules is a script of the rule editor: its rules when the editor
// wrote it, and its text.
type sieveRules struct {
	// Editable is false for a script written by hand, shown as text.
	Editable bool           `json:"editable"`
	Rules    *rules.RuleSet `json:"rules"`
	Script   string         `json:"script"`
}

// getSieveRules handles GET /api/v1/users/{address}/sieve/{name}/rules.
func (a *API) getSieveRules(c *gin.Context) {
	script, rs, err := a.svc.GetSieveRules(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sieveRules{Editable: rs != nil, Rules: rs, Script: script})
}

// putSieveRules handles PUT /api/v1/users/{address}/sieve/{name}/rules:
// the server writes the script of the rule set.
func (a *API) putSieveRules(c *gin.Context) {
	var rs rules.RuleSet
	if !bindJSON(c, &rs) {
		return
	}
	script, err := a.svc.PutSieveRules(c.Request.Context(), actorOf(c), c.Param("address"), c.Param("name"), rs)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, sieveRules{Editable: true, Rules: &rs, Script: script})
}

// getDomainSieve handles GET /api/v1/domains/{name}/sieve.
func (a *API) getDomainSieve(c *gin.Context) {
	script, err := a.svc.GetDomainSieveScript(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Data(http.StatusOK, sieveMediaType+"; charset=utf-8", []byte(script))
}

// putDomainSieve handles PUT /api/v1/domains/{name}/sieve.
func (a *API) putDomainSieve(c *gin.Context) {
	script, ok := readScript(c)
	if !ok {
		return
	}
	if err := a.svc.PutDomainSieveScript(c.Request.Context(), actorOf(c), c.Param("name"), script); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// deleteDomainSieve handles DELETE /api/v1/domains/{name}/sieve.
func (a *API) deleteDomainSieve(c *gin.Context) {
	if err := a.svc.DeleteDomainSieveScript(c.Request.Context(), actorOf(c), c.Param("name")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
