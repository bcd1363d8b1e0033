package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/tlsrpt"
)

// tlsReportsListed is how many reports GET /api/v1/tls-reports answers.
const tlsReportsListed = 100

// receiveTLSReport handles POST /api/v1/tls-reports: a TLS report (RFC
// 8460 §6.4) another mail server sends about its connections to ours,
// unauthenticated, kept when it is about a domain this server hosts.
func (a *API) receiveTLSReport(c *gin.Context) {
	if a.opts.TLSReports == nil {
		abortProblem(c, kindUnavailable, "TLS reports are not received here")
		return
	}
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != tlsrpt.MediaJSON && mt != tlsrpt.MediaGzip) {
		abortProblem(c, kindUnsupportedMedia, "send the report as "+tlsrpt.MediaJSON+" or "+tlsrpt.MediaGzip)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, tlsrpt.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		abortProblem(c, kindTooLarge, "the report is larger than 1 MiB")
		return
	} else if err != nil {
		abortProblem(c, kindBadRequest, "the report could not be read")
		return
	}
	data, err := tlsrpt.Decode(mt, body)
	if err != nil {
		abortProblem(c, kindBadRequest, err.Error())
		return
	}
	r, err := tlsrpt.Parse(data)
	if err != nil {
		abortProblem(c, kindBadRequest, err.Error())
		return
	}
	hosted := false
	for _, d := range r.Domains() {
		ok, err := a.svc.HostsDomain(c.Request.Context(), d)
		if err != nil {
			writeProblem(c, err)
			return
		}
		hosted = hosted || ok
	}
	if !hosted {
		abortProblem(c, kindNotFound, "the report is about no domain of this server")
		return
	}
	id, err := a.opts.TLSReports.Add(data, c.ClientIP(), time.Now())
	if err != nil {
		writeProblem(c, err)
		return
	}
	loggerOf(c).Info("TLS report received", "id", id, "organization", r.OrganizationName, "domains", r.Domains())
	c.JSON(http.StatusCreated, gin.H{"id": id})
}

// tlsReportSummary is one report in GET /api/v1/tls-reports.
type tlsReportSummary struct {
	ID           string    `json:"id"`
	ReceivedAt   time.Time `json:"received_at"`
	RemoteIP     string    `json:"remote_ip"`
	Organization string    `json:"organization"`
	ReportID     string    `json:"report_id"`
	Domains      []string  `json:"domains"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Successful   int64     `json:"successful_sessions"`
	Failed       int64     `json:"failed_sessions"`
	// Report is the whole report as it was received.
	Report any `json:"report"`
}

// listTLSReports handles GET /api/v1/tls-reports (server admins): the
// newest reports received, newest first.
func (a *API) listTLSReports(c *gin.Context) {
	if !actorOf(c).IsAdmin() {
		abortProblem(c, kindForbidden, "only server admins see the TLS reports")
		return
	}
	if a.opts.TLSReports == nil {
		abortProblem(c, kindUnavailable, "TLS reports are not received here")
		return
	}
	stored, err := a.opts.TLSReports.List(tlsReportsListed)
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := make([]tlsReportSummary, 0, len(stored))
	for _, s := range stored {
		r, err := tlsrpt.Parse(s.Report)
		if err != nil {
			continue
		}
		sum := tlsReportSummary{ID: s.ID, ReceivedAt: s.ReceivedAt, RemoteIP: s.RemoteIP, Organization: r.OrganizationName,
			ReportID: r.ReportID, Domains: r.Domains(), Start: r.DateRange.Start, End: r.DateRange.End, Report: s.Report}
		for _, p := range r.Policies {
			sum.Successful += p.Summary.Successful
			sum.Failed += p.Summary.Failed
		}
		out = append(out, sum)
	}
	c.JSON(http.StatusOK, gin.H{"reports": out})
}
