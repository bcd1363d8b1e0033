package api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
)

// autodiscoverMaxBody bounds the size of an Autodiscover request body.
const autodiscoverMaxBody = 64 << 10

const (
	autodiscoverResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	autodiscoverOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	autoconfigXMLType      = "application/xml"
)

// domainKnown reports whether this server hosts mail for a domain.
type domainKnown func(ctx context.Context, domain string) (bool, error)

// mountAutoconfig registers the unauthenticated client autoconfiguration
// routes: Thunderbird autoconfig and Microsoft Autodiscover (POX). Both
// answer only for the domains known reports; others get 404.
func mountAutoconfig(r gin.IRouter, c ClientSettings, known domainKnown) {
	tb := func(ctx *gin.Context) { serveThunderbirdAutoconfig(ctx, c, known) }
	r.GET("/.well-known/autoconfig/mail/config-v1.1.xml", tb)
	r.GET("/mail/config-v1.1.xml", tb)

	ad := func(ctx *gin.Context) { serveAutodiscover(ctx, c, known) }
	r.POST("/autodiscover/autodiscover.xml", ad)
	r.POST("/Autodiscover/Autodiscover.xml", ad)
}

// autoconfigProblem aborts the request with the API's RFC 9457 problem of
// kind, so its type always goes with its status: bad-request (400) for a
// missing or invalid email address, invalid-json (400) for a malformed
// Autodiscover document (openapi.yaml: AutoconfigBadRequest), not-found
// (404) for a domain this server does not host. Mail clients get no
// field-level 422.
func autoconfigProblem(ctx *gin.Context, kind, detail string) {
	abortProblem(ctx, kind, detail)
}

// checkAutoconfigDomain answers 404 (and false) unless the server hosts
// domain.
func checkAutoconfigDomain(ctx *gin.Context, known domainKnown, domain string) bool {
	ok, err := known(ctx.Request.Context(), domain)
	if err != nil {
		_ = ctx.Error(err)
		autoconfigProblem(ctx, kindInternal, "the server could not complete the request")
		return false
	}
	if !ok {
		autoconfigProblem(ctx, kindNotFound, "this server does not handle mail for "+domain)
		return false
	}
	return true
}

// writeAutoconfigXML marshals v with an XML declaration and writes it.
func writeAutoconfigXML(ctx *gin.Context, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		_ = ctx.Error(err)
		autoconfigProblem(ctx, kindInternal, "the server could not complete the request")
		return
	}
	buf.WriteByte('\n')
	ctx.Header("Cache-Control", "no-store")
	ctx.Header("X-Content-Type-Options", "nosniff")
	ctx.Data(http.StatusOK, autoconfigXMLType, buf.Bytes())
}

// ---- Thunderbird autoconfig ----------------------------------------------

// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat

type tbClientConfig struct {
	XMLName       xml.Name        `xml:"clientConfig"`
	Version       string          `xml:"version,attr"`
	EmailProvider tbEmailProvider `xml:"emailProvider"`
}

type tbEmailProvider struct {
	ID               string     `xml:"id,attr"`
	Domain           string     `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// thunderbirdConfig builds the Thunderbird config document for domain.
func thunderbirdConfig(c ClientSettings, domain string) tbClientConfig {
	host := strings.TrimSuffix(c.Hostname, ".")
	srv := func(typ string, port int, socket string) tbServer {
		return tbServer{
			Type:           typ,
			Hostname:       host,
			Port:           port,
			SocketType:     socket,
			Authentication: "password-cleartext",
			Username:       "%EMAILADDRESS%",
		}
	}
	p := tbEmailProvider{
		ID:               domain,
		Domain:           domain,
		DisplayName:      domain + " mail",
		DisplayShortName: domain,
	}
	for _, s := range []struct {
		typ, socket string
		port        int
		out         bool
	}{
		{"imap", "SSL", c.IMAPSPort, false},
		{"imap", "STARTTLS", c.IMAPPort, false},
		{"pop3", "SSL", c.POP3SPort, false},
		{"pop3", "STARTTLS", c.POP3Port, false},
		{"smtp", "SSL", c.SubmissionsPort, true},
		{"smtp", "STARTTLS", c.SubmissionPort, true},
	} {
		if s.port == 0 {
			continue
		}
		if s.out {
			p.Outgoing = append(p.Outgoing, srv(s.typ, s.port, s.socket))
		} else {
			p.Incoming = append(p.Incoming, srv(s.typ, s.port, s.socket))
		}
	}
	return tbClientConfig{Version: "1.1", EmailProvider: p}
}

// serveThunderbirdAutoconfig answers a Thunderbird autoconfig request:
// the address comes from ?emailaddress= (Thunderbird always sends it).
func serveThunderbirdAutoconfig(ctx *gin.Context, c ClientSettings, known domainKnown) {
	addr, ok := ctx.GetQuery("emailaddress")
	if !ok {
		autoconfigProblem(ctx, kindBadRequest, "the emailaddress query parameter is missing: ask for ?emailaddress=USER@DOMAIN")
		return
	}
	a, err := core.ParseAddress(strings.TrimSpace(addr))
	if err != nil {
		autoconfigProblem(ctx, kindBadRequest, "emailaddress: not a valid email address")
		return
	}
	if !checkAutoconfigDomain(ctx, known, a.Domain) {
		return
	}
	writeAutoconfigXML(ctx, thunderbirdConfig(c, a.Domain))
}

// ---- Microsoft Autodiscover (POX) -----------------------------------------

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request *struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponseDoc struct {
	XMLName  xml.Name   `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adResponse `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

type adResponse struct {
	User    adUser    `xml:"User"`
	Account adAccount `xml:"Account"`
}

type adUser struct {
	DisplayName string `xml:"DisplayName"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocol    []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
	UsePOPAuth     string `xml:"UsePOPAuth,omitempty"`
	SMTPLast       string `xml:"SMTPLast,omitempty"`
}

// autodiscoverResponse builds the Outlook (2006a) response for address.
// One protocol entry per type is listed, implicit TLS preferred.
func autodiscoverResponse(c ClientSettings, address string) adResponseDoc {
	host := strings.TrimSuffix(c.Hostname, ".")
	proto := func(typ string, tlsPort, starttlsPort int) (adProtocol, bool) {
		p := adProtocol{
			Type:           typ,
			Server:         host,
			DomainRequired: "off",
			LoginName:      address,
			SPA:            "off",
			SSL:            "on",
			AuthRequired:   "on",
		}
		switch {
		case tlsPort != 0:
			p.Port, p.Encryption = tlsPort, "SSL"
		case starttlsPort != 0:
			p.Port, p.Encryption = starttlsPort, "TLS"
		default:
			return p, false
		}
		if typ == "SMTP" {
			p.UsePOPAuth, p.SMTPLast = "off", "off"
		}
		return p, true
	}
	acct := adAccount{AccountType: "email", Action: "settings"}
	for _, s := range []struct {
		typ        string
		tls, start int
	}{
		{"IMAP", c.IMAPSPort, c.IMAPPort},
		{"POP3", c.POP3SPort, c.POP3Port},
		{"SMTP", c.SubmissionsPort, c.SubmissionPort},
	} {
		if p, ok := proto(s.typ, s.tls, s.start); ok {
			acct.Protocol = append(acct.Protocol, p)
		}
	}
	return adResponseDoc{Response: adResponse{User: adUser{DisplayName: address}, Account: acct}}
}

// parseAutodiscoverRequest decodes a POX request document, rejecting
// anything but a single well-formed Autodiscover element.
func parseAutodiscoverRequest(body []byte) (string, string, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var req adRequest
	if err := dec.Decode(&req); err != nil {
		return "", "", err
	}
	// Only whitespace, comments and processing instructions may follow.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", err
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return "", "", errors.New("trailing data after document")
			}
		default:
			return "", "", errors.New("trailing data after document")
		}
	}
	if req.Request == nil {
		return "", "", errors.New("missing Request element")
	}
	return strings.TrimSpace(req.Request.EMailAddress), strings.TrimSpace(req.Request.AcceptableResponseSchema), nil
}

func serveAutodiscover(ctx *gin.Context, c ClientSettings, known domainKnown) {
	body, err := io.ReadAll(http.MaxBytesReader(ctx.Writer, ctx.Request.Body, autodiscoverMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			autoconfigProblem(ctx, kindTooLarge, "the request body exceeds "+strconv.Itoa(autodiscoverMaxBody)+" bytes")
			return
		}
		autoconfigProblem(ctx, kindInvalidJSON, "the request body could not be read")
		return
	}
	addr, schema, err := parseAutodiscoverRequest(body)
	if err != nil {
		autoconfigProblem(ctx, kindInvalidJSON, "malformed Autodiscover request")
		return
	}
	if schema != "" && schema != autodiscoverOutlookNS {
		autoconfigProblem(ctx, kindInvalidJSON, "unsupported AcceptableResponseSchema: only "+autodiscoverOutlookNS+" is supported")
		return
	}
	a, err := core.ParseAddress(addr)
	if err != nil {
		autoconfigProblem(ctx, kindBadRequest, "EMailAddress: not a valid email address")
		return
	}
	if !checkAutoconfigDomain(ctx, known, a.Domain) {
		return
	}
	writeAutoconfigXML(ctx, autodiscoverResponse(c, a.String()))
}

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
func dnsRecords(c ClientSettings, domain string, dkim map[string]string) []DNSRecord {
	return buildDNSRecords(c, domain, dkim)
}

// writeMobileconfig writes an Apple configuration profile for address.
func writeMobileconfig(w http.ResponseWriter, c ClientSettings, address, displayName string) error {
	return writeAppleMobileconfig(w, c, address, displayName)
}
