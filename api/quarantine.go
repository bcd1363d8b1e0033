package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/service"
)

// quarantineHeaders are a held message's main header fields, decoded.
type quarantineHeaders struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Date    string `json:"date"`
}

// quarantineDetail is a held message with its headers and a text preview.
type quarantineDetail struct {
	quarantinedMessage
	Headers quarantineHeaders `json:"headers"`
	Preview string            `json:"preview"`
}

// quarantineID reads the {id} of a quarantine route; on failure it
// answers 404 and returns false.
func quarantineID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		abortProblem(c, kindNotFound, fmt.Sprintf("quarantined message %q: not found", c.Param("id")))
		return 0, false
	}
	return id, true
}

// listQuarantine handles GET /api/v1/quarantine.
func (a *API) listQuarantine(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	l, err := a.svc.ListQuarantine(c.Request.Context(), actorOf(c), service.QuarantineFilter{
		Recipient: c.Query("recipient"),
		Page:      service.Page{Limit: limit, Offset: offset},
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, page(mapAll(l.Items, toQuarantined), l.Total, limit, offset))
}

// getQuarantined handles GET /api/v1/quarantine/{id}.
func (a *API) getQuarantined(c *gin.Context) {
	id, ok := quarantineID(c)
	if !ok {
		return
	}
	d, err := a.svc.GetQuarantined(c.Request.Context(), actorOf(c), id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := quarantineDetail{quarantinedMessage: toQuarantined(&d.QuarantinedMessage), Preview: d.Preview, Headers: quarantineHeaders{
		From: d.Headers.From, To: d.Headers.To, Subject: d.Headers.Subject, Date: d.Headers.Date,
	}}
	if out.Recipients == nil {
		out.Recipients = []string{}
	}
	c.JSON(http.StatusOK, out)
}

// releaseQuarantined handles POST /api/v1/quarantine/{id}/release.
func (a *API) releaseQuarantined(c *gin.Context) {
	id, ok := quarantineID(c)
	if !ok {
		return
	}
	if err := a.svc.ReleaseQuarantined(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// deleteQuarantined handles DELETE /api/v1/quarantine/{id}.
func (a *API) deleteQuarantined(c *gin.Context) {
	id, ok := quarantineID(c)
	if !ok {
		return
	}
	if err := a.svc.DeleteQuarantined(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
