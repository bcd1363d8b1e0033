package api_test

import (
	"net/http"
	"strings"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// walkSecondFactor walks the second factor routes with a new user carol:
// she sets up an authenticator, signs in with its codes (each once) and a
// recovery code, turns it off with her password; an admin resets it; the
// server-wide requirement confines bob to setting one up.
func (w *specWalker) walkSecondFactor(adm, bob, writeTok string) {
	t := w.t
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "dora@example.com", "password": "dora-password"})
	carol := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dora@example.com", "password": "dora-password"}), "token")

	w.json(http.StatusUnauthorized, "POST", "/api/v1/me/totp", "", nil)
	w.json(http.StatusForbidden, "POST", "/api/v1/me/totp", adm, nil) // no mail account
	w.json(http.StatusForbidden, "POST", "/api/v1/me/totp", writeTok, nil)
	en := w.json(http.StatusCreated, "POST", "/api/v1/me/totp", carol, nil)
	secret := str(t, en, "secret")
	if !strings.HasPrefix(str(t, en, "otpauth_uri"), "otpauth://totp/") {
		t.Errorf("enrolment %v", en)
	}

	confirm := "/api/v1/me/totp/confirm"
	w.json(http.StatusUnprocessableEntity, "POST", confirm, carol, map[string]string{"code": "12345x"}) // 1st failure
	w.json(http.StatusUnprocessableEntity, "POST", confirm, carol, map[string]string{"code": ""})
	w.json(http.StatusBadRequest, "POST", confirm, carol, `{"code":"1","otp":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", confirm, carol, "text/plain", `{"code":"1"}`)
	w.tooLarge("POST", confirm, carol)
	w.json(http.StatusUnauthorized, "POST", confirm, "", map[string]string{"code": "1"})
	w.json(http.StatusForbidden, "POST", confirm, writeTok, map[string]string{"code": "1"})
	now := time.Now()
	code, _ := mailstore.TOTPCode(secret, now)
	on := w.json(http.StatusOK, "POST", confirm, carol, map[string]string{"code": code})
	codes, _ := on["recovery_codes"].([]any)
	session, _ := on["session"].(map[string]any)
	if len(codes) != 10 || session == nil {
		t.Fatalf("confirmed: %v", on)
	}
	carol2 := str(t, session, "token")
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", carol, nil) // the old session ended
	if me := w.json(http.StatusOK, "GET", "/api/v1/me", carol2, nil); me["second_factor"].(map[string]any)["enabled"] != true {
		t.Errorf("me after enrolment: %v", me)
	}
	w.json(http.StatusConflict, "POST", "/api/v1/me/totp", carol2, nil)
	w.json(http.StatusConflict, "POST", confirm, carol2, map[string]string{"code": code})

	// Signing in: the password, then a code; each code works once.
	second := "/api/v1/auth/login/second-factor"
	p := w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dora@example.com", "password": "dora-password"})
	if p["type"] != "https://yubin.dev/problems/second-factor-required" || p["token"] != nil {
		t.Fatalf("login with a second factor: %v", p)
	}
	ch := str(t, p, "challenge")
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]string{"challenge": ch, "code": code}) // used at enrolment: 2nd failure
	next, _ := mailstore.TOTPCode(secret, now.Add(30*time.Second))
	pair := w.json(http.StatusOK, "POST", second, "", map[string]string{"challenge": ch, "code": next})
	w.json(http.StatusOK, "GET", "/api/v1/me", str(t, pair, "token"), nil)
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]string{"challenge": ch, "code": next}) // replay
	w.json(http.StatusUnprocessableEntity, "POST", second, "", map[string]string{"challenge": ch})
	w.json(http.StatusUnprocessableEntity, "POST", second, "", map[string]string{"challenge": ch, "code": "1", "recovery_code": "x"})
	w.json(http.StatusBadRequest, "POST", second, "", `{"challenge":"x","otp":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", second, "", "text/plain", `{"challenge":"x","code":"1"}`)
	w.tooLarge("POST", second, "")
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]string{"challenge": "not-a-jwt", "code": "123456"})
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]string{"challenge": carol2, "code": "123456"}) // an access token is no challenge
	p = w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dora@example.com", "password": "dora-password"})
	pair = w.json(http.StatusOK, "POST", second, "", map[string]string{"challenge": str(t, p, "challenge"), "recovery_code": strings.ToUpper(codes[0].(string))})
	carol3 := str(t, pair, "token")
	if me := w.json(http.StatusOK, "GET", "/api/v1/me", carol3, nil); me["second_factor"].(map[string]any)["recovery_codes_left"] != float64(9) {
		t.Errorf("me after a recovery code: %v", me)
	}

	// Turning it off takes the password.
	disable := "/api/v1/me/totp/disable"
	w.json(http.StatusUnprocessableEntity, "POST", disable, carol3, map[string]string{"password": "wrong-password"})
	w.json(http.StatusUnprocessableEntity, "POST", disable, carol3, map[string]string{"password": ""})
	w.json(http.StatusBadRequest, "POST", disable, carol3, `{"password":"x","code":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", disable, carol3, "text/plain", `{"password":"x"}`)
	w.tooLarge("POST", disable, carol3)
	w.json(http.StatusUnauthorized, "POST", disable, "", map[string]string{"password": "dora-password"})
	w.json(http.StatusForbidden, "POST", disable, writeTok, map[string]string{"password": "dora-password"})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: disable, token: carol3, ctype: "application/json", body: []byte(`{"password":"dora-password"}`)})
	carol4 := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dora@example.com", "password": "dora-password"}), "token")

	// An admin resets it (here with none set: it is idempotent).
	reset := "/api/v1/users/dora@example.com/second-factor"
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: reset, token: bob})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: reset, token: writeTok})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: reset})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/users/nobody@example.com/second-factor", token: adm})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: reset, token: adm})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", carol4, nil) // the reset ended her sessions

	// The server-wide requirement.
	settings := "/api/v1/settings/security"
	w.json(http.StatusOK, "GET", settings, adm, nil)
	w.json(http.StatusForbidden, "GET", settings, bob, nil)
	w.json(http.StatusUnauthorized, "GET", settings, "", nil)
	w.json(http.StatusUnprocessableEntity, "PATCH", settings, adm, map[string]any{})
	w.json(http.StatusBadRequest, "PATCH", settings, adm, `{"require_two_factor":"yes"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "PATCH", settings, adm, "text/plain", `{"require_two_factor":true}`)
	w.tooLarge("PATCH", settings, adm)
	w.json(http.StatusUnauthorized, "PATCH", settings, "", map[string]any{"require_two_factor": true})
	w.json(http.StatusForbidden, "PATCH", settings, bob, map[string]any{"require_two_factor": true})
	if got := w.json(http.StatusOK, "PATCH", settings, adm, map[string]any{"require_two_factor": true}); got["require_two_factor"] != true {
		t.Errorf("settings %v", got)
	}
	if me := w.json(http.StatusOK, "GET", "/api/v1/me", bob, nil); me["second_factor"].(map[string]any)["required"] != true {
		t.Errorf("bob's me under the requirement: %v", me)
	}
	if p := w.json(http.StatusForbidden, "GET", "/api/v1/tokens", bob, nil); p["type"] != "https://yubin.dev/problems/second-factor-setup-required" {
		t.Errorf("bob's tokens under the requirement: %v", p)
	}
	w.json(http.StatusOK, "GET", "/api/v1/tokens", adm, nil) // server admins have no mail account to secure
	// A passkey sets the requirement up as well as an authenticator app.
	w.json(http.StatusOK, "GET", "/api/v1/me/passkeys", bob, nil)
	w.json(http.StatusOK, "POST", "/api/v1/me/passkeys/begin", bob, nil)
	w.json(http.StatusOK, "PATCH", settings, adm, map[string]any{"require_two_factor": false})
	w.json(http.StatusOK, "GET", "/api/v1/tokens", bob, nil)
}
