package config

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func load(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	l := NewLoader("serve")
	l.SetHostnameFunc(func() (string, error) { return "Box.Example.", nil })
	return l.Load(args, envMap(env))
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: "./data", Hostname: "box.example",
		SMTPAddr: ":2525", SubmissionAddr: ":2587", SubmissionsAddr: ":2465",
		IMAPAddr: ":2143", IMAPSAddr: ":2993", POP3Addr: ":2110", POP3SAddr: ":2995",
		HTTPAddr: ":8080", HTTPSAddr: ":8443", ManageSieveAddr: ":4190",
		MaxMessageSize: 50 << 20, MaxConnections: 1000, MaxConnectionsPerIP: 20, IPv6Prefix: 64, MaxMailboxes: 1000,
		LogLevel: slog.LevelInfo, LogFormat: "text", OutboundPort: 25, OutboundLease: 30 * time.Minute,
		SubaddressDelimiters: "+",
		ClamdOnError:         "tempfail", RspamdOnError: "open", MilterOnError: "tempfail", ClamdScan: "auto",
		SpamJunkScore: 5, SpamRejectScore: 15, RspamdWeight: 1,
		Filters:        []string{"authn", "clamd", "milter", "rspamd", "spam"},
		BackupInterval: 24 * time.Hour, BackupKeep: 7, EncryptionMode: "server",
		ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory",
		MTASTSMode:    "testing", MTASTSModes: map[string]string{},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if n := len(c.Listeners()); n != 10 {
		t.Errorf("%d listeners on by default, want 10", n)
	}
}

func TestPrecedence(t *testing.T) {
	env := map[string]string{
		"YUBIN_DATA":                   "/env/data",
		"YUBIN_HOSTNAME":               "mx.env.example",
		"YUBIN_SMTP_ADDR":              "127.0.0.1:25",
		"YUBIN_IMAP_ADDR":              "",  // off
		"YUBIN_LOG_LEVEL":              "",  // empty non-listener: default
		"YUBIN_MAX_CONNECTIONS_PER_IP": "0", // no cap
		"YUBIN_MAX_MESSAGE_SIZE":       "10M",
		"YUBIN_ADMIN_PASSWORD":         "s3cret",
		"YUBIN_OUTBOUND_LEASE":         "90s",
	}
	c, err := load(t, []string{"--data", "/flag/data", "--pop3-addr=", "-max-message-size", "1G", "--log-format=json"}, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data: flag over env", c.DataDir, "/flag/data"},
		{"hostname: env over default", c.Hostname, "mx.env.example"},
		{"smtp: env", c.SMTPAddr, "127.0.0.1:25"},
		{"imap: empty env turns off", c.IMAPAddr, ""},
		{"pop3: empty flag turns off", c.POP3Addr, ""},
		{"imaps: default", c.IMAPSAddr, ":2993"},
		{"log level: empty env is unset", c.LogLevel, slog.LevelInfo},
		{"log format: flag", c.LogFormat, "json"},
		{"per-IP cap: env", c.MaxConnectionsPerIP, 0},
		{"size: flag over env", c.MaxMessageSize, int64(1 << 30)},
		{"admin password: env only", c.AdminPassword, "s3cret"},
		{"outbound lease: env", c.OutboundLease, 90 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	for _, l := range c.Listeners() {
		if l.Name == "imap" || l.Name == "pop3" {
			t.Errorf("listener %s should be off", l.Name)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // substring of the error
	}{
		{"bad addr env", nil, map[string]string{"YUBIN_SMTP_ADDR": "2525"}, "YUBIN_SMTP_ADDR"},
		{"bad port flag", []string{"--imap-addr", ":99999"}, nil, "--imap-addr"},
		{"bad size", nil, map[string]string{"YUBIN_MAX_MESSAGE_SIZE": "lots"}, "YUBIN_MAX_MESSAGE_SIZE"},
		{"tiny size", []string{"--max-message-size=10"}, nil, "too small"},
		{"bad level", nil, map[string]string{"YUBIN_LOG_LEVEL": "loud"}, "YUBIN_LOG_LEVEL"},
		{"bad format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"negative cap", nil, map[string]string{"YUBIN_MAX_CONNECTIONS": "-1"}, "YUBIN_MAX_CONNECTIONS"},
		{"bad hostname", nil, map[string]string{"YUBIN_HOSTNAME": "mail box"}, "YUBIN_HOSTNAME"},
		{"cert without key", nil, map[string]string{"YUBIN_TLS_CERT": cert}, "together"},
		{"unreadable key", nil, map[string]string{"YUBIN_TLS_CERT": cert, "YUBIN_TLS_KEY": filepath.Join(dir, "nope.pem")}, "YUBIN_TLS_KEY: cannot read"},
		{"same address twice", []string{"--imap-addr", ":2525"}, nil, "both use :2525"},
		{"positional", []string{"extra"}, nil, "unexpected argument"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"empty data flag", []string{"--data="}, nil, "--data"},
		{"bad lease", nil, map[string]string{"YUBIN_OUTBOUND_LEASE": "soon"}, "YUBIN_OUTBOUND_LEASE"},
		{"short lease", []string{"--outbound-lease=10ms"}, nil, "--outbound-lease"},
		{"NaN score", nil, map[string]string{"YUBIN_SPAM_JUNK_SCORE": "NaN"}, "YUBIN_SPAM_JUNK_SCORE"},
		{"infinite score", []string{"--spam-reject-score", "+Inf"}, nil, "--spam-reject-score"},
		{"pprof on every interface", nil, map[string]string{"YUBIN_PPROF_ADDR": ":6060"}, "only a loopback address"},
		{"pprof on a public address", []string{"--pprof-addr", "192.0.2.1:6060"}, nil, "only a loopback address"},
		{"pprof on a name", nil, map[string]string{"YUBIN_PPROF_ADDR": "example.com:6060"}, "YUBIN_PPROF_ADDR"},
		{"bad clamd scan", nil, map[string]string{"YUBIN_CLAMD_SCAN": "headers"}, "YUBIN_CLAMD_SCAN"},
		{"unknown filter", nil, map[string]string{"YUBIN_FILTERS": "authn,virus"}, `unknown filter "virus"`},
		{"filter twice", []string{"--filters", "spam,authn,spam"}, nil, `"spam" named twice`},
		{"empty filter list", []string{"--filters", " , "}, nil, "use none"},
		{"filter without address", nil, map[string]string{"YUBIN_FILTERS": "authn,clamd,spam"}, "YUBIN_FILTERS names clamd but YUBIN_CLAMD is not set"},
		{"address without filter", nil, map[string]string{"YUBIN_FILTERS": "authn,spam", "YUBIN_RSPAMD": "http://127.0.0.1:11333"}, "YUBIN_RSPAMD is set but YUBIN_FILTERS leaves rspamd out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := load(t, []string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string // Config.Filters
		enabled []string // FilterEnabled
	}{
		{"default: remote stages need their address", nil,
			[]string{"authn", "clamd", "milter", "rspamd", "spam"}, []string{"authn", "spam"}},
		{"default with clamd", map[string]string{"YUBIN_CLAMD": "unix:/run/clamd.sock"},
			[]string{"authn", "clamd", "milter", "rspamd", "spam"}, []string{"authn", "clamd", "spam"}},
		{"order kept, case and spaces ignored", map[string]string{"YUBIN_FILTERS": " Spam, clamd ,AUTHN", "YUBIN_CLAMD": "127.0.0.1:3310"},
			[]string{"spam", "clamd", "authn"}, []string{"spam", "clamd", "authn"}},
		{"none", map[string]string{"YUBIN_FILTERS": "None"}, nil, nil},
		{"spam only", map[string]string{"YUBIN_FILTERS": "spam"}, []string{"spam"}, []string{"spam"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, nil, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Filters, tt.want) {
				t.Errorf("Filters = %q, want %q", c.Filters, tt.want)
			}
			var enabled []string
			for _, name := range FilterStages {
				if c.FilterEnabled(name) {
					enabled = append(enabled, name)
				}
			}
			// FilterEnabled answers per name; the order is Filters'.
			var wantSet []string
			for _, name := range FilterStages {
				for _, e := range tt.enabled {
					if e == name {
						wantSet = append(wantSet, name)
					}
				}
			}
			if !reflect.DeepEqual(enabled, wantSet) {
				t.Errorf("enabled = %q, want %q", enabled, wantSet)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "100": 100, "1k": 1024, "500M": 500 << 20, "2G": 2 << 30, "2gb": 2 << 30,
		"50MiB": 50 << 20, " 1T ": 1 << 40, "7B": 7,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5G", "12X", "99999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
	for n, want := range map[int64]string{0: "unlimited", 100: "100", 1536: "1536", 50 << 20: "50M", 2 << 30: "2G"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDataDir(t *testing.T) {
	env := envMap(map[string]string{"YUBIN_DATA": "/env"})
	if d, _ := DataDir("/flag", true, env); d != "/flag" {
		t.Errorf("flag: %q", d)
	}
	if d, _ := DataDir("", false, env); d != "/env" {
		t.Errorf("env: %q", d)
	}
	if d, _ := DataDir("", false, envMap(nil)); d != "./data" {
		t.Errorf("default: %q", d)
	}
	if _, err := DataDir("", true, env); err == nil {
		t.Error("empty --data accepted")
	}
}

func TestHelpMentionsEverySetting(t *testing.T) {
	var b strings.Builder
	NewLoader("serve").PrintHelp(&b)
	for _, s := range Settings() {
		if !strings.Contains(b.String(), s.Env) {
			t.Errorf("help does not mention %s", s.Env)
		}
	}
}

func TestSubaddressDelimiter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{name: "default", want: "+"},
		{name: "empty env turns it off", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": ""}, want: ""},
		{name: "a set", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "+-"}, want: "+-"},
		{name: "flag wins", args: []string{"--subaddress-delimiter", "_"}, env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "+-"}, want: "_"},
		{name: "empty flag turns it off", args: []string{"--subaddress-delimiter="}, want: ""},
		{name: "letter", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "x"}, wantErr: true},
		{name: "dot", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "."}, wantErr: true},
		{name: "at", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "@"}, wantErr: true},
		{name: "twice", env: map[string]string{"YUBIN_SUBADDRESS_DELIMITER": "++"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.env)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "YUBIN_SUBADDRESS_DELIMITER") && !strings.Contains(err.Error(), "subaddress") {
					t.Fatalf("got %v, want an error naming the setting", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SubaddressDelimiters != tc.want {
				t.Errorf("SubaddressDelimiters = %q, want %q", c.SubaddressDelimiters, tc.want)
			}
		})
	}
}

func TestBackupSettings(t *testing.T) {
	c, err := load(t, nil, map[string]string{"YUBIN_BACKUP_DIR": "/srv/backups", "YUBIN_BACKUP_INTERVAL": "6h", "YUBIN_BACKUP_KEEP": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.BackupDir != "/srv/backups" || c.BackupInterval != 6*time.Hour || c.BackupKeep != 3 {
		t.Fatalf("backup settings: %q %v %d", c.BackupDir, c.BackupInterval, c.BackupKeep)
	}
	for _, bad := range []map[string]string{{"YUBIN_BACKUP_INTERVAL": "10s"}, {"YUBIN_BACKUP_INTERVAL": "daily"}, {"YUBIN_BACKUP_KEEP": "0"}, {"YUBIN_BACKUP_KEEP": "-1"}} {
		if _, err := load(t, nil, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestWebAuthnOrigins(t *testing.T) {
	c, err := load(t, nil, map[string]string{"YUBIN_WEBAUTHN_ORIGINS": " https://mail.example.com , https://mail.example.com:8443,"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.WebAuthnOrigins, " "); got != "https://mail.example.com https://mail.example.com:8443" {
		t.Fatalf("origins %q", got)
	}
}

// TestMTASTSMode: YUBIN_MTA_STS_MODE takes a default and per-domain
// exceptions.
func TestMTASTSMode(t *testing.T) {
	c := &Config{}
	if err := setMTASTSMode(c, "enforce, Example.ORG=testing ,other.net=none"); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]string{"example.org": "testing", "other.net": "none", "third.com": "enforce"} {
		if got := c.MTASTSModeOf(domain); got != want {
			t.Errorf("%s: %s, want %s", domain, got, want)
		}
	}
	for _, bad := range []string{"strict", "example.org=strict", "bad..domain=testing"} {
		if err := setMTASTSMode(&Config{}, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := (&Config{}).MTASTSModeOf("x.org"); got != "testing" {
		t.Errorf("default %s", got)
	}
}

func TestDatabaseSettings(t *testing.T) {
	c, err := load(t, []string{"--blobs", "/shared/blobs"}, map[string]string{"YUBIN_DATABASE": "postgres://yubin:pw@db:5432/yubin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "postgres://yubin:pw@db:5432/yubin" || c.BlobDir != "/shared/blobs" {
		t.Fatalf("database settings: %q %q", c.Database, c.BlobDir)
	}
	c, err = load(t, nil, nil)
	if err != nil || c.Database != "" || c.BlobDir != "" {
		t.Fatalf("defaults: %q %q %v, want SQLite in the data folder", c.Database, c.BlobDir, err)
	}
	for _, bad := range []map[string]string{
		{"YUBIN_DATABASE": "mysql://yubin:pw@db/yubin"},
		{"YUBIN_DATABASE": "/var/lib/yubin.db"},
		{"YUBIN_DATABASE": "postgres://db/yubin", "YUBIN_BACKUP_DIR": "/srv/backups"},
		{"YUBIN_BLOBS": "/shared/blobs", "YUBIN_BACKUP_DIR": "/srv/backups"},
	} {
		_, err := load(t, nil, bad)
		if err == nil {
			t.Errorf("%v accepted", bad)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	if _, err := load(t, []string{"--database", "postgres://db/yubin"}, nil); err == nil {
		t.Error("--database accepted: the URL may hold a password, it is only read from the environment")
	}
}
