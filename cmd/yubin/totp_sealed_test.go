package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// TestTOTPSecretSealedByServer: a server with encryption at rest enrols
// an authenticator through the REST API, the secret is nowhere in the data
// folder in plaintext, and after a restart codes of that secret still
// complete a two-factor sign-in.
func TestTOTPSecretSealedByServer(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	keyPath := filepath.Join(base, "server.key")
	env := map[string]string{"YUBIN_DATA": dir, "YUBIN_ENCRYPTION_KEY_FILE": keyPath}
	for _, args := range [][]string{
		{"encryption", "keygen", keyPath},
		{"domain", "add", "example.test"},
		{"user", "add", "ann@example.test", "--password", "ann-password-1"},
	} {
		if code, out := runCLI(env, args...); code != 0 {
			t.Fatalf("yubin %v: %d %s", args, code, out)
		}
	}
	serve := func() *runningServe {
		rs := startServe(t, dir, map[string]string{"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_FILTERS": "none", "YUBIN_ENCRYPTION_KEY_FILE": keyPath})
		rs.waitFor(t, regexp.MustCompile(`yubin is ready`))
		return rs
	}
	post := func(rs *runningServe, path, token string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+rs.http+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	login := map[string]string{"email": "ann@example.test", "password": "ann-password-1"}

	rs := serve()
	status, p := post(rs, "/api/v1/auth/login", "", login)
	token, _ := p["token"].(string)
	if status != http.StatusOK || token == "" {
		t.Fatalf("login: %d %v", status, p)
	}
	status, p = post(rs, "/api/v1/me/totp", token, map[string]string{})
	secret, _ := p["secret"].(string)
	if status != http.StatusCreated || secret == "" {
		t.Fatalf("POST /me/totp: %d %v", status, p)
	}
	now := time.Now()
	code, _ := mailstore.TOTPCode(secret, now)
	if status, p = post(rs, "/api/v1/me/totp/confirm", token, map[string]string{"code": code}); status != http.StatusOK {
		t.Fatalf("confirm: %d %v", status, p)
	}
	rs.stop(t)
	if hits := filesContaining(dir, secret); len(hits) > 0 {
		t.Fatalf("the authenticator secret is in plaintext in %v", hits)
	}

	rs = serve()
	status, p = post(rs, "/api/v1/auth/login", "", login)
	challenge, _ := p["challenge"].(string)
	if status != http.StatusUnauthorized || challenge == "" {
		t.Fatalf("login with a second factor: %d %v", status, p)
	}
	next, _ := mailstore.TOTPCode(secret, now.Add(30*time.Second))
	status, p = post(rs, "/api/v1/auth/login/second-factor", "", map[string]string{"challenge": challenge, "code": next})
	if tok, _ := p["token"].(string); status != http.StatusOK || tok == "" {
		t.Fatalf("second factor after a restart: %d %v", status, p)
	}
}
