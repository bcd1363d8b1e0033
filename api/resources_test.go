package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

type domainJSON struct {
	Name              string   `json:"name"`
	Enabled           bool     `json:"enabled"`
	DefaultQuotaBytes int64    `json:"default_quota_bytes"`
	MaxQuotaBytes     int64    `json:"max_quota_bytes"`
	QuotaBytes        int64    `json:"quota_bytes"`
	MaxUsers          int64    `json:"max_users"`
	SpamJunkScore     *float64 `json:"spam_junk_score"`
	SpamRejectScore   *float64 `json:"spam_reject_score"`
	SpamFilter        *bool    `json:"spam_filter"`
	VirusScan         *bool    `json:"virus_scan"`
	DMARCEnforce      *bool    `json:"dmarc_enforce"`
	UsedBytes         int64    `json:"used_bytes"`
	UsedMessages      int64    `json:"used_messages"`
	CreatedAt         string   `json:"created_at"`
}

type userJSON struct {
	Address       string `json:"address"`
	DisplayName   string `json:"display_name"`
	QuotaBytes    int64  `json:"quota_bytes"`
	QuotaMessages int64  `json:"quota_messages"`
	Enabled       bool   `json:"enabled"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

type aliasJSON struct {
	Address string   `json:"address"`
	Targets []string `json:"targets"`
}

type listJSON[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

func TestDomains(t *testing.T) {
	e := newEnv(t)
	var d domainJSON
	resp := e.must(http.StatusCreated, "POST", "/api/v1/domains", e.admin,
		map[string]any{"name": "Example.COM", "default_quota_bytes": 1000, "max_users": 10}, &d)
	if d.Name != "example.com" || !d.Enabled || d.DefaultQuotaBytes != 1000 || d.MaxUsers != 10 || d.CreatedAt == "" {
		t.Errorf("created domain %+v", d)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/domains/example.com" {
		t.Errorf("Location %q", loc)
	}
	e.problem(http.StatusConflict, kindAlreadyExists, "POST", "/api/v1/domains", e.admin, map[string]any{"name": "example.com"})
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/domains", e.admin, map[string]any{"name": "not_a_domain"})
	if got := strings.Join(fieldsOf(p), ","); got != "name" {
		t.Errorf("fields %q", got)
	}
	e.addDomain("example.org")

	var l listJSON[domainJSON]
	e.must(http.StatusOK, "GET", "/api/v1/domains", e.admin, nil, &l)
	if l.Total != 2 || len(l.Items) != 2 || l.Limit != 50 || l.Offset != 0 {
		t.Errorf("list %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains?search=org&limit=1", e.admin, nil, &l)
	if l.Total != 1 || len(l.Items) != 1 || l.Items[0].Name != "example.org" || l.Limit != 1 {
		t.Errorf("search %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains?offset=5", e.admin, nil, &l)
	if l.Total != 2 || len(l.Items) != 0 || l.Items == nil {
		t.Errorf("offset past the end %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains/EXAMPLE.com", e.admin, nil, &d)
	if d.Name != "example.com" {
		t.Errorf("get %+v", d)
	}
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/domains/nowhere.example", e.admin, nil)

	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"quota_bytes": 5000, "enabled": false}, &d)
	if d.QuotaBytes != 5000 || d.Enabled || d.MaxUsers != 10 {
		t.Errorf("patched %+v", d)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"enabled": true}, &d)
	p = e.problem(http.StatusUnprocessableEntity, kindValidation, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"max_users": -1})
	if got := strings.Join(fieldsOf(p), ","); got != "max_users" {
		t.Errorf("fields %q", got)
	}
	p = e.problem(http.StatusBadRequest, kindInvalidJSON, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"name": "x.example"})
	if p.Detail != `unknown field "name"` {
		t.Errorf("detail %q", p.Detail)
	}
	e.problem(http.StatusNotFound, kindNotFound, "PATCH", "/api/v1/domains/nowhere.example", e.admin, map[string]any{"max_users": 1})

	// Filter settings: null (or absent when creating) is the server's.
	if d.SpamJunkScore != nil || d.SpamRejectScore != nil || d.SpamFilter != nil || d.VirusScan != nil || d.DMARCEnforce != nil {
		t.Errorf("filter settings of a new domain %+v", d)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin,
		map[string]any{"spam_junk_score": 3.5, "spam_reject_score": 1, "spam_filter": false, "virus_scan": false, "dmarc_enforce": false}, &d)
	if d.SpamJunkScore == nil || *d.SpamJunkScore != 3.5 || d.SpamRejectScore == nil || *d.SpamRejectScore != 1 ||
		d.SpamFilter == nil || *d.SpamFilter || d.VirusScan == nil || *d.VirusScan || d.DMARCEnforce == nil || *d.DMARCEnforce {
		t.Errorf("filter settings patched %+v", d)
	}
	// Absent fields stay; null ones go back to the server's.
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"spam_junk_score": nil, "virus_scan": nil}, &d)
	if d.SpamJunkScore != nil || d.VirusScan != nil || d.SpamRejectScore == nil || *d.SpamRejectScore != 1 || d.SpamFilter == nil || d.DMARCEnforce == nil {
		t.Errorf("filter settings after nulls %+v", d)
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com", e.admin, nil, &d)
	if d.SpamJunkScore != nil || d.SpamRejectScore == nil || *d.SpamRejectScore != 1 {
		t.Errorf("filter settings read back %+v", d)
	}
	p = e.problem(http.StatusUnprocessableEntity, kindValidation, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"spam_junk_score": -1, "spam_reject_score": 0})
	if got := strings.Join(fieldsOf(p), ","); got != "spam_junk_score,spam_reject_score" {
		t.Errorf("fields %q", got)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin,
		map[string]any{"spam_reject_score": nil, "spam_filter": nil, "dmarc_enforce": nil}, &d)
	var o domainJSON
	e.must(http.StatusCreated, "POST", "/api/v1/domains", e.admin, map[string]any{"name": "filters.example", "spam_filter": false, "spam_junk_score": 2}, &o)
	if o.SpamFilter == nil || *o.SpamFilter || o.SpamJunkScore == nil || *o.SpamJunkScore != 2 || o.VirusScan != nil {
		t.Errorf("created with filter settings %+v", o)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/filters.example", e.admin, nil, nil)

	e.addUser("ann@example.com", "ann-password")
	var usage map[string]int64
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/usage", e.admin, nil, &usage)
	if usage["users"] != 1 || usage["quota_bytes"] != 5000 || len(usage) != 4 {
		t.Errorf("usage %v", usage)
	}

	var dns struct {
		Domain  string      `json:"domain"`
		Records []DNSRecord `json:"records"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/dns", e.admin, nil, &dns)
	if dns.Domain != "example.com" || dns.Records == nil {
		t.Errorf("dns %+v", dns)
	}

	var admins struct{ Items []string }
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/admins", e.admin, nil, &admins)
	if admins.Items == nil || len(admins.Items) != 0 {
		t.Errorf("admins %v", admins)
	}
	e.must(http.StatusNoContent, "PUT", "/api/v1/domains/example.com/admins/ann@example.com", e.admin, nil, nil)
	e.must(http.StatusNoContent, "PUT", "/api/v1/domains/example.com/admins/ann@example.com", e.admin, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/admins", e.admin, nil, &admins)
	if len(admins.Items) != 1 || admins.Items[0] != "ann@example.com" {
		t.Errorf("admins %v", admins)
	}
	e.problem(http.StatusNotFound, kindNotFound, "PUT", "/api/v1/domains/example.com/admins/nobody@example.com", e.admin, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/example.com/admins/ann@example.com", e.admin, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/domains/example.com/admins", e.admin, nil, &admins)
	if len(admins.Items) != 0 {
		t.Errorf("admins after removal %v", admins)
	}

	e.problem(http.StatusConflict, kindConflict, "DELETE", "/api/v1/domains/example.com", e.admin, nil)
	e.problem(http.StatusUnprocessableEntity, kindValidation, "DELETE", "/api/v1/domains/example.com?cascade=maybe", e.admin, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/example.com?cascade=true", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/domains/example.com", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/ann@example.com", e.admin, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/example.org", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/domains/example.org", e.admin, nil)
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addDomain("example.org")
	e.must(http.StatusOK, "PATCH", "/api/v1/domains/example.com", e.admin, map[string]any{"default_quota_bytes": 1 << 20}, nil)

	var u userJSON
	resp := e.must(http.StatusCreated, "POST", "/api/v1/users", e.admin,
		map[string]any{"address": "Ann@Example.com", "password": "ann-password", "display_name": "Ann", "quota_messages": 100}, &u)
	if u.Address != "ann@example.com" || u.DisplayName != "Ann" || u.QuotaBytes != 1<<20 || u.QuotaMessages != 100 || !u.Enabled || u.CreatedAt == "" || u.UpdatedAt == "" {
		t.Errorf("created %+v", u)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/users/ann@example.com" {
		t.Errorf("Location %q", loc)
	}
	e.problem(http.StatusConflict, kindAlreadyExists, "POST", "/api/v1/users", e.admin, map[string]any{"address": "ann@example.com", "password": "ann-password"})
	e.must(http.StatusCreated, "POST", "/api/v1/users", e.admin, map[string]any{"address": "bob@example.org", "password": "bob-password", "quota_bytes": 0}, &u)
	if u.QuotaBytes != 0 {
		t.Errorf("explicit quota 0: %+v", u)
	}
	e.addUser("carol@example.com", "carol-password")

	var l listJSON[userJSON]
	e.must(http.StatusOK, "GET", "/api/v1/users", e.admin, nil, &l)
	if l.Total != 3 {
		t.Errorf("list %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/users?domain=example.com&search=car", e.admin, nil, &l)
	if l.Total != 1 || l.Items[0].Address != "carol@example.com" {
		t.Errorf("filtered %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/users?domain=example.com&limit=1&offset=1", e.admin, nil, &l)
	if l.Total != 2 || len(l.Items) != 1 || l.Limit != 1 || l.Offset != 1 {
		t.Errorf("page %+v", l)
	}

	e.must(http.StatusOK, "GET", "/api/v1/users/ann@example.com", e.admin, nil, &u)
	if u.Address != "ann@example.com" {
		t.Errorf("get %+v", u)
	}
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/nobody@example.com", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/not-an-address", e.admin, nil)

	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@example.com", e.admin,
		map[string]any{"display_name": "Ann Example", "quota_bytes": 2000, "quota_messages": 5, "password": "new-ann-password"}, &u)
	if u.DisplayName != "Ann Example" || u.QuotaBytes != 2000 || u.QuotaMessages != 5 {
		t.Errorf("patched %+v", u)
	}
	e.login("ann@example.com", "new-ann-password")

	var q map[string]int64
	e.must(http.StatusOK, "GET", "/api/v1/users/ann@example.com/quota", e.admin, nil, &q)
	if q["quota_bytes"] != 2000 || q["quota_messages"] != 5 || len(q) != 4 {
		t.Errorf("quota %v", q)
	}

	resp, b := e.do("GET", "/api/v1/users/ann@example.com/mobileconfig", e.admin, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" || len(b) == 0 {
		t.Errorf("mobileconfig: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/nobody@example.com/mobileconfig", e.admin, nil)

	e.must(http.StatusNoContent, "DELETE", "/api/v1/users/carol@example.com", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/users/carol@example.com", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/carol@example.com", e.admin, nil)
}

func TestAliases(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")

	var al aliasJSON
	resp := e.must(http.StatusCreated, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "info@example.com", "targets": []string{"ann@example.com"}}, &al)
	if al.Address != "info@example.com" || len(al.Targets) != 1 {
		t.Errorf("created %+v", al)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/aliases/info@example.com" {
		t.Errorf("Location %q", loc)
	}
	e.must(http.StatusCreated, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "@example.com", "targets": []string{"ann@example.com"}}, &al)
	e.problem(http.StatusConflict, kindAlreadyExists, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "info@example.com", "targets": []string{"ann@example.com"}})
	e.problem(http.StatusConflict, kindAlreadyExists, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "ann@example.com", "targets": []string{"x@example.org"}})
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "sales@example.com", "targets": []string{}})
	if got := strings.Join(fieldsOf(p), ","); got != "targets" {
		t.Errorf("fields %q", got)
	}

	var l listJSON[aliasJSON]
	e.must(http.StatusOK, "GET", "/api/v1/aliases?domain=example.com", e.admin, nil, &l)
	if l.Total != 2 {
		t.Errorf("list %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/aliases?search=info", e.admin, nil, &l)
	if l.Total != 1 {
		t.Errorf("search %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/aliases/@example.com", e.admin, nil, &al)
	if al.Address != "@example.com" {
		t.Errorf("catch-all %+v", al)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/aliases/info@example.com", e.admin, map[string]any{"targets": []string{"ann@example.com", "boss@example.org"}}, &al)
	if len(al.Targets) != 2 {
		t.Errorf("patched %+v", al)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/aliases/info@example.com", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/aliases/info@example.com", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "PATCH", "/api/v1/aliases/info@example.com", e.admin, map[string]any{"targets": []string{"ann@example.com"}})
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	var created struct {
		Token struct {
			ID        int64   `json:"id"`
			Name      string  `json:"name"`
			Prefix    string  `json:"prefix"`
			Scope     string  `json:"scope"`
			ExpiresAt *string `json:"expires_at"`
		} `json:"token"`
		Secret string `json:"secret"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ci", "scope": "read", "expires_in_days": 30}, &created)
	if !strings.HasPrefix(created.Secret, "yb_") || created.Token.Scope != "read" || created.Token.ExpiresAt == nil || created.Token.Prefix == "" {
		t.Errorf("created %+v", created)
	}
	readTok, readID := created.Secret, created.Token.ID
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "deploy", "scope": "write"}, &created)
	writeTok := created.Secret
	if created.Token.ExpiresAt != nil {
		t.Errorf("token without expiry %+v", created)
	}
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "", "scope": "all", "expires_in_days": -1})
	if got := strings.Join(fieldsOf(p), ","); got != "name,scope,expires_in_days" {
		t.Errorf("fields %q", got)
	}

	var list struct {
		Items []map[string]any `json:"items"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/tokens", e.admin, nil, &list)
	if len(list.Items) != 2 {
		t.Errorf("list %v", list)
	}
	for _, it := range list.Items {
		if _, ok := it["secret_hash"]; ok {
			t.Errorf("list shows the hash: %v", it)
		}
	}

	// A read-only token reads but does not write.
	e.must(http.StatusOK, "GET", "/api/v1/domains", readTok, nil, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/domains", readTok, map[string]any{"name": "example.com"})
	// A write token writes, recorded under its prefix.
	e.must(http.StatusCreated, "POST", "/api/v1/domains", writeTok, map[string]any{"name": "example.com"}, nil)
	// No token manages tokens.
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/tokens", writeTok, map[string]any{"name": "x", "scope": "read"})
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/tokens", readTok, nil)
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/tokens/1", writeTok, nil)

	e.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+itoa(readID), e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/tokens/"+itoa(readID), e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/tokens/abc", e.admin, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/domains", readTok, nil)

	// A user's token and the user's own token list.
	e.addUser("ann@example.com", "ann-password")
	ann := e.login("ann@example.com", "ann-password")
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", ann, map[string]any{"name": "phone", "scope": "write"}, &created)
	e.must(http.StatusOK, "GET", "/api/v1/tokens", ann, nil, &list)
	if len(list.Items) != 1 {
		t.Errorf("ann's tokens %v", list)
	}
	var u userJSON
	e.must(http.StatusOK, "GET", "/api/v1/users/ann@example.com", created.Secret, nil, &u)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestAudit(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	var l listJSON[struct {
		ID       int64  `json:"id"`
		Time     string `json:"time"`
		Actor    string `json:"actor"`
		Source   string `json:"source"`
		Action   string `json:"action"`
		Target   string `json:"target"`
		Details  string `json:"details"`
		RemoteIP string `json:"remote_ip"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/audit?action=domain.create", e.admin, nil, &l)
	if l.Total != 1 || l.Items[0].Actor != testAdmin || l.Items[0].Source != "api" || l.Items[0].Target != "example.com" || l.Items[0].RemoteIP != "127.0.0.1" || l.Items[0].Time == "" {
		t.Errorf("audit %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/audit?actor="+testAdmin+"&action=user.&target=ann@example.com&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z", e.admin, nil, &l)
	if l.Total != 1 || l.Items[0].Action != "user.create" || l.Items[0].Source != "api" {
		t.Errorf("audit user %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/audit?limit=1", e.admin, nil, &l)
	if len(l.Items) != 1 || l.Total < 3 { // admin.create (bootstrap), domain.create, user.create
		t.Errorf("audit page %+v", l)
	}
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/audit?since=yesterday&until=2025-13-01", e.admin, nil)
	if got := strings.Join(fieldsOf(p), ","); got != "since,until" {
		t.Errorf("fields %q", got)
	}
	ann := e.login("ann@example.com", "ann-password")
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/audit", ann, nil)
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addDomain("a.example")
	e.addDomain("b.example")
	e.addUser("dana@a.example", "dana-password")
	e.addUser("bob@b.example", "bob-password")
	e.addUser("ann@a.example", "ann-password")
	if err := e.store.AddDomainAdmin(ctx, "dana@a.example", "a.example"); err != nil {
		t.Fatal(err)
	}

	// A domain admin manages their domain only.
	var tr tokenResponse
	e.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dana@a.example", "password": "dana-password"}, &tr)
	if tr.Role != "domain_admin" {
		t.Errorf("role %q", tr.Role)
	}
	dana := tr.Token
	var me struct{ Domains []string }
	e.must(http.StatusOK, "GET", "/api/v1/me", dana, nil, &me)
	if len(me.Domains) != 1 || me.Domains[0] != "a.example" {
		t.Errorf("dana's domains %v", me.Domains)
	}
	e.must(http.StatusCreated, "POST", "/api/v1/users", dana, map[string]any{"address": "new@a.example", "password": "new-password"}, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/users", dana, map[string]any{"address": "new@b.example", "password": "new-password"})
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users/bob@b.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/bob@b.example", dana, map[string]any{"display_name": "x"})
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/users/bob@b.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/domains", dana, map[string]any{"name": "c.example"})
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/domains/b.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/domains/a.example", dana, map[string]any{"max_users": 1})
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/domains/a.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "PUT", "/api/v1/domains/a.example/admins/ann@a.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users?domain=b.example", dana, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/aliases", dana, map[string]any{"address": "x@b.example", "targets": []string{"bob@b.example"}})
	e.must(http.StatusCreated, "POST", "/api/v1/aliases", dana, map[string]any{"address": "x@a.example", "targets": []string{"ann@a.example"}}, nil)
	e.must(http.StatusOK, "PATCH", "/api/v1/users/ann@a.example", dana, map[string]any{"quota_bytes": 123}, nil)
	e.must(http.StatusOK, "GET", "/api/v1/domains/a.example", dana, nil, nil)
	var l listJSON[userJSON]
	e.must(http.StatusOK, "GET", "/api/v1/users", dana, nil, &l)
	if l.Total != 3 {
		t.Errorf("dana's users %+v", l)
	}
	for _, u := range l.Items {
		if !strings.HasSuffix(u.Address, "@a.example") {
			t.Errorf("dana sees %s", u.Address)
		}
	}
	var dl listJSON[domainJSON]
	e.must(http.StatusOK, "GET", "/api/v1/domains", dana, nil, &dl)
	if dl.Total != 1 || dl.Items[0].Name != "a.example" {
		t.Errorf("dana's domains %+v", dl)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/users/new@a.example", dana, nil, nil)

	// A user sees and changes only themself.
	ann := e.login("ann@a.example", "ann-password")
	e.must(http.StatusOK, "GET", "/api/v1/users/ann@a.example", ann, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/users/ann@a.example/quota", ann, nil, nil)
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/ann@a.example", ann, map[string]any{"password": "ann-new-password"})
	e.must(http.StatusNoContent, "POST", "/api/v1/me/password", ann, map[string]any{"current_password": "ann-password", "new_password": "ann-new-password"}, nil)
	ann = e.login("ann@a.example", "ann-new-password")
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/ann@a.example", ann, map[string]any{"quota_bytes": 1 << 40})
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/users/ann@a.example", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users/dana@a.example", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "PATCH", "/api/v1/users/dana@a.example", ann, map[string]any{"password": "hijacked-pw"})
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/domains", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/aliases", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/domains", ann, map[string]any{"name": "c.example"})

	// Withdrawing the role takes effect on the next request.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/domains/a.example/admins/dana@a.example", e.admin, nil, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users?domain=a.example", dana, nil)
}

func TestConcurrentCreate(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	const n = 10
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.do("POST", "/api/v1/users", e.admin, map[string]any{"address": "race@example.com", "password": "race-password"})
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	created, dup := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			dup++
		}
	}
	if created != 1 || dup != n-1 {
		t.Errorf("statuses %v: want one 201 and %d 409", codes, n-1)
	}
}

func TestSharedAccounts(t *testing.T) {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	e.addUser("bob@example.com", "bob-password")

	var sa struct {
		Address string `json:"address"`
		Members []struct {
			Address string `json:"address"`
			Rights  string `json:"rights"`
		} `json:"members"`
		Mailboxes []struct {
			Name        string `json:"name"`
			PrivateSeen bool   `json:"private_seen"`
		} `json:"mailboxes"`
	}
	resp := e.must(http.StatusCreated, "POST", "/api/v1/shared-accounts", e.admin, map[string]any{"address": "info@example.com", "members": []string{"ann@example.com"}}, &sa)
	if sa.Address != "info@example.com" || len(sa.Members) != 1 || sa.Members[0].Address != "ann@example.com" || sa.Members[0].Rights != "lrswipkxte" {
		t.Errorf("created %+v", sa)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/shared-accounts/info@example.com" {
		t.Errorf("Location %q", loc)
	}
	e.must(http.StatusOK, "PUT", "/api/v1/shared-accounts/info@example.com/members/bob@example.com", e.admin, map[string]any{"rights": "rl"}, &sa)
	if len(sa.Members) != 2 || sa.Members[1].Address != "bob@example.com" || sa.Members[1].Rights != "lr" {
		t.Errorf("after PUT %+v", sa)
	}
	// Each member has their own \Seen by default; the admin makes it
	// shared on INBOX.
	if len(sa.Mailboxes) == 0 || !sa.Mailboxes[0].PrivateSeen {
		t.Errorf("mailboxes %+v", sa.Mailboxes)
	}
	e.must(http.StatusOK, "PUT", "/api/v1/shared-accounts/info@example.com/seen", e.admin, map[string]any{"mailbox": "INBOX", "private_seen": false}, &sa)
	for _, mb := range sa.Mailboxes {
		if (mb.Name == "INBOX") == mb.PrivateSeen {
			t.Errorf("after PUT seen: %+v", sa.Mailboxes)
		}
	}
	// The shared account has no login of its own, and no password can
	// be given to it.
	e.problem(http.StatusUnauthorized, kindUnauthorized, "POST", "/api/v1/auth/login", "", map[string]any{"email": "info@example.com", "password": "!shared-account"})
	p := e.problem(http.StatusUnprocessableEntity, kindValidation, "PATCH", "/api/v1/users/info@example.com", e.admin, map[string]any{"password": "a-long-enough-password"})
	if got := strings.Join(fieldsOf(p), ","); got != "password" {
		t.Errorf("fields %q", got)
	}
	// An ordinary user is no shared account.
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/shared-accounts/ann@example.com", e.admin, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/shared-accounts/info@example.com/members/ann@example.com", e.admin, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/shared-accounts/info@example.com", e.admin, nil, &sa)
	if len(sa.Members) != 1 || sa.Members[0].Address != "bob@example.com" {
		t.Errorf("after DELETE %+v", sa)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/shared-accounts/info@example.com", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/users/info@example.com", e.admin, nil)
}
