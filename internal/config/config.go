// Package config resolves the configuration of `yubin serve` from command
// line flags, YUBIN_* environment variables and built-in defaults, in that
// order of precedence, and validates it before anything is started.
//
// Every setting is described once, in the table returned by Settings; the
// flags, the --help text and the resolution all come from that table, so a
// new setting is one new row plus one field of Config.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yubinmail/yubin/core"
)

// Config is the resolved and validated configuration of `yubin serve`.
type Config struct {
	// DataDir holds everything Yubin stores (YUBIN_DATA, --data).
	DataDir string
	// Hostname names the server in banners, Received fields and TLS.
	Hostname string

	// Listener addresses; "" means the listener is off.
	SMTPAddr        string
	SubmissionAddr  string
	SubmissionsAddr string
	IMAPAddr        string
	IMAPSAddr       string
	POP3Addr        string
	POP3SAddr       string
	HTTPAddr        string
	HTTPSAddr       string
	ManageSieveAddr string

	// TLSCert and TLSKey name PEM files; both empty means a self-signed
	// certificate in DataDir/tls.
	TLSCert string
	TLSKey  string
	// ACME gets certificates from an ACME CA (YUBIN_ACME=on) from
	// ACMEDirectory, with the account contact ACMEEmail; ACMECA is a PEM
	// file trusted for the directory only ("" = the system's roots).
	ACME          bool
	ACMEEmail     string
	ACMEDirectory string
	ACMECA        string

	// MaxMessageSize is the largest message accepted, in bytes.
	MaxMessageSize int64
	// MaxConnections caps concurrent connections per protocol (0 = no cap).
	MaxConnections int
	// MaxConnectionsPerIP caps concurrent connections per protocol and
	// client IP address (0 = no cap).
	MaxConnectionsPerIP int
	// MaxMailboxes caps the mailboxes (folders) of one user (0 = no cap).
	MaxMailboxes int
	// IPv6Prefix is the prefix length by which IPv6 clients are counted
	// by the connection caps and the login throttle (64: one client per
	// /64; 128: each address alone).
	IPv6Prefix int
	// InsecureAuth allows IMAP LOGIN and POP3 USER/PASS on connections
	// without TLS.
	InsecureAuth bool

	// LogLevel is the lowest level logged.
	LogLevel slog.Level
	// LogFormat is "text" or "json".
	LogFormat string

	// DNS is the DNS server (host:port) of the filters; "" = the system's.
	DNS string
	// Clamd, Rspamd and Milter turn those filters on.
	Clamd  string
	Rspamd string
	Milter string
	// ClamdOnError, RspamdOnError and MilterOnError say what a message
	// gets when that filter is down: "tempfail" (451, the sender retries)
	// or "open" (deliver unchecked).
	ClamdOnError, RspamdOnError, MilterOnError string
	// ClamdScan is what clamd is given: "auto" (the decoded text of a
	// message that is only plain text, else the whole message), "message"
	// (always the whole raw message) or "parts" (each decoded MIME part).
	ClamdScan string
	// SpamJunkScore and SpamRejectScore are the spam score thresholds for
	// filing into Junk and refusing at DATA (0 = never refuse).
	SpamJunkScore, SpamRejectScore float64
	// RspamdWeight multiplies rspamd's score before it is added to the
	// spam score (0 = rspamd's score left out).
	RspamdWeight float64
	// SPFRejectFail refuses mail whose SPF check fails at MAIL FROM
	// (otherwise DMARC decides).
	SPFRejectFail bool
	// DNSBLs are DNS block list zones the spam filter consults.
	DNSBLs []string
	// Filters is the inbound filter chain: stage names (FilterStages) in
	// the order they run. Empty means no filter at all (YUBIN_FILTERS=none).
	// The remote stages (clamd, milter, rspamd) also need their address.
	Filters []string

	// Smarthost ("host:port") relays all outbound mail, with AUTH PLAIN
	// if SmarthostUser is set; OutboundPort is the port of remote MX hosts.
	Smarthost         string
	SmarthostUser     string
	SmarthostPassword string
	OutboundPort      int
	// OutboundLease bounds one delivery attempt: a delivery cut short (the
	// server was killed) is tried again after it.
	OutboundLease time.Duration
	// SubaddressDelimiters separate a user from a detail in recipient
	// addresses (RFC 5233), any one of them: "+" (the default) makes
	// ann+news@ reach ann; "" turns subaddressing off.
	SubaddressDelimiters string

	// MTASTSMode is the mode of the MTA-STS policy (RFC 8461) published for
	// the domains ("testing", "enforce" or "none"), MTASTSModes the
	// domains that have another (YUBIN_MTA_STS_MODE).
	MTASTSMode  string
	MTASTSModes map[string]string

	// AdminEmail and AdminPassword create the first API admin.
	AdminEmail    string
	AdminPassword string
	// PprofAddr serves net/http/pprof on a loopback address; "" = off.
	PprofAddr string
	// MetricsToken lets clients other than loopback read /metrics.
	MetricsToken string
	// PublicPorts are the ports mail clients are told to use
	// (YUBIN_PUBLIC_PORTS): those Yubin listens on, the standard ones, or
	// some of either replaced.
	PublicPorts PublicPorts
	// EncryptionKeyFile names the server key that encrypts message bodies
	// at rest (YUBIN_ENCRYPTION_KEY_FILE); "" = bodies are not encrypted.
	EncryptionKeyFile string
	// EncryptionMode is the encryption at rest of domains without a mode
	// of their own (YUBIN_ENCRYPTION_MODE): "server" (the server key, if
	// any) or "user" (each user's own key, unlocked by their password).
	EncryptionMode string
	// BackupDir receives the server's scheduled backups (YUBIN_BACKUP_DIR),
	// one folder each, every BackupInterval; the BackupKeep newest are kept.
	// "" = no scheduled backups.
	BackupDir      string
	BackupInterval time.Duration
	BackupKeep     int
	// WebAuthnOrigins are the origins the dashboard is served from, where
	// passkeys are registered and used (YUBIN_WEBAUTHN_ORIGINS); the
	// WebAuthn relying party ID is the first one's host. Empty:
	// https://HOSTNAME and, when HTTPS is announced on another port than
	// 443, https://HOSTNAME:PORT.
	WebAuthnOrigins []string
	// Database names the database (YUBIN_DATABASE): "" for SQLite in
	// DataDir, a postgres:// URL for PostgreSQL (several nodes may share
	// it). Only from the environment: the URL may hold a password.
	Database string
	// BlobDir is the folder of message bodies (YUBIN_BLOBS, --blobs)
	// instead of DataDir/blobs: a folder several nodes share.
	BlobDir string
}

// Listener is one configured listening address.
type Listener struct {
	// Name is the protocol as logged: "smtp", "imaps", ...
	Name string
	// Addr is host:port; never empty in the result of Listeners.
	Addr string
	// TLS is "none", "starttls" or "implicit".
	TLS string
	// Setting is the flag name that configures it, for error messages.
	Setting string
}

// Listeners returns the listeners that are switched on, in a fixed order.
func (c *Config) Listeners() []Listener {
	all := []Listener{
		{"smtp", c.SMTPAddr, "starttls", "smtp-addr"},
		{"submission", c.SubmissionAddr, "starttls", "submission-addr"},
		{"submissions", c.SubmissionsAddr, "implicit", "submissions-addr"},
		{"imap", c.IMAPAddr, "starttls", "imap-addr"},
		{"imaps", c.IMAPSAddr, "implicit", "imaps-addr"},
		{"pop3", c.POP3Addr, "starttls", "pop3-addr"},
		{"pop3s", c.POP3SAddr, "implicit", "pop3s-addr"},
		{"http", c.HTTPAddr, "none", "http-addr"},
		{"https", c.HTTPSAddr, "implicit", "https-addr"},
		{"managesieve", c.ManageSieveAddr, "starttls", "managesieve-addr"},
	}
	var on []Listener
	for _, l := range all {
		if l.Addr != "" {
			on = append(on, l)
		}
	}
	return on
}

// Setting describes one configuration value.
type Setting struct {
	// Flag is the flag name without dashes; "" for settings that are only
	// read from the environment (secrets).
	Flag string
	// Env is the environment variable.
	Env string
	// Default is the value used when neither flag nor environment gives
	// one. For the hostname it is computed (see DefaultNote).
	Default string
	// DefaultNote describes a computed default in help texts.
	DefaultNote string
	// Usage is a one-line description.
	Usage string
	// EmptyMeansOff is true for listener addresses: an empty value, from
	// the flag or the environment, switches the listener off. For other
	// settings an empty environment variable counts as unset.
	EmptyMeansOff bool
	// Planned marks settings that are accepted and kept but not used yet.
	Planned bool

	set func(c *Config, v string) error
}

// Settings returns the table of every setting of `yubin serve`.
func Settings() []Setting {
	str := func(p func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *p(c) = v; return nil }
	}
	addr := func(p func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error {
			if v != "" {
				if err := ValidateAddr(v); err != nil {
					return err
				}
			}
			*p(c) = v
			return nil
		}
	}
	return []Setting{
		{Flag: "data", Env: "YUBIN_DATA", Default: "./data", Usage: "data folder: database, message bodies, TLS certificate",
			set: func(c *Config, v string) error {
				if v == "" {
					return errors.New("must not be empty")
				}
				c.DataDir = v
				return nil
			}},
		{Flag: "hostname", Env: "YUBIN_HOSTNAME", DefaultNote: "the machine's host name", Usage: "server name in banners, Received fields and the TLS certificate",
			set: func(c *Config, v string) error {
				h, err := ValidateHostname(v)
				c.Hostname = h
				return err
			}},
		{Flag: "smtp-addr", Env: "YUBIN_SMTP_ADDR", Default: ":2525", EmptyMeansOff: true, Usage: "SMTP intake (MX, STARTTLS)", set: addr(func(c *Config) *string { return &c.SMTPAddr })},
		{Flag: "submission-addr", Env: "YUBIN_SUBMISSION_ADDR", Default: ":2587", EmptyMeansOff: true, Usage: "SMTP submission (STARTTLS)", set: addr(func(c *Config) *string { return &c.SubmissionAddr })},
		{Flag: "submissions-addr", Env: "YUBIN_SUBMISSIONS_ADDR", Default: ":2465", EmptyMeansOff: true, Usage: "SMTP submission (implicit TLS)", set: addr(func(c *Config) *string { return &c.SubmissionsAddr })},
		{Flag: "imap-addr", Env: "YUBIN_IMAP_ADDR", Default: ":2143", EmptyMeansOff: true, Usage: "IMAP (STARTTLS)", set: addr(func(c *Config) *string { return &c.IMAPAddr })},
		{Flag: "imaps-addr", Env: "YUBIN_IMAPS_ADDR", Default: ":2993", EmptyMeansOff: true, Usage: "IMAP (implicit TLS)", set: addr(func(c *Config) *string { return &c.IMAPSAddr })},
		{Flag: "pop3-addr", Env: "YUBIN_POP3_ADDR", Default: ":2110", EmptyMeansOff: true, Usage: "POP3 (STLS)", set: addr(func(c *Config) *string { return &c.POP3Addr })},
		{Flag: "pop3s-addr", Env: "YUBIN_POP3S_ADDR", Default: ":2995", EmptyMeansOff: true, Usage: "POP3 (implicit TLS)", set: addr(func(c *Config) *string { return &c.POP3SAddr })},
		{Flag: "http-addr", Env: "YUBIN_HTTP_ADDR", Default: ":8080", EmptyMeansOff: true, Usage: "HTTP: /healthz and /readyz (REST API and dashboard planned)", set: addr(func(c *Config) *string { return &c.HTTPAddr })},
		{Flag: "https-addr", Env: "YUBIN_HTTPS_ADDR", Default: ":8443", EmptyMeansOff: true, Usage: "HTTPS: same as HTTP, over TLS", set: addr(func(c *Config) *string { return &c.HTTPSAddr })},
		{Flag: "managesieve-addr", Env: "YUBIN_MANAGESIEVE_ADDR", Default: ":4190", EmptyMeansOff: true, Usage: "ManageSieve (RFC 5804, STARTTLS): Sieve filter scripts from mail clients", set: addr(func(c *Config) *string { return &c.ManageSieveAddr })},
		{Flag: "tls-cert", Env: "YUBIN_TLS_CERT", Usage: "TLS certificate chain (PEM); without it a self-signed one is made in DATA/tls", set: str(func(c *Config) *string { return &c.TLSCert })},
		{Flag: "tls-key", Env: "YUBIN_TLS_KEY", Usage: "TLS private key (PEM) for --tls-cert", set: str(func(c *Config) *string { return &c.TLSKey })},
		{Flag: "acme", Env: "YUBIN_ACME", Default: "off", Usage: "on: get and renew TLS certificates for the host name and the domains' autoconfig and mta-sts names from an ACME CA (HTTP-01 on the HTTP listener, TLS-ALPN-01 on HTTPS)",
			set: func(c *Config, v string) error {
				b, err := ParseBool(v)
				c.ACME = b
				return err
			}},
		{Flag: "acme-email", Env: "YUBIN_ACME_EMAIL", Usage: "contact address of the ACME account (expiry warnings from the CA)", set: str(func(c *Config) *string { return &c.ACMEEmail })},
		{Flag: "acme-directory", Env: "YUBIN_ACME_DIRECTORY", Default: "https://acme-v02.api.letsencrypt.org/directory", Usage: "ACME directory URL of the CA", set: str(func(c *Config) *string { return &c.ACMEDirectory })},
		{Flag: "acme-ca", Env: "YUBIN_ACME_CA", Usage: "PEM file of root certificates trusted for the ACME directory only (a private or test CA)", set: str(func(c *Config) *string { return &c.ACMECA })},
		{Flag: "max-message-size", Env: "YUBIN_MAX_MESSAGE_SIZE", Default: "50M", Usage: "largest message accepted (bytes; K, M, G suffixes are powers of 1024)",
			set: func(c *Config, v string) error {
				n, err := ParseSize(v)
				if err != nil {
					return err
				}
				if n < 1024 {
					return fmt.Errorf("%d bytes is too small (at least 1K)", n)
				}
				c.MaxMessageSize = n
				return nil
			}},
		{Flag: "max-connections", Env: "YUBIN_MAX_CONNECTIONS", Default: "1000", Usage: "concurrent connections per protocol (0 = no cap)",
			set: func(c *Config, v string) error { return setCount(&c.MaxConnections, v) }},
		{Flag: "max-connections-per-ip", Env: "YUBIN_MAX_CONNECTIONS_PER_IP", Default: "20", Usage: "concurrent connections per protocol from one IP address (0 = no cap)",
			set: func(c *Config, v string) error { return setCount(&c.MaxConnectionsPerIP, v) }},
		{Flag: "max-mailboxes", Env: "YUBIN_MAX_MAILBOXES", Default: "1000", Usage: "mailboxes (folders) one user may have (0 = no cap)",
			set: func(c *Config, v string) error { return setCount(&c.MaxMailboxes, v) }},
		{Flag: "ipv6-prefix", Env: "YUBIN_IPV6_PREFIX", Default: "64", Usage: "prefix length by which IPv6 clients count as one for the connection caps and the login throttle (1-128; 128 = each address alone)",
			set: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 128 {
					return fmt.Errorf("%q: want a prefix length from 1 to 128", v)
				}
				c.IPv6Prefix = n
				return nil
			}},
		{Flag: "insecure-auth", Env: "YUBIN_INSECURE_AUTH", Default: "false", Usage: "allow IMAP and POP3 passwords over connections without TLS from any address; loopback is always allowed (testing only)",
			set: func(c *Config, v string) error {
				b, err := ParseBool(v)
				c.InsecureAuth = b
				return err
			}},
		{Flag: "log-level", Env: "YUBIN_LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error",
			set: func(c *Config, v string) error {
				l, err := ParseLogLevel(v)
				c.LogLevel = l
				return err
			}},
		{Flag: "log-format", Env: "YUBIN_LOG_FORMAT", Default: "text", Usage: "text or json",
			set: oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
		{Flag: "dns", Env: "YUBIN_DNS", Usage: "DNS server (host:port) for the filters' lookups (SPF, DKIM, DMARC, DNSBL); default: the system resolver", set: str(func(c *Config) *string { return &c.DNS })},
		{Flag: "clamd", Env: "YUBIN_CLAMD", Usage: "clamd (host:port or unix:/path): scan every message for viruses", set: str(func(c *Config) *string { return &c.Clamd })},
		{Flag: "rspamd", Env: "YUBIN_RSPAMD", Usage: "rspamd base URL (e.g. http://127.0.0.1:11333): add its verdict to the spam filter", set: str(func(c *Config) *string { return &c.Rspamd })},
		{Flag: "milter", Env: "YUBIN_MILTER", Usage: "milter (host:port or unix:/path) every message is passed through", set: str(func(c *Config) *string { return &c.Milter })},
		{Flag: "clamd-on-error", Env: "YUBIN_CLAMD_ON_ERROR", Default: "tempfail", Usage: "when clamd is down: tempfail (451, the sender retries) or open (deliver unchecked)",
			set: oneOf(func(c *Config) *string { return &c.ClamdOnError }, "tempfail", "open")},
		{Flag: "clamd-scan", Env: "YUBIN_CLAMD_SCAN", Default: "auto", Usage: "what clamd scans: auto (a plain-text-only message's decoded text, else the whole message), message (always the whole message) or parts (each decoded MIME part)",
			set: oneOf(func(c *Config) *string { return &c.ClamdScan }, "auto", "message", "parts")},
		{Flag: "rspamd-on-error", Env: "YUBIN_RSPAMD_ON_ERROR", Default: "open", Usage: "when rspamd is down: tempfail (451, the sender retries) or open (deliver unchecked)",
			set: oneOf(func(c *Config) *string { return &c.RspamdOnError }, "tempfail", "open")},
		{Flag: "milter-on-error", Env: "YUBIN_MILTER_ON_ERROR", Default: "tempfail", Usage: "when the milter is down: tempfail (451, the sender retries) or open (deliver unchecked)",
			set: oneOf(func(c *Config) *string { return &c.MilterOnError }, "tempfail", "open")},
		{Flag: "spam-junk-score", Env: "YUBIN_SPAM_JUNK_SCORE", Default: "5", Usage: "spam score from which a message is filed into Junk",
			set: score(func(c *Config) *float64 { return &c.SpamJunkScore })},
		{Flag: "spam-reject-score", Env: "YUBIN_SPAM_REJECT_SCORE", Default: "15", Usage: "spam score from which a message is refused at DATA; 0 = never",
			set: score(func(c *Config) *float64 { return &c.SpamRejectScore })},
		{Flag: "rspamd-weight", Env: "YUBIN_RSPAMD_WEIGHT", Default: "1", Usage: "weight of rspamd's score in the spam score (added as the rule RSPAMD); 0 = left out",
			set: score(func(c *Config) *float64 { return &c.RspamdWeight })},
		{Flag: "spf-reject-fail", Env: "YUBIN_SPF_REJECT_FAIL", Default: "false", Usage: "refuse senders whose SPF check fails, at MAIL FROM (otherwise DMARC decides)",
			set: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				c.SPFRejectFail = b
				return err
			}},
		{Flag: "dnsbl", Env: "YUBIN_DNSBL", Usage: "comma-separated DNS block lists the spam filter consults (e.g. zen.spamhaus.org)",
			set: func(c *Config, v string) error {
				c.DNSBLs = nil
				for _, z := range strings.Split(v, ",") {
					if z = strings.TrimSpace(z); z != "" {
						c.DNSBLs = append(c.DNSBLs, z)
					}
				}
				return nil
			}},
		{Flag: "filters", Env: "YUBIN_FILTERS", Default: strings.Join(DefaultFilters, ","), Usage: "the inbound filter chain, in order: any of " + strings.Join(FilterStages, ", ") + " (clamd, milter and rspamd also need their address), or none",
			set: setFilters},
		{Flag: "mta-sts-mode", Env: "YUBIN_MTA_STS_MODE", Default: "testing", Usage: "mode of the MTA-STS policy published at https://mta-sts.DOMAIN: testing, enforce or none, then DOMAIN=MODE for domains with another (e.g. enforce,example.org=testing)",
			set: setMTASTSMode},
		{Flag: "smarthost", Env: "YUBIN_SMARTHOST", Usage: "relay all outbound mail through this host:port (port 465: implicit TLS, else STARTTLS required)", set: str(func(c *Config) *string { return &c.Smarthost })},
		{Flag: "smarthost-user", Env: "YUBIN_SMARTHOST_USER", Usage: "user name for the smarthost", set: str(func(c *Config) *string { return &c.SmarthostUser })},
		{Env: "YUBIN_SMARTHOST_PASSWORD", Usage: "password for the smarthost (environment only)", set: str(func(c *Config) *string { return &c.SmarthostPassword })},
		{Flag: "outbound-port", Env: "YUBIN_OUTBOUND_PORT", Default: "25", Usage: "port used to reach remote MX hosts",
			set: func(c *Config, v string) error {
				p, err := strconv.Atoi(v)
				if err != nil || p < 1 || p > 65535 {
					return fmt.Errorf("%q: want a port number from 1 to 65535", v)
				}
				c.OutboundPort = p
				return nil
			}},
		{Flag: "outbound-lease", Env: "YUBIN_OUTBOUND_LEASE", Default: "30m", Usage: "longest delivery attempt; one cut short by a crash is retried after it",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second || d > 24*time.Hour {
					return fmt.Errorf("%q: want a duration from 1s to 24h, such as 30m", v)
				}
				c.OutboundLease = d
				return nil
			}},
		{Flag: "subaddress-delimiter", Env: "YUBIN_SUBADDRESS_DELIMITER", Default: core.DefaultSubaddressDelimiters, EmptyMeansOff: true,
			Usage: "subaddressing (RFC 5233): characters that separate user and detail, any one of them (\"+-\": ann+news@ and ann-news@ reach ann); empty = off",
			set: func(c *Config, v string) error {
				if err := core.CheckSubaddressDelimiters(v); err != nil {
					return err
				}
				c.SubaddressDelimiters = v
				return nil
			}},
		{Flag: "admin-email", Env: "YUBIN_ADMIN_EMAIL", Usage: "first API admin, created on first start", set: str(func(c *Config) *string { return &c.AdminEmail })},
		{Env: "YUBIN_ADMIN_PASSWORD", Usage: "password of the first API admin (environment only)", set: str(func(c *Config) *string { return &c.AdminPassword })},
		{Flag: "pprof-addr", Env: "YUBIN_PPROF_ADDR", DefaultNote: "off", Usage: "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060",
			set: func(c *Config, v string) error {
				if v != "" {
					if err := ValidateLoopbackAddr(v); err != nil {
						return err
					}
				}
				c.PprofAddr = v
				return nil
			}},
		{Env: "YUBIN_METRICS_TOKEN", Usage: "bearer token that lets clients other than loopback read /metrics (environment only); without it /metrics answers loopback only", set: str(func(c *Config) *string { return &c.MetricsToken })},
		{Flag: "public-ports", Env: "YUBIN_PUBLIC_PORTS", Default: "bound", Usage: "ports announced to mail clients (autoconfig, Autodiscover, Apple profile, SRV records, dashboard): bound (the listening ports), standard (25, 465, 587, 143, 993, 110, 995, 443, 4190), or name=port,... overrides (after bound or standard, e.g. standard,https=8443)",
			set: func(c *Config, v string) error {
				p, err := ParsePublicPorts(v)
				c.PublicPorts = p
				return err
			}},
		{Flag: "encryption-key-file", Env: "YUBIN_ENCRYPTION_KEY_FILE", DefaultNote: "off", Usage: "server key (made by yubin encryption keygen; mode 0600, outside the data folder) that encrypts message bodies at rest; existing mail is encrypted in the background",
			set: str(func(c *Config) *string { return &c.EncryptionKeyFile })},
		{Flag: "encryption-mode", Env: "YUBIN_ENCRYPTION_MODE", Default: "server", Usage: "encryption at rest of domains that have no mode of their own: server (the server key, if YUBIN_ENCRYPTION_KEY_FILE is set) or user (each user's mail sealed to their own key, unlocked by their password at login)",
			set: oneOf(func(c *Config) *string { return &c.EncryptionMode }, "server", "user")},
		{Flag: "backup-dir", Env: "YUBIN_BACKUP_DIR", DefaultNote: "off", Usage: "folder for scheduled online backups (one folder per backup, as yubin backup makes them; bodies hard-linked to the previous backup where possible)",
			set: str(func(c *Config) *string { return &c.BackupDir })},
		{Flag: "backup-interval", Env: "YUBIN_BACKUP_INTERVAL", Default: "24h", Usage: "time between scheduled backups (with --backup-dir)",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Minute {
					return fmt.Errorf("%q: want a duration of 1m or more, such as 24h", v)
				}
				c.BackupInterval = d
				return nil
			}},
		{Flag: "backup-keep", Env: "YUBIN_BACKUP_KEEP", Default: "7", Usage: "scheduled backups kept (the newest; older ones are removed)",
			set: func(c *Config, v string) error {
				if err := setCount(&c.BackupKeep, v); err != nil {
					return err
				}
				if c.BackupKeep < 1 {
					return fmt.Errorf("%q: keep at least 1", v)
				}
				return nil
			}},
		{Flag: "webauthn-origins", Env: "YUBIN_WEBAUTHN_ORIGINS", DefaultNote: "https://HOSTNAME and https://HOSTNAME:PORT of the announced HTTPS port", Usage: "comma-separated origins the dashboard is served from, where passkeys work (e.g. https://mail.example.com); the passkeys' relying party ID is the first one's host, and every origin must be on it",
			set: func(c *Config, v string) error {
				c.WebAuthnOrigins = nil
				for _, o := range strings.Split(v, ",") {
					if o = strings.TrimSpace(o); o != "" {
						c.WebAuthnOrigins = append(c.WebAuthnOrigins, o)
					}
				}
				return nil
			}},
		{Env: "YUBIN_DATABASE", DefaultNote: "SQLite in DATA/yubin.db", Usage: "the database: a postgres://user:password@host:port/database URL for PostgreSQL (several nodes on one database); empty: SQLite in the data folder",
			set: func(c *Config, v string) error {
				d, err := DatabaseSetting(v)
				c.Database = d
				return err
			}},
		{Flag: "blobs", Env: "YUBIN_BLOBS", DefaultNote: "DATA/blobs", Usage: "folder of the message bodies (a folder several nodes share); small bodies stay inline in the database", set: str(func(c *Config) *string { return &c.BlobDir })},
	}
}

// DatabaseSetting checks a YUBIN_DATABASE value: "" (SQLite in the data
// folder) or a postgres:// or postgresql:// URL.
func DatabaseSetting(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		return v, nil
	}
	return "", errors.New("want a postgres://user:password@host:port/database URL, or nothing for SQLite in the data folder")
}

func setCount(p *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("%q: want a whole number, 0 or more", v)
	}
	*p = n
	return nil
}

// LookupEnv looks up an environment variable, like os.LookupEnv.
type LookupEnv func(key string) (string, bool)

// Loader parses the flags of `yubin serve` and resolves the configuration.
type Loader struct {
	fs       *flag.FlagSet
	settings []Setting
	values   map[string]*string // by flag name
	hostname func() (string, error)
}

// NewLoader returns a Loader whose flag set is named name. Parse errors are
// returned, not printed; PrintHelp prints the help.
func NewLoader(name string) *Loader {
	l := &Loader{
		fs:       flag.NewFlagSet(name, flag.ContinueOnError),
		settings: Settings(),
		values:   map[string]*string{},
		hostname: os.Hostname,
	}
	l.fs.SetOutput(io.Discard)
	l.fs.Usage = func() {}
	for _, s := range l.settings {
		if s.Flag == "" {
			continue
		}
		l.values[s.Flag] = l.fs.String(s.Flag, s.Default, s.Usage)
	}
	return l
}

// SetHostnameFunc replaces os.Hostname as the source of the default host
// name (for tests).
func (l *Loader) SetHostnameFunc(f func() (string, error)) { l.hostname = f }

// Load parses args and resolves every setting (Parse, then Resolve): a flag
// given on the command line wins over the environment, which wins over the
// default. It returns flag.ErrHelp for -h/--help, and an error naming the
// flag or variable for anything invalid.
func (l *Loader) Load(args []string, env LookupEnv) (*Config, error) {
	if err := l.Parse(args); err != nil {
		return nil, err
	}
	return l.Resolve(env)
}

// Parse parses the command line flags. Its errors are usage errors: an
// unknown flag, a flag without its value, a stray argument, or
// flag.ErrHelp.
func (l *Loader) Parse(args []string) error {
	if err := l.fs.Parse(args); err != nil {
		return err
	}
	if l.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", l.fs.Arg(0))
	}
	return nil
}

// Resolve combines the parsed flags, the environment and the defaults, and
// validates the result. Its errors name the flag or variable at fault.
func (l *Loader) Resolve(env LookupEnv) (*Config, error) {
	given := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	c := &Config{}
	var errs []error
	for _, s := range l.settings {
		v, source := s.Default, "default"
		if ev, ok := env(s.Env); ok && (ev != "" || s.EmptyMeansOff) {
			v, source = ev, s.Env
		}
		if s.Flag != "" && given[s.Flag] {
			v, source = *l.values[s.Flag], "--"+s.Flag
		}
		if source == "default" && s.Flag == "hostname" {
			h, err := l.hostname()
			if err != nil || h == "" {
				errs = append(errs, fmt.Errorf("YUBIN_HOSTNAME is not set and the machine's host name is unknown (%v): set it", err))
				continue
			}
			v = h
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// score returns a setter for a number setting, 0 or more, stored in the
// field field returns.
func score(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) { // !(f >= 0) catches NaN
			return fmt.Errorf("%q: want a number, 0 or more", v)
		}
		*field(c) = f
		return nil
	}
}

// oneOf returns a setter for a string setting that takes one of values,
// in any case, stored in lower case in the field field returns.
func oneOf(field func(*Config) *string, values ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if l := strings.ToLower(v); slices.Contains(values, l) {
			*field(c) = l
			return nil
		}
		return fmt.Errorf("%q: want %s or %s", v, strings.Join(values[:len(values)-1], ", "), values[len(values)-1])
	}
}

// FilterStages are the stages YUBIN_FILTERS can name: sender
// authentication (SPF, DKIM, DMARC), the virus scanner, a milter, rspamd and
// the built-in spam score.
var FilterStages = []string{"authn", "clamd", "milter", "rspamd", "spam"}

// DefaultFilters is the chain without configuration. The remote stages in
// it run only when their address is set.
var DefaultFilters = FilterStages

// setFilters parses YUBIN_FILTERS: a comma-separated list of distinct
// stage names, or "none".
func setFilters(c *Config, v string) error {
	c.Filters = nil
	if strings.EqualFold(strings.TrimSpace(v), "none") {
		return nil
	}
	for _, name := range strings.Split(v, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
			continue
		case !slices.Contains(FilterStages, name):
			return fmt.Errorf("%q: unknown filter %q (want some of %s, or none)", v, name, strings.Join(FilterStages, ", "))
		case slices.Contains(c.Filters, name):
			return fmt.Errorf("%q: filter %q named twice", v, name)
		}
		c.Filters = append(c.Filters, name)
	}
	if len(c.Filters) == 0 {
		return fmt.Errorf("%q: no filter named (use none for an empty chain)", v)
	}
	return nil
}

// setMTASTSMode parses YUBIN_MTA_STS_MODE: a default mode and
// DOMAIN=MODE exceptions, comma-separated.
func setMTASTSMode(c *Config, v string) error {
	valid := func(m string) bool { return m == "testing" || m == "enforce" || m == "none" }
	c.MTASTSMode, c.MTASTSModes = "testing", map[string]string{}
	for _, item := range strings.Split(v, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		domain, mode, exception := strings.Cut(item, "=")
		if !exception {
			if !valid(item) {
				return fmt.Errorf("%q: want testing, enforce or none", item)
			}
			c.MTASTSMode = item
			continue
		}
		d, err := core.NormalizeDomain(strings.TrimSpace(domain))
		if err != nil {
			return fmt.Errorf("%q: %w", domain, err)
		}
		if mode = strings.TrimSpace(mode); !valid(mode) {
			return fmt.Errorf("%s=%q: want testing, enforce or none", d, mode)
		}
		c.MTASTSModes[d] = mode
	}
	return nil
}

// MTASTSModeOf returns the MTA-STS mode published for domain.
func (c *Config) MTASTSModeOf(domain string) string {
	if m, ok := c.MTASTSModes[strings.ToLower(domain)]; ok {
		return m
	}
	if c.MTASTSMode == "" {
		return "testing"
	}
	return c.MTASTSMode
}

// FilterEnabled reports whether the chain has the stage name: it is named
// in Filters and, for the remote stages, its address is set.
func (c *Config) FilterEnabled(name string) bool {
	if !slices.Contains(c.Filters, name) {
		return false
	}
	switch name {
	case "clamd":
		return c.Clamd != ""
	case "milter":
		return c.Milter != ""
	case "rspamd":
		return c.Rspamd != ""
	}
	return true
}

// validate checks what no single setting can check alone.
func (c *Config) validate() error {
	var errs []error
	if !slices.Equal(c.Filters, DefaultFilters) {
		// An explicit chain says what runs: an address for a stage it
		// leaves out, or a stage without its address, is a mistake.
		for _, r := range []struct{ name, env, addr string }{
			{"clamd", "YUBIN_CLAMD", c.Clamd}, {"milter", "YUBIN_MILTER", c.Milter}, {"rspamd", "YUBIN_RSPAMD", c.Rspamd},
		} {
			listed := slices.Contains(c.Filters, r.name)
			switch {
			case listed && r.addr == "":
				errs = append(errs, fmt.Errorf("YUBIN_FILTERS names %s but %s is not set", r.name, r.env))
			case !listed && r.addr != "":
				errs = append(errs, fmt.Errorf("%s is set but YUBIN_FILTERS leaves %s out", r.env, r.name))
			}
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("YUBIN_TLS_CERT and YUBIN_TLS_KEY must be set together"))
	}
	if c.BackupDir != "" && c.Database != "" {
		errs = append(errs, errors.New("YUBIN_BACKUP_DIR backs up a SQLite data folder: with YUBIN_DATABASE, back the database up with PostgreSQL's tools (pg_dump) and YUBIN_BLOBS with the files"))
	}
	if c.BackupDir != "" && c.BlobDir != "" {
		errs = append(errs, errors.New("YUBIN_BACKUP_DIR backs up a data folder with its bodies in DATA/blobs: with YUBIN_BLOBS, back the body folder up with the files"))
	}
	if c.ACME && c.TLSCert != "" {
		errs = append(errs, errors.New("YUBIN_ACME=on and YUBIN_TLS_CERT are both set: the certificate comes from the ACME CA or from the files, choose one"))
	}
	if c.ACME && c.HTTPAddr == "" && c.HTTPSAddr == "" {
		errs = append(errs, errors.New("YUBIN_ACME=on needs the HTTP listener (HTTP-01 challenge) or the HTTPS listener (TLS-ALPN-01 challenge)"))
	}
	if c.ACME {
		if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("YUBIN_ACME_DIRECTORY %q: want an https:// URL", c.ACMEDirectory))
		}
	}
	for _, f := range []struct{ name, path string }{{"YUBIN_TLS_CERT", c.TLSCert}, {"YUBIN_TLS_KEY", c.TLSKey}, {"YUBIN_ACME_CA", c.ACMECA}} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read: %w", f.name, err))
			continue
		}
		fh.Close()
	}
	seen := map[string]string{}
	for _, ln := range c.Listeners() {
		key := ln.Addr
		if _, port, err := net.SplitHostPort(ln.Addr); err == nil && port == "0" {
			continue // any free port: never a clash
		}
		if other, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("--%s and --%s both use %s", other, ln.Setting, ln.Addr))
		}
		seen[key] = ln.Setting
	}
	return errors.Join(errs...)
}

// PrintHelp writes the flags of `yubin serve` with their environment
// variables and defaults.
func (l *Loader) PrintHelp(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, s := range l.settings {
		flagName := "-"
		if s.Flag != "" {
			flagName = "--" + s.Flag
		}
		def := s.Default
		if s.DefaultNote != "" {
			def = "(" + s.DefaultNote + ")"
		}
		if def == "" {
			def = "-"
		}
		usage := s.Usage
		if s.Planned {
			usage += " [planned: not used yet]"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", flagName, s.Env, def, usage)
	}
	tw.Flush()
}

// ValidateAddr checks a listening address: host:port with a numeric port
// (0 picks a free one) and an optional host.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want [host]:port, e.g. :2525 or 127.0.0.1:2525", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%q: bad host", addr)
	}
	return nil
}

// ValidateLoopbackAddr checks a listening address that must only be
// reachable from the machine itself: host:port whose host is a loopback IP
// address or "localhost".
func ValidateLoopbackAddr(addr string) error {
	if err := ValidateAddr(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only a loopback address is allowed, e.g. 127.0.0.1:6060 or [::1]:6060", addr)
	}
	return nil
}

// ValidateHostname checks a server host name and returns it in lower case
// without a trailing dot.
func ValidateHostname(h string) (string, error) {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if h == "" {
		return "", errors.New("host name must not be empty")
	}
	if len(h) > 253 {
		return "", fmt.Errorf("host name %q longer than 253 characters", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("host name %q has an empty or overlong label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("host name %q has character %q", h, c)
			}
		}
	}
	return h, nil
}

// ParseSize parses a byte count such as "52428800", "500K", "50M", "2G",
// "1T", optionally followed by "B" or "iB" ("50MB", "50MiB"); case does not
// matter and the multipliers are powers of 1024.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "IB")
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = strings.TrimSpace(t[:len(t)-1])
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a whole number of bytes, optionally with K, M, G or T (e.g. 500M)", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// FormatSize renders a byte count with the largest exact binary unit
// ("50M", "1536K", "100"), or "unlimited" for 0.
func FormatSize(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseBool accepts true/false, yes/no, on/off and 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q: want true or false", s)
}

// ParseLogLevel accepts debug, info, warn (or warning) and error.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
}

// DataDir resolves the data folder for the admin commands, with the same
// precedence as Load: flagValue if the flag was given, else YUBIN_DATA if
// set and not empty, else ./data.
func DataDir(flagValue string, flagGiven bool, env LookupEnv) (string, error) {
	if flagGiven {
		if flagValue == "" {
			return "", errors.New("--data: must not be empty")
		}
		return flagValue, nil
	}
	if v, ok := env("YUBIN_DATA"); ok && v != "" {
		return v, nil
	}
	return "./data", nil
}
