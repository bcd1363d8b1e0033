package api

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core/mtasts"
)

// mtaSTSMaxAge is the max_age of the policies we publish: senders cache a
// policy a week (RFC 8461 §3.2 suggests weeks).
const mtaSTSMaxAge = 7 * 24 * time.Hour

// tlsReportsPath is where TLS reports (RFC 8460) are posted; the
// "_smtp._tls" record names it.
const tlsReportsPath = "/api/v1/tls-reports"

// publishedPolicy returns the MTA-STS policy this server publishes for
// domain: its mode from c.MTASTSMode, the server as the one MX host.
func publishedPolicy(c ClientSettings, domain string) *mtasts.Policy {
	mode := mtasts.ModeTesting
	if c.MTASTSMode != nil {
		mode = c.MTASTSMode(domain)
	}
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.Hostname), "."))
	return &mtasts.Policy{Mode: mode, MX: []string{host}, MaxAge: mtaSTSMaxAge}
}

// tlsReportURI is where other servers send their TLS reports about
// domain: our HTTPS endpoint, or postmaster's mailbox without HTTPS.
func tlsReportURI(c ClientSettings, domain string) string {
	if c.HTTPSPort == 0 {
		return "mailto:postmaster@" + domain
	}
	host := strings.ToLower(strings.TrimSuffix(c.Hostname, "."))
	if c.HTTPSPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(c.HTTPSPort))
	}
	return "https://" + host + tlsReportsPath
}

// mtaSTSRecords returns the records of MTA-STS (RFC 8461 §3) and SMTP TLS
// reporting (RFC 8460 §3) for domain.
func mtaSTSRecords(c ClientSettings, domain string) []DNSRecord {
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.Hostname), "."))
	p := publishedPolicy(c, domain)
	var recs []DNSRecord
	if name := "mta-sts." + domain; name != host {
		recs = append(recs, DNSRecord{
			Type: "CNAME", Name: name, Value: host + ".",
			Purpose: "MTA-STS policy host: other servers fetch the domain's policy over HTTPS on port 443 from " + host +
				" (with YUBIN_ACME=on it gets its certificate)",
		})
	}
	recs = append(recs,
		DNSRecord{
			Type: "TXT", Name: "_mta-sts." + domain, Value: p.Record(),
			Purpose: "MTA-STS (RFC 8461): other servers deliver to " + domain + " only over TLS to " + host +
				" (policy mode " + p.Mode + "); the id changes whenever the policy does",
		},
		DNSRecord{
			Type: "TXT", Name: "_smtp._tls." + domain, Value: "v=TLSRPTv1; rua=" + tlsReportURI(c, domain),
			Purpose: "SMTP TLS reporting (RFC 8460): other servers report TLS failures delivering to " + domain + " there",
		},
	)
	return recs
}

// mountMTASTS registers GET /.well-known/mta-sts.txt: the policy of
// DOMAIN for requests to the host mta-sts.DOMAIN of a domain known
// reports, 404 for any other.
func mountMTASTS(r gin.IRouter, c ClientSettings, known domainKnown) {
	r.GET(mtasts.WellKnownPath, func(ctx *gin.Context) {
		host := ctx.Request.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		domain, ok := strings.CutPrefix(strings.ToLower(strings.TrimSuffix(host, ".")), "mta-sts.")
		if !ok {
			autoconfigProblem(ctx, kindNotFound, "MTA-STS policies are served on the host mta-sts.DOMAIN")
			return
		}
		if !checkAutoconfigDomain(ctx, known, domain) {
			return
		}
		ctx.Header("Cache-Control", "max-age=3600")
		ctx.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(publishedPolicy(c, domain).String()))
	})
}
