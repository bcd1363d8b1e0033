package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// listAudit handles GET /api/v1/audit.
func (a *API) listAudit(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	f := service.AuditFilter{
		Actor: c.Query("actor"), Action: c.Query("action"), Target: c.Query("target"),
		Page: service.Page{Limit: limit, Offset: offset},
	}
	var fields []core.FieldError
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := c.Query(q.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			fields = append(fields, core.FieldError{Field: q.name, Message: "must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z"})
			continue
		}
		*q.t = t
	}
	if fields != nil {
		writeProblem(c, &core.ValidationError{Fields: fields})
		return
	}
	l, err := a.svc.ListAudit(c.Request.Context(), actorOf(c), f)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, page(mapAll(l.Items, toAuditEntry), l.Total, limit, offset))
}
