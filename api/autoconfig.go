package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// mountAutoconfig registers the unauthenticated client autoconfiguration
// routes: Thunderbird autoconfig and Microsoft Autodiscover (POX).
// (Placeholder until the autoconfig work lands.)
func mountAutoconfig(r gin.IRouter, c ClientSettings) {}

// DNSRecord is one record a domain should publish.
type DNSRecord struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	Priority *int   `json:"priority,omitempty"`
	Purpose  string `json:"purpose"`
}

// dnsRecords lists the records to publish for domain. dkim holds the
// domain's DKIM public records (selector → TXT value), if any.
// (Placeholder until the autoconfig work lands.)
func dnsRecords(c ClientSettings, domain string, dkim map[string]string) []DNSRecord { return nil }

// writeMobileconfig writes an Apple configuration profile for address.
// (Placeholder until the autoconfig work lands.)
func writeMobileconfig(w http.ResponseWriter, c ClientSettings, address, displayName string) error {
	return nil
}
