package api

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
)

const (
	mobileconfigContentType = "application/x-apple-aspen-config"
	mobileconfigDoctype     = `DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"`
)

// plistDict is an ordered property-list dictionary. Values are string, int,
// bool or []plistDict (an array of dictionaries).
type plistDict []plistEntry

type plistEntry struct {
	Key   string
	Value any
}

// encodePlist writes d as an XML property list in Apple's layout. Every
// key and string goes through xml.EscapeText, so user values cannot break
// out of their element (invalid XML characters become U+FFFD).
func encodePlist(d plistDict) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString("<!" + mobileconfigDoctype + ">\n")
	buf.WriteString("<plist version=\"1.0\">\n")
	if err := encodePlistDict(&buf, d, 0); err != nil {
		return nil, err
	}
	buf.WriteString("</plist>\n")
	return buf.Bytes(), nil
}

func plistIndent(buf *bytes.Buffer, depth int) {
	for range depth {
		buf.WriteByte('\t')
	}
}

func encodePlistText(buf *bytes.Buffer, depth int, name, text string) error {
	plistIndent(buf, depth)
	buf.WriteString("<" + name + ">")
	if err := xml.EscapeText(buf, []byte(text)); err != nil {
		return err
	}
	buf.WriteString("</" + name + ">\n")
	return nil
}

func encodePlistDict(buf *bytes.Buffer, d plistDict, depth int) error {
	plistIndent(buf, depth)
	buf.WriteString("<dict>\n")
	for _, e := range d {
		if err := encodePlistText(buf, depth+1, "key", e.Key); err != nil {
			return err
		}
		switch v := e.Value.(type) {
		case string:
			if err := encodePlistText(buf, depth+1, "string", v); err != nil {
				return err
			}
		case int:
			if err := encodePlistText(buf, depth+1, "integer", strconv.Itoa(v)); err != nil {
				return err
			}
		case bool:
			plistIndent(buf, depth+1)
			if v {
				buf.WriteString("<true/>\n")
			} else {
				buf.WriteString("<false/>\n")
			}
		case []plistDict:
			plistIndent(buf, depth+1)
			buf.WriteString("<array>\n")
			for _, sub := range v {
				if err := encodePlistDict(buf, sub, depth+2); err != nil {
					return err
				}
			}
			plistIndent(buf, depth+1)
			buf.WriteString("</array>\n")
		default:
			return fmt.Errorf("plist: unsupported value type %T for key %q", e.Value, e.Key)
		}
	}
	plistIndent(buf, depth)
	buf.WriteString("</dict>\n")
	return nil
}

// mobileconfigUUID returns a random (version 4) UUID in upper case.
func mobileconfigUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])), nil
}

// mobileconfigIdentPart reduces s to characters safe in a reverse-DNS
// payload identifier.
func mobileconfigIdentPart(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '-'
	}, s)
}

// reverseHostname turns "mail.example.com" into "com.example.mail".
func reverseHostname(host string) string {
	labels := strings.Split(strings.ToLower(strings.Trim(host, ".")), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return mobileconfigIdentPart(strings.Join(labels, "."))
}

// buildMobileconfig returns the profile document for address.
func buildMobileconfig(c ClientSettings, address, displayName string) ([]byte, error) {
	host := strings.TrimSuffix(strings.TrimSpace(c.Hostname), ".")
	if host == "" {
		return nil, errors.New("mobileconfig: no hostname configured")
	}
	var inPort, outPort int
	switch {
	case c.IMAPSPort != 0:
		inPort = c.IMAPSPort
	case c.IMAPPort != 0:
		inPort = c.IMAPPort
	default:
		return nil, errors.New("mobileconfig: IMAP is not enabled")
	}
	switch {
	case c.SubmissionsPort != 0:
		outPort = c.SubmissionsPort
	case c.SubmissionPort != 0:
		outPort = c.SubmissionPort
	default:
		return nil, errors.New("mobileconfig: mail submission is not enabled")
	}
	profileUUID, err := mobileconfigUUID()
	if err != nil {
		return nil, err
	}
	payloadUUID, err := mobileconfigUUID()
	if err != nil {
		return nil, err
	}
	ident := reverseHostname(host) + ".mobileconfig." + mobileconfigIdentPart(address)
	if displayName == "" {
		displayName = address
	}
	// UseSSL on a STARTTLS port makes Apple Mail upgrade with STARTTLS.
	mail := plistDict{
		{"EmailAccountDescription", address},
		{"EmailAccountName", displayName},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", address},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", host},
		{"IncomingMailServerPortNumber", inPort},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", address},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", host},
		{"OutgoingMailServerPortNumber", outPort},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", address},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Configures the mail account " + address},
		{"PayloadDisplayName", address},
		{"PayloadIdentifier", ident + ".mail"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", payloadUUID},
		{"PayloadVersion", 1},
	}
	profile := plistDict{
		{"PayloadContent", []plistDict{mail}},
		{"PayloadDescription", "Mail settings for " + address + " on " + host},
		{"PayloadDisplayName", "Mail: " + address},
		{"PayloadIdentifier", ident},
		{"PayloadOrganization", host},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", profileUUID},
		{"PayloadVersion", 1},
	}
	return encodePlist(profile)
}

// writeAppleMobileconfig implements writeMobileconfig. Nothing is written
// if the profile cannot be built.
func writeAppleMobileconfig(w http.ResponseWriter, c ClientSettings, address, displayName string) error {
	a, err := core.ParseAddress(strings.TrimSpace(address))
	if err != nil {
		return fmt.Errorf("mobileconfig: %w", err)
	}
	address = a.String()
	body, err := buildMobileconfig(c, address, displayName)
	if err != nil {
		return err
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": address + ".mobileconfig"})
	if disp == "" {
		disp = `attachment; filename="mail.mobileconfig"`
	}
	h := w.Header()
	h.Set("Content-Type", mobileconfigContentType)
	h.Set("Content-Disposition", disp)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
