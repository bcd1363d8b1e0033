package api

import (
	"time"

	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
)

// The API's response bodies are types of their own, mapped from the
// stores' models: a column added to a table does not appear in the API,
// and the JSON names are the ones openapi.yaml documents. No response is a
// database model (TestResponsesAreNotModels checks it).

// mapAll maps every item of a list with to (an empty list for none).
func mapAll[M, R any](items []M, to func(*M) R) []R {
	out := make([]R, len(items))
	for i := range items {
		out[i] = to(&items[i])
	}
	return out
}

// apiToken is an API token (never its secret or its hash).
type apiToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func toAPIToken(t *tokens.APIToken) apiToken {
	return apiToken{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Scope: t.Scope, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// apiSession is one signed-in dashboard or API session.
type apiSession struct {
	ID         int64     `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	RemoteIP   string    `json:"remote_ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

func toAPISession(s *tokens.APISession) apiSession {
	return apiSession{ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, RemoteIP: s.RemoteIP,
		UserAgent: s.UserAgent, Current: s.Current}
}

// sessionsResponse is an account's sessions and API tokens.
type sessionsResponse struct {
	Sessions []apiSession `json:"sessions"`
	Tokens   []apiToken   `json:"tokens"`
}

func toSessions(s *service.Sessions) sessionsResponse {
	return sessionsResponse{Sessions: mapAll(s.Sessions, toAPISession), Tokens: mapAll(s.Tokens, toAPIToken)}
}

// auditEntry is one entry of the audit log.
type auditEntry struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Source   string    `json:"source"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Details  string    `json:"details"`
	RemoteIP string    `json:"remote_ip"`
}

func toAuditEntry(e *audit.Entry) auditEntry {
	return auditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Source: e.Source, Action: e.Action, Target: e.Target,
		Details: e.Details, RemoteIP: e.RemoteIP}
}

// adminResponse is a server admin.
type adminResponse struct {
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

func toAdmin(a *mailstore.Admin) adminResponse {
	return adminResponse{Email: a.Email, CreatedAt: a.CreatedAt}
}

// userResponse is a mail account.
type userResponse struct {
	Address             string    `json:"address"`
	DisplayName         string    `json:"display_name"`
	QuotaBytes          int64     `json:"quota_bytes"`
	QuotaMessages       int64     `json:"quota_messages"`
	UsedBytes           int64     `json:"used_bytes"`
	UsedMessages        int64     `json:"used_messages"`
	Enabled             bool      `json:"enabled"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
	Language            string    `json:"language"`
	QuotaWarningPercent int       `json:"quota_warning_percent"`
	SecondFactor        bool      `json:"second_factor"`
}

func toUser(u *mailstore.User) userResponse {
	return userResponse{Address: u.Address, DisplayName: u.DisplayName, QuotaBytes: u.QuotaBytes,
		QuotaMessages: u.QuotaMessages, UsedBytes: u.UsedBytes, UsedMessages: u.UsedMessages, Enabled: u.Enabled,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Language: u.Language,
		QuotaWarningPercent: u.QuotaWarningPercent, SecondFactor: u.SecondFactor}
}

// domainResponse is a domain with its settings and usage.
type domainResponse struct {
	Name                 string             `json:"name"`
	Enabled              bool               `json:"enabled"`
	CreatedAt            time.Time          `json:"created_at"`
	DefaultQuotaBytes    int64              `json:"default_quota_bytes"`
	MaxQuotaBytes        int64              `json:"max_quota_bytes"`
	QuotaBytes           int64              `json:"quota_bytes"`
	MaxUsers             int64              `json:"max_users"`
	SpamJunkScore        *float64           `json:"spam_junk_score"`
	SpamRejectScore      *float64           `json:"spam_reject_score"`
	SpamFilter           *bool              `json:"spam_filter"`
	VirusScan            *bool              `json:"virus_scan"`
	DMARCEnforce         *bool              `json:"dmarc_enforce"`
	QuotaWarningPercents mailstore.Percents `json:"quota_warning_percents"`
	Language             string             `json:"language"`
	UsedBytes            int64              `json:"used_bytes"`
	UsedMessages         int64              `json:"used_messages"`
	RequireTwoFactor     bool               `json:"require_two_factor"`
	EncryptionMode       string             `json:"encryption_mode"`
	RecoveryPublicKey    string             `json:"recovery_public_key"`
}

func toDomain(d *mailstore.Domain) domainResponse {
	return domainResponse{Name: d.Name, Enabled: d.Enabled, CreatedAt: d.CreatedAt,
		DefaultQuotaBytes: d.DefaultQuotaBytes, MaxQuotaBytes: d.MaxQuotaBytes, QuotaBytes: d.QuotaBytes,
		MaxUsers: d.MaxUsers, SpamJunkScore: d.SpamJunkScore, SpamRejectScore: d.SpamRejectScore,
		SpamFilter: d.SpamFilter, VirusScan: d.VirusScan, DMARCEnforce: d.DMARCEnforce,
		QuotaWarningPercents: d.QuotaWarningPercents, Language: d.Language, UsedBytes: d.UsedBytes,
		UsedMessages: d.UsedMessages, RequireTwoFactor: d.RequireTwoFactor, EncryptionMode: d.EncryptionMode,
		RecoveryPublicKey: d.RecoveryPublicKey}
}

// aliasResponse is an alias and where it delivers.
type aliasResponse struct {
	Address   string    `json:"address"`
	Targets   []string  `json:"targets"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toAlias(a *mailstore.Alias) aliasResponse {
	return aliasResponse{Address: a.Address, Targets: a.Targets, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// sendAsResponse is an address a user may send as.
type sendAsResponse struct {
	Address   string    `json:"address"`
	CreatedAt time.Time `json:"created_at"`
}

func toSendAs(g *mailstore.SendAsGrant) sendAsResponse {
	return sendAsResponse{Address: g.Address, CreatedAt: g.CreatedAt}
}

// quarantinedMessage is a message held in quarantine.
type quarantinedMessage struct {
	ID         int64     `json:"id"`
	Size       int64     `json:"size"`
	From       string    `json:"from"`
	Recipients []string  `json:"recipients"`
	Subject    string    `json:"subject"`
	Reason     string    `json:"reason"`
	Filter     string    `json:"filter"`
	ReceivedAt time.Time `json:"received_at"`
}

func toQuarantined(m *mailstore.QuarantinedMessage) quarantinedMessage {
	return quarantinedMessage{ID: m.ID, Size: m.Size, From: m.From, Recipients: m.Recipients, Subject: m.Subject,
		Reason: m.Reason, Filter: m.Filter, ReceivedAt: m.ReceivedAt}
}

// securityPolicy is the server's account security policy.
type securityPolicy struct {
	RequireTwoFactor bool      `json:"require_two_factor"`
	NotifyNewSignIn  bool      `json:"notify_new_sign_in"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func toSecurityPolicy(p *mailstore.SecurityPolicy) securityPolicy {
	return securityPolicy{RequireTwoFactor: p.RequireTwoFactor, NotifyNewSignIn: p.NotifyNewSignIn, UpdatedAt: p.UpdatedAt}
}

// passkeyResponse is one of a user's passkeys (never its key material).
type passkeyResponse struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	BackupEligible bool       `json:"backup_eligible"`
	BackupState    bool       `json:"backed_up"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
	LastUsedIP     string     `json:"last_used_from,omitempty"`
}

func toPasskey(p *mailstore.Passkey) passkeyResponse {
	return passkeyResponse{ID: p.ID, Name: p.Name, BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt, LastUsedIP: p.LastUsedIP}
}

// appPasswordResponse is one of a user's app passwords (never the password).
type appPasswordResponse struct {
	ID               int64      `json:"id"`
	Name             string     `json:"name"`
	Protocols        []string   `json:"protocols"`
	CreatedAt        time.Time  `json:"created_at"`
	ExpiresAt        *time.Time `json:"expires_at"`
	LastUsedAt       *time.Time `json:"last_used_at"`
	LastUsedFrom     string     `json:"last_used_from"`
	LastUsedProtocol string     `json:"last_used_protocol"`
}

func toAppPassword(p *mailstore.AppPassword) appPasswordResponse {
	return appPasswordResponse{ID: p.ID, Name: p.Name, Protocols: p.Protocols, CreatedAt: p.CreatedAt,
		ExpiresAt: p.ExpiresAt, LastUsedAt: p.LastUsedAt, LastUsedFrom: p.LastUsedFrom, LastUsedProtocol: p.LastUsedProtocol}
}
