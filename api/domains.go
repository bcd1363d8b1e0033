package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// domainSettings are the adjustable settings in a domain request.
type domainSettings struct {
	Enabled           *bool  `json:"enabled"`
	DefaultQuotaBytes *int64 `json:"default_quota_bytes"`
	MaxQuotaBytes     *int64 `json:"max_quota_bytes"`
	QuotaBytes        *int64 `json:"quota_bytes"`
	MaxUsers          *int64 `json:"max_users"`
	RequireTwoFactor  *bool  `json:"require_two_factor"`

	// The filter settings: null sets them back to the server's.
	SpamJunkScore   mailstore.Nullable[float64] `json:"spam_junk_score"`
	SpamRejectScore mailstore.Nullable[float64] `json:"spam_reject_score"`
	SpamFilter      mailstore.Nullable[bool]    `json:"spam_filter"`
	VirusScan       mailstore.Nullable[bool]    `json:"virus_scan"`
	DMARCEnforce    mailstore.Nullable[bool]    `json:"dmarc_enforce"`

	// QuotaWarningPercents are the usage levels that warn users; Language
	// that of the server's messages to the domain's users.
	QuotaWarningPercents *mailstore.Percents `json:"quota_warning_percents"`
	Language             *string             `json:"language"`

	// EncryptionMode is "server", "user" or "" (the server's).
	EncryptionMode *string `json:"encryption_mode"`
}

func (d domainSettings) toService() service.DomainSettings {
	return service.DomainSettings{
		Enabled:           d.Enabled,
		DefaultQuotaBytes: d.DefaultQuotaBytes,
		MaxQuotaBytes:     d.MaxQuotaBytes,
		QuotaBytes:        d.QuotaBytes,
		MaxUsers:          d.MaxUsers,
		RequireTwoFactor:  d.RequireTwoFactor,
		SpamJunkScore:     d.SpamJunkScore,
		SpamRejectScore:   d.SpamRejectScore,
		SpamFilter:        d.SpamFilter,
		VirusScan:         d.VirusScan,
		DMARCEnforce:      d.DMARCEnforce,

		QuotaWarningPercents: d.QuotaWarningPercents,
		Language:             d.Language,
		EncryptionMode:       d.EncryptionMode,
	}
}

// validate checks that no limit is negative and that the spam thresholds
// are positive.
func (d domainSettings) validate() error {
	var fields []core.FieldError
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{"default_quota_bytes", d.DefaultQuotaBytes},
		{"max_quota_bytes", d.MaxQuotaBytes},
		{"quota_bytes", d.QuotaBytes},
		{"max_users", d.MaxUsers},
	} {
		if f.v != nil && *f.v < 0 {
			fields = append(fields, core.FieldError{Field: f.name, Message: "must not be negative"})
		}
	}
	for _, f := range []struct {
		name string
		v    mailstore.Nullable[float64]
	}{
		{"spam_junk_score", d.SpamJunkScore},
		{"spam_reject_score", d.SpamRejectScore},
	} {
		if f.v.Value != nil && !(*f.v.Value > 0) {
			fields = append(fields, core.FieldError{Field: f.name, Message: "must be a positive number"})
		}
	}
	if d.QuotaWarningPercents != nil {
		if _, err := d.QuotaWarningPercents.Normalized(); err != nil {
			fields = append(fields, core.FieldError{Field: "quota_warning_percents", Message: "at most 5 levels, each from 1 to 100"})
		}
	}
	if d.Language != nil && mailstore.CheckLanguage(*d.Language) != nil {
		fields = append(fields, core.FieldError{Field: "language", Message: "must be en, ja or empty"})
	}
	if d.EncryptionMode != nil && mailstore.CheckEncryptionMode(*d.EncryptionMode) != nil {
		fields = append(fields, core.FieldError{Field: "encryption_mode", Message: "must be server, user or empty (the server's)"})
	}
	if fields != nil {
		return &core.ValidationError{Fields: fields}
	}
	return nil
}

// listDomains handles GET /api/v1/domains.
func (a *API) listDomains(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	l, err := a.svc.ListDomains(c.Request.Context(), actorOf(c), c.Query("search"), service.Page{Limit: limit, Offset: offset})
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, page(mapAll(l.Items, toDomain), l.Total, limit, offset))
}

// createDomain handles POST /api/v1/domains.
func (a *API) createDomain(c *gin.Context) {
	var req struct {
		Name string `json:"name"`
		domainSettings
	}
	if !bindJSON(c, &req) {
		return
	}
	if err := req.validate(); err != nil {
		writeProblem(c, err)
		return
	}
	d, err := a.svc.CreateDomain(c.Request.Context(), actorOf(c), req.Name, req.toService())
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Location", "/api/v1/domains/"+url.PathEscape(d.Name))
	c.JSON(http.StatusCreated, toDomain(d))
}

// getDomain handles GET /api/v1/domains/{name}.
func (a *API) getDomain(c *gin.Context) {
	d, err := a.svc.GetDomain(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toDomain(d))
}

// updateDomain handles PATCH /api/v1/domains/{name}.
func (a *API) updateDomain(c *gin.Context) {
	var req domainSettings
	if !bindJSON(c, &req) {
		return
	}
	if err := req.validate(); err != nil {
		writeProblem(c, err)
		return
	}
	d, err := a.svc.UpdateDomain(c.Request.Context(), actorOf(c), c.Param("name"), req.toService())
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toDomain(d))
}

// deleteDomain handles DELETE /api/v1/domains/{name}[?cascade=true].
func (a *API) deleteDomain(c *gin.Context) {
	cascade := false
	if s := c.Query("cascade"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeProblem(c, core.Invalid("cascade", "must be true or false"))
			return
		}
		cascade = b
	}
	if err := a.svc.DeleteDomain(c.Request.Context(), actorOf(c), c.Param("name"), cascade); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// domainUsage handles GET /api/v1/domains/{name}/usage.
func (a *API) domainUsage(c *gin.Context) {
	ctx, actor := c.Request.Context(), actorOf(c)
	d, err := a.svc.GetDomain(ctx, actor, c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	u, err := a.svc.DomainUsage(ctx, actor, d.Name)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"users":         u.Users,
		"used_bytes":    u.UsedBytes,
		"used_messages": u.UsedMessages,
		"quota_bytes":   d.QuotaBytes,
	})
}

// domainDNS handles GET /api/v1/domains/{name}/dns.
func (a *API) domainDNS(c *gin.Context) {
	d, err := a.svc.GetDomain(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	dkim, err := a.svc.DKIMRecords(c.Request.Context(), actorOf(c), d.Name)
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeDNSRecords(c, a.opts.Clients, d.Name, dkim)
}

// writeDNSRecords answers 200 with the records domain should publish;
// dkim holds its DKIM records (selector → TXT value), if any.
func writeDNSRecords(c *gin.Context, clients ClientSettings, domain string, dkim map[string]string) {
	records := dnsRecords(clients, domain, dkim)
	if records == nil {
		records = []DNSRecord{}
	}
	c.JSON(http.StatusOK, gin.H{"domain": domain, "records": records})
}

// rotateDKIM handles POST /api/v1/domains/{name}/dkim/rotate: new DKIM keys
// for the domain (server admins only), answered with the domain's DNS
// records as GET /api/v1/domains/{name}/dns gives them.
func (a *API) rotateDKIM(c *gin.Context) {
	ctx, actor := c.Request.Context(), actorOf(c)
	dkim, err := a.svc.RotateDKIM(ctx, actor, c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	d, err := a.svc.GetDomain(ctx, actor, c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeDNSRecords(c, a.opts.Clients, d.Name, dkim)
}

// listDomainAdmins handles GET /api/v1/domains/{name}/admins.
func (a *API) listDomainAdmins(c *gin.Context) {
	l, err := a.svc.ListDomainAdmins(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	if l == nil {
		l = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"items": l})
}

// addDomainAdmin handles PUT /api/v1/domains/{name}/admins/{address}.
func (a *API) addDomainAdmin(c *gin.Context) {
	err := a.svc.AddDomainAdmin(c.Request.Context(), actorOf(c), c.Param("name"), c.Param("address"))
	if err != nil && !errors.Is(err, core.ErrExists) { // PUT is idempotent

		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// removeDomainAdmin handles DELETE /api/v1/domains/{name}/admins/{address}.
func (a *API) removeDomainAdmin(c *gin.Context) {
	if err := a.svc.RemoveDomainAdmin(c.Request.Context(), actorOf(c), c.Param("name"), c.Param("address")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// createRecoveryKey handles POST /api/v1/domains/{name}/recovery-key: a
// new recovery key for the domain's user-key accounts, whose private key
// is in the answer once ("private_key") and is not stored.
func (a *API) createRecoveryKey(c *gin.Context) {
	key, d, err := a.svc.CreateDomainRecoveryKey(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"domain": d.Name, "public_key": d.RecoveryPublicKey, "private_key": key})
}

// deleteRecoveryKey handles DELETE /api/v1/domains/{name}/recovery-key.
func (a *API) deleteRecoveryKey(c *gin.Context) {
	if _, err := a.svc.DeleteDomainRecoveryKey(c.Request.Context(), actorOf(c), c.Param("name")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
