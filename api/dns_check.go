package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Resolver looks up DNS records; filters/dnsresolve.Resolver (and
// net.Resolver) implement it. GET /api/v1/domains/{name}/dns/check uses it.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DNS check statuses of a record.
const (
	dnsStatusOK        = "ok"        // DNS publishes the expected value
	dnsStatusMissing   = "missing"   // the name or the record type does not exist
	dnsStatusDifferent = "different" // records exist but none has the expected value
	dnsStatusError     = "error"     // the lookup failed (timeout, SERVFAIL, ...)
	dnsStatusUnchecked = "unchecked" // the resolver cannot look up this type (CNAME, SRV)
)

// dnsCheckTimeout bounds the lookups of one check.
const dnsCheckTimeout = 15 * time.Second

// DNSRecordCheck is a record to publish with what DNS says now.
type DNSRecordCheck struct {
	DNSRecord
	Status string   `json:"status"`
	Found  []string `json:"found"`
}

// domainDNSCheck handles GET /api/v1/domains/{name}/dns/check.
func (a *API) domainDNSCheck(c *gin.Context) {
	d, err := a.svc.GetDomain(c.Request.Context(), actorOf(c), c.Param("name"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	if a.opts.Resolver == nil {
		abortProblem(c, kindUnavailable, "dns check unavailable: the server has no DNS resolver")
		return
	}
	dkim, err := a.svc.DKIMRecords(c.Request.Context(), actorOf(c), d.Name)
	if err != nil {
		writeProblem(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), dnsCheckTimeout)
	defer cancel()
	records := dnsRecords(a.opts.Clients, d.Name, dkim)
	out := make([]DNSRecordCheck, 0, len(records))
	for _, r := range records {
		out = append(out, checkDNSRecord(ctx, a.opts.Resolver, r))
	}
	c.JSON(http.StatusOK, gin.H{"domain": d.Name, "records": out})
}

// checkDNSRecord looks r up through res and compares the answer with it.
func checkDNSRecord(ctx context.Context, res Resolver, r DNSRecord) DNSRecordCheck {
	chk := DNSRecordCheck{DNSRecord: r, Found: []string{}}
	var (
		found []string
		err   error
		match func(string) bool
	)
	switch r.Type {
	case "MX":
		var mxs []*net.MX
		mxs, err = res.LookupMX(ctx, r.Name)
		want := normHost(r.Value)
		for _, mx := range mxs {
			if mx != nil {
				found = append(found, normHost(mx.Host))
			}
		}
		match = func(s string) bool { return s == want }
	case "TXT":
		found, err = res.LookupTXT(ctx, r.Name) // each string is one record, its strings joined
		if key, ok := dkimKey(r.Value); ok && strings.Contains(r.Name, "._domainkey.") {
			match = func(s string) bool { k, ok := dkimKey(s); return ok && k == key }
		} else {
			want := strings.TrimSpace(r.Value)
			match = func(s string) bool { return strings.TrimSpace(s) == want }
		}
	default:
		chk.Status = dnsStatusUnchecked
		return chk
	}
	if found != nil {
		chk.Found = found
	}
	switch {
	case err != nil && isDNSNotFound(err):
		chk.Status = dnsStatusMissing
	case err != nil:
		chk.Status = dnsStatusError
	case len(found) == 0:
		chk.Status = dnsStatusMissing
	default:
		chk.Status = dnsStatusDifferent
		for _, s := range found {
			if match(s) {
				chk.Status = dnsStatusOK
				break
			}
		}
	}
	return chk
}

// isDNSNotFound reports whether err is a definite "no such name or record".
func isDNSNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// normHost lower-cases a host name and gives it a trailing dot.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if h != "" && !strings.HasSuffix(h, ".") {
		h += "."
	}
	return h
}

// dkimKey returns the p= tag (the public key) of a DKIM key record, without
// white space.
func dkimKey(v string) (string, bool) {
	for _, tag := range strings.Split(v, ";") {
		name, val, ok := strings.Cut(tag, "=")
		if ok && strings.TrimSpace(name) == "p" {
			return strings.Join(strings.Fields(val), ""), true
		}
	}
	return "", false
}
