package webadmin_test

import (
	"context"
	"errors"
	"regexp"

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
	st := srv.svc.Store()
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
