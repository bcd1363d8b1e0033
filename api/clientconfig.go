package api

// ClientSettings are the hosts and ports mail clients are told to use, for
// autoconfiguration and the DNS records to publish. A zero port means the
// service is off.
type ClientSettings struct {
	Hostname        string // the server's public name (MX target, client server name)
	IMAPPort        int    // STARTTLS
	IMAPSPort       int    // implicit TLS
	POP3Port        int    // STLS
	POP3SPort       int    // implicit TLS
	SubmissionPort  int    // STARTTLS
	SubmissionsPort int    // implicit TLS
	HTTPSPort       int    // autoconfig over HTTPS
	ManageSievePort int    // ManageSieve (RFC 5804), STARTTLS
	// MTASTSMode returns the mode of the MTA-STS policy (RFC 8461)
	// published for a domain; nil means "testing" for every domain.
	MTASTSMode func(domain string) string
}
