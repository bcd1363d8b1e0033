package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mailstore"
)

// TestSecondFactorSharedThrottle turns on carol's authenticator: her
// account password is then refused over IMAP, and failed second factors
// over the API count in the same throttle as wrong passwords over IMAP, so
// that after BlockAfter failures of either kind even the right code is
// refused (429), while her app password still works.
func TestSecondFactorSharedThrottle(t *testing.T) {
	ctx := context.Background()
	ls := startLoginServers(t, limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: 3, BlockAfterIP: 1000}))
	st := ls.w.store
	en, err := st.StartTOTP(ctx, "carol@beta.test", "mail.beta.test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, _ := mailstore.TOTPCode(en.Secret, now)
	if _, err := st.ConfirmTOTP(ctx, "carol@beta.test", code); err != nil {
		t.Fatal(err)
	}
	_, appPw, err := st.CreateAppPassword(ctx, "carol@beta.test", mailstore.NewAppPassword{Name: "phone", Protocols: []string{mailstore.ProtocolIMAP}})
	if err != nil {
		t.Fatal(err)
	}
	if !ls.login(t, "imap", "carol@beta.test", appPw) {
		t.Fatal("carol's app password does not log in over IMAP")
	}

	if ls.login(t, "imap", "carol@beta.test", "carol-password") { // failure 1
		t.Error("the account password logged in over IMAP with two-factor sign-in on")
	}
	if ls.login(t, "imap", "carol@beta.test", "wrong-password") { // failure 2
		t.Error("a wrong password logged in")
	}
	post := func(path string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		resp, err := http.Post("http://"+ls.addrs["http"]+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, p := post("/api/v1/auth/login", map[string]string{"email": "carol@beta.test", "password": "carol-password"})
	challenge, _ := p["challenge"].(string)
	if status != http.StatusUnauthorized || challenge == "" {
		t.Fatalf("login with a second factor: %d %v", status, p)
	}
	if status, p := post("/api/v1/auth/login/second-factor", map[string]string{"challenge": challenge, "code": code}); status != http.StatusUnauthorized { // failure 3: used at enrolment
		t.Errorf("replayed code: %d %v", status, p)
	}
	next, _ := mailstore.TOTPCode(en.Secret, now.Add(30*time.Second))
	if status, p := post("/api/v1/auth/login/second-factor", map[string]string{"challenge": challenge, "code": next}); status != http.StatusTooManyRequests {
		t.Errorf("the right code after three failures (two over IMAP): %d %v, want 429", status, p)
	}
	if ls.login(t, "imap", "carol@beta.test", appPw) {
		t.Error("IMAP is not throttled for carol after a failed second factor over the API")
	}
	if !ls.login(t, "imap", "mallory@beta.test", "mallory-password") {
		t.Error("another account is blocked too")
	}
}
