package api

import (
	"sort"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
)

// maxTXTString is the longest character-string of a TXT record (RFC 1035
// §3.3): longer values are published as several strings of one record.
const maxTXTString = 255

// buildDNSRecords implements dnsRecords. The order is fixed: MX, SPF, DMARC,
// DKIM (by selector), the autoconfig CNAME, then the RFC 6186 SRV records,
// ManageSieve's (RFC 5804) and the Autodiscover SRV record, then MTA-STS's
// and TLS reporting's (mtaSTSRecords).
func buildDNSRecords(c ClientSettings, domain string, dkim map[string]string) []DNSRecord {
	if d, err := core.NormalizeDomain(domain); err == nil {
		domain = d
	} else {
		domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	}
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.Hostname), "."))
	target := host + "."

	mxPriority := 10
	recs := []DNSRecord{
		{
			Type: "MX", Name: domain, Value: target, Priority: &mxPriority,
			Purpose: "mail exchanger: other servers deliver mail for " + domain + " to " + host,
		},
		{
			Type: "TXT", Name: domain, Value: "v=spf1 mx -all",
			Purpose: "SPF: only the domain's MX hosts may send mail from " + domain,
		},
		{
			Type: "TXT", Name: "_dmarc." + domain,
			Value:   "v=DMARC1; p=quarantine; rua=mailto:postmaster@" + domain,
			Purpose: "DMARC: quarantine mail failing SPF and DKIM alignment; aggregate reports go to postmaster@" + domain,
		},
	}

	selectors := make([]string, 0, len(dkim))
	for s := range dkim {
		selectors = append(selectors, s)
	}
	sort.Strings(selectors)
	for _, s := range selectors {
		purpose := "DKIM: public key for selector " + s + ", used to verify signatures on outgoing mail"
		if len(dkim[s]) > maxTXTString {
			purpose += "; the value is longer than 255 characters: publish it as one TXT record made of several " +
				"strings of at most 255 characters each (\"first 255 characters\" \"next ones\" ...), not as several records " +
				"(most DNS providers' forms split it by themselves)"
		}
		recs = append(recs, DNSRecord{
			Type: "TXT", Name: s + "._domainkey." + domain, Value: dkim[s],
			Purpose: purpose,
		})
	}

	if ac := "autoconfig." + domain; ac != host {
		recs = append(recs, DNSRecord{
			Type: "CNAME", Name: ac, Value: target,
			Purpose: "Thunderbird autoconfiguration: clients fetch their settings from " + host,
		})
	}

	srv := func(service string, port int, purpose string) {
		if port == 0 {
			return
		}
		recs = append(recs, DNSRecord{
			Type:    "SRV",
			Name:    service + "._tcp." + domain,
			Value:   "0 1 " + strconv.Itoa(port) + " " + target,
			Purpose: purpose,
		})
	}
	srv("_imaps", c.IMAPSPort, "RFC 6186: IMAP over implicit TLS (preferred)")
	srv("_imap", c.IMAPPort, "RFC 6186: IMAP with STARTTLS")
	srv("_pop3s", c.POP3SPort, "RFC 6186: POP3 over implicit TLS")
	srv("_pop3", c.POP3Port, "RFC 6186: POP3 with STLS")
	srv("_submissions", c.SubmissionsPort, "RFC 8314: mail submission over implicit TLS (preferred)")
	srv("_submission", c.SubmissionPort, "RFC 6186: mail submission with STARTTLS")
	srv("_sieve", c.ManageSievePort, "RFC 5804: ManageSieve, for the Sieve filter scripts, with STARTTLS")
	srv("_autodiscover", c.HTTPSPort, "Microsoft Autodiscover: Outlook finds its settings over HTTPS at "+host)
	return append(recs, mtaSTSRecords(c, domain)...)
}
