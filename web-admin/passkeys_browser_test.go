package webadmin_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// addAuthenticator gives the tab a virtual platform authenticator (CTAP2,
// internal transport, resident keys, user verification that succeeds)
// through the DevTools protocol, and returns its ID.
func (b *browser) addAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// TestBrowserPasskeys drives passkeys through the dashboard in Chromium
// with a virtual authenticator: kim adds one on My account (two-factor
// sign-in turns on, recovery codes shown once), signs in with her
// password and the passkey, then with the passkey alone; makes new
// recovery codes; adds a second passkey from another authenticator and
// removes the first; and turns two-factor sign-in off. The dashboard is
// opened on http://localhost (browsers take passkeys over http there
// only), which is the relying party.
func TestBrowserPasskeys(t *testing.T) {
	exe := findChromium(t)
	srv := newServer(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + u.Port()
	if err := srv.svc.WithPasskeys(service.PasskeyConfig{RPID: "localhost", Origins: []string{base}}); err != nil {
		t.Fatal(err)
	}
	admin := srv.login(t, testAdmin, testAdminPW)
	srv.call(t, "POST", "/api/v1/domains", admin, map[string]any{"name": "example.org"}, http.StatusCreated, nil)
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "kim@example.org", "password": "kim-password"}, http.StatusCreated, nil)
	ctx := context.Background()
	st := srv.store
	kim, err := st.GetUser(ctx, "kim@example.org")
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, exe, base)
	b.open("/admin/login")
	first := b.addAuthenticator()
	b.signIn("kim@example.org", "kim-password", "My account")

	// Adding the first passkey turns two-factor sign-in on.
	b.wait("the passkey form", `!!document.querySelector("input[name=passkey_name]")`)
	b.fill("input[name=passkey_name]", "Laptop")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Add a passkey").click()`)
	b.wait("the recovery codes", `document.querySelectorAll("ol.recovery-codes li").length === 10`)
	oldCode := b.text("ol.recovery-codes li code")
	if u, err := st.GetUser(ctx, "kim@example.org"); err != nil || !u.SecondFactor {
		t.Fatalf("after adding a passkey in the dashboard: second factor %v, %v", u != nil && u.SecondFactor, err)
	}
	if ps, err := st.ListPasskeys(ctx, kim.ID); err != nil || len(ps) != 1 || ps[0].Name != "Laptop" || !ps[0].UserVerified {
		t.Fatalf("passkeys stored: %+v, %v", ps, err)
	}
	if _, err := st.AuthenticateMail(ctx, "kim@example.org", "kim-password", mailstore.ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("the account password still opens IMAP with a passkey: %v", err)
	}
	b.shot("passkey-recovery-codes")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button")].find(x => x.textContent === "I have saved them").click()`)
	b.wait("the page without the codes", `!document.querySelector("ol.recovery-codes") && !!document.querySelector("input[name=recovery_password]")`)
	b.ready()
	b.wait("the listed passkey", `[...document.querySelectorAll("td")].some(td => td.textContent === "Laptop")`)
	b.shot("passkeys")
	b.checkLayout("table.passkeys-table td")

	// The password, then the passkey.
	b.click("button.signout")
	b.signInSecondStep("kim@example.org", "kim-password")
	b.wait("the passkey button", `!!document.querySelector("button.use-passkey")`)
	b.click("button.use-passkey")
	b.heading("My account")
	ps, _ := st.ListPasskeys(ctx, kim.ID)
	if len(ps) != 1 || ps[0].LastUsedAt == nil || ps[0].SignCount == 0 {
		t.Errorf("the passkey's use was not recorded: %+v", ps)
	}

	// The passkey alone (it is kept on the authenticator).
	b.click("button.signout")
	b.wait("the passkey sign-in", `!!document.querySelector("form.passkey-login button")`)
	b.click("form.passkey-login button")
	b.heading("My account")
	if after, _ := st.ListPasskeys(ctx, kim.ID); len(after) != 1 || after[0].SignCount <= ps[0].SignCount {
		t.Errorf("signature counter after the passwordless sign-in: %+v", after)
	}

	// New recovery codes: the old ones stop working.
	b.wait("the recovery code form", `!!document.querySelector("input[name=recovery_password]")`)
	b.fill("input[name=recovery_password]", "kim-password")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Make new recovery codes").click()`)
	b.wait("the new recovery codes", `document.querySelectorAll("ol.recovery-codes li").length === 10`)
	newCode := b.text("ol.recovery-codes li code")
	if _, err := st.VerifySecondFactor(ctx, kim.ID, mailstore.FactorRecoveryCode, oldCode); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an old recovery code still works: %v", err)
	}
	if _, err := st.VerifySecondFactor(ctx, kim.ID, mailstore.FactorRecoveryCode, newCode); err != nil {
		t.Errorf("a new recovery code does not work: %v", err)
	}
	eval[chromedp.Void](b, `[...document.querySelectorAll("button")].find(x => x.textContent === "I have saved them").click()`)
	b.wait("the page without the codes", `!document.querySelector("ol.recovery-codes") && !!document.querySelector("input[name=recovery_password]")`)
	b.ready()

	// A second passkey from another authenticator; the first is removed.
	if _, err := chromedp.Call(b.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: first}); err != nil {
		t.Fatal(err)
	}
	b.addAuthenticator()
	b.wait("the passkey form", `!!document.querySelector("input[name=passkey_name]")`)
	b.fill("input[name=passkey_name]", "Phone")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Add a passkey").click()`)
	b.wait("the added notice", `[...document.querySelectorAll(".notice")].some(n => n.textContent === "Passkey Phone was added.")`)
	b.wait("both passkeys", `[...document.querySelectorAll("td")].filter(td => td.textContent === "Laptop" || td.textContent === "Phone").length === 2`)
	eval[chromedp.Void](b, `document.querySelector("button[aria-label='Remove Laptop']").click()`)
	b.wait("the confirmation", `!!document.querySelector("dialog[open] button.danger")`)
	b.click("dialog[open] button.danger")
	b.wait("the removed notice", `[...document.querySelectorAll(".notice")].some(n => n.textContent === "Passkey Laptop was removed.")`)
	if ps, err := st.ListPasskeys(ctx, kim.ID); err != nil || len(ps) != 1 || ps[0].Name != "Phone" {
		t.Errorf("passkeys after removing one: %+v, %v", ps, err)
	}

	// Turning two-factor sign-in off removes the passkeys too.
	b.wait("the turn-off form", `!!document.querySelector("input[name=totp_password]")`)
	b.fill("input[name=totp_password]", "kim-password")
	eval[chromedp.Void](b, `[...document.querySelectorAll("button[type=submit]")].find(x => x.textContent === "Turn off two-factor sign-in").click()`)
	b.wait("the sign-in form", `!!document.querySelector("form.login-form")`)
	if ps, err := st.ListPasskeys(ctx, kim.ID); err != nil || len(ps) != 0 {
		t.Errorf("passkeys after turning two-factor sign-in off: %+v, %v", ps, err)
	}
	b.signIn("kim@example.org", "kim-password", "My account")
	b.checkErrors()
}

// signInSecondStep signs in with a password through the form and waits
// for the second step.
func (b *browser) signInSecondStep(email, password string) {
	b.t.Helper()
	b.wait("the sign-in form", `!!document.querySelector("form.login-form")`)
	b.fill(`form.login-form input[name=email]`, email)
	b.fill(`form.login-form input[name=password]`, password)
	b.click(`form.login-form button[type=submit]`)
	b.wait("the second step", `!!document.querySelector("form.second-factor")`)
}
