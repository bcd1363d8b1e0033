package webadmin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// browseAppPasswords has the signed-in user make an app password for
// IMAP on "My account": it is shown once, logs in over IMAP and not over
// POP3, is listed, and opens nothing once revoked there.
func (b *browser) browseAppPasswords(srv *testServer) {
	t := b.t
	t.Helper()
	b.wait("the app password form", `!!document.querySelector("input[name=proto_imap]")`)
	b.fill("input[name=name]", "Thunderbird at home")
	eval[chromedp.Void](b, `(() => { for (const p of ["pop3", "submission", "managesieve"]) document.querySelector("input[name=proto_" + p + "]").checked = false; document.querySelector("input[name=proto_imap]").checked = true; })()`)
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Create an app password").click()`)
	b.wait("the new app password", `!!document.querySelector(".secret-box input.secret")`)
	pw := eval[string](b, `document.querySelector(".secret-box input.secret").value`)
	if !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){5}$`).MatchString(pw) {
		t.Fatalf("app password shown %q", pw)
	}
	ctx := context.Background()
	st := srv.store
	if _, err := st.AuthenticateMail(ctx, "ann@example.com", pw, mailstore.ProtocolIMAP); err != nil {
		t.Errorf("the app password made in the dashboard does not log in over IMAP: %v", err)
	}
	if _, err := st.AuthenticateMail(ctx, "ann@example.com", pw, mailstore.ProtocolPOP3); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("the IMAP-only app password logs in over POP3: %v", err)
	}
	b.wait("the listed app password", `[...document.querySelectorAll("td")].some(td => td.textContent === "Thunderbird at home")`)
	b.shot("app-passwords")
	eval[chromedp.Void](b, `document.querySelector("button[aria-label='Revoke Thunderbird at home']").click()`)
	b.wait("the confirmation", `!!document.querySelector("dialog[open] button.danger")`)
	b.click("dialog[open] button.danger")
	b.wait("the revoked notice", `[...document.querySelectorAll(".notice")].some(n => n.textContent === "App password Thunderbird at home was revoked.")`)
	if _, err := st.AuthenticateMail(ctx, "ann@example.com", pw, mailstore.ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an app password revoked in the dashboard still logs in: %v", err)
	}
}

// browseTwoFactor has ann turn on two-factor sign-in on "My account" with
// a code computed from the secret shown, see her recovery codes once, sign
// out and in again with the password and the next code, and turn it off
// with her password.
func (b *browser) browseTwoFactor(srv *testServer) {
	t := b.t
	t.Helper()
	ctx := context.Background()
	st := srv.store
	eval[chromedp.Void](b, `[...document.querySelectorAll("button")].find(x => x.textContent === "Set up an authenticator app").click()`)
	b.wait("the authenticator secret", `!!document.querySelector("code.totp-secret")`)
	secret := b.text("code.totp-secret")
	b.wait("the QR code", `(document.querySelector("img.totp-qr")||{}).naturalWidth === 256`)
	if uri := b.text("code.totp-uri"); !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Errorf("otpauth URI %q", uri)
	}
	now := time.Now()
	code, err := mailstore.TOTPCode(secret, now)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	b.fill("input[name=totp_code]", code)
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Turn on").click()`)
	b.wait("the recovery codes", `document.querySelectorAll("ol.recovery-codes li").length === 10`)
	if u, err := st.GetUser(ctx, "ann@example.com"); err != nil || !u.SecondFactor {
		t.Errorf("after turning it on in the dashboard: second factor %v, %v", u != nil && u.SecondFactor, err)
	}
	b.shot("two-factor-recovery-codes")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button")].find(x => x.textContent === "I have saved them").click()`)
	b.wait("the two-factor state", `[...document.querySelectorAll(".notice")].some(n => n.textContent.startsWith("Two-factor sign-in is on."))`)

	// Signing in again takes the password, then the next code.
	b.click("button.signout")
	b.wait("the sign-in form", `!!document.querySelector("form.login-form")`)
	b.fill(`form.login-form input[name=email]`, "ann@example.com")
	b.fill(`form.login-form input[name=password]`, "ann-password")
	b.click(`form.login-form button[type=submit]`)
	b.wait("the code form", `!!document.querySelector("form.second-factor input[name=code]")`)
	b.fill("form.second-factor input[name=code]", code)
	b.click("form.second-factor button[type=submit]")
	b.wait("the used code refused", `(document.querySelector(".problem-detail")||{}).textContent === "The code is wrong or was already used. Wait for the next code and try again."`)
	next, _ := mailstore.TOTPCode(secret, now.Add(30*time.Second))
	b.fill("form.second-factor input[name=code]", next)
	b.click("form.second-factor button[type=submit]")
	b.heading("My account")

	// Turning it off takes the password and ends the session.
	b.wait("the turn-off form", `!!document.querySelector("input[name=totp_password]")`)
	b.fill("input[name=totp_password]", "ann-password")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Turn off two-factor sign-in").click()`)
	b.wait("the sign-in form", `!!document.querySelector("form.login-form")`)
	if u, _ := st.GetUser(ctx, "ann@example.com"); u == nil || u.SecondFactor {
		t.Error("two-factor sign-in still on after turning it off in the dashboard")
	}
	b.signIn("ann@example.com", "ann-password", "My account")
}

// browseSessions signs ann in once more from a script; "My account" lists
// that session beside the browser's, and signing it out there ends it at
// once (its access token is refused).
func (b *browser) browseSessions(srv *testServer) {
	t := b.t
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/auth/login", strings.NewReader(`{"email":"ann@example.com","password":"ann-password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "curl/8.5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pair struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&pair)
	resp.Body.Close()
	me := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+pair.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := me(); code != http.StatusOK {
		t.Fatalf("the script's session: %d", code)
	}
	b.open("/admin/account")
	b.wait("the script's session", `[...document.querySelectorAll("td")].some(td => td.textContent === "curl/8.5.0")`)
	b.wait("the browser's own session", `[...document.querySelectorAll("td .badge")].some(x => x.textContent === "This session")`)
	b.shot("sessions")
	eval[chromedp.Void](b, `document.querySelector("button[aria-label^='Sign out the session from']").click()`)
	b.wait("the confirmation", `!!document.querySelector("dialog[open] button.danger")`)
	b.click("dialog[open] button.danger")
	b.wait("the signed-out notice", `[...document.querySelectorAll(".notice")].some(n => n.textContent === "The session was signed out.")`)
	if code := me(); code != http.StatusUnauthorized {
		t.Errorf("a session signed out in the dashboard still answers: %d", code)
	}
}

// browseSecurityPolicy has the server admin turn on sign-in notices on
// "My account" and checks the server's setting changed.
func (b *browser) browseSecurityPolicy(srv *testServer) {
	t := b.t
	t.Helper()
	b.wait("the security settings", `!!document.querySelector("input[name=notify_new_sign_in]")`)
	eval[chromedp.Void](b, `document.querySelector("input[name=notify_new_sign_in]").click()`)
	eval[chromedp.Void](b, `document.querySelector("input[name=notify_new_sign_in]").form.querySelector("button[type=submit]").click()`)
	b.wait("the saved notice", `[...document.querySelectorAll(".notice")].some(n => n.textContent === "Saved.")`)
	p, err := srv.store.GetSecurityPolicy(context.Background())
	if err != nil || !p.NotifyNewSignIn || p.RequireTwoFactor {
		t.Errorf("security settings after saving in the dashboard: %+v, %v", p, err)
	}
	off := false
	if _, err := srv.store.UpdateSecurityPolicy(context.Background(), mailstore.SecurityPolicyUpdate{NotifyNewSignIn: &off}); err != nil {
		t.Fatal(err)
	}
	eval[chromedp.Void](b, `document.querySelectorAll(".notice").forEach(n => n.remove())`)
}
