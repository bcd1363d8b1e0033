package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// walkPasskeys walks the passkey routes with a new user pia and a
// software authenticator: she registers two passkeys (the first turns
// two-factor sign-in on, with recovery codes and a new session), signs in
// with the password and an assertion (each assertion works once, a
// signature counter that goes back is refused) and with a discoverable
// passkey alone, makes new recovery codes, removes a passkey (not the
// last); her password no longer opens IMAP; failed assertions count in
// the login throttle; an admin's reset removes the passkeys.
func (w *specWalker) walkPasskeys(adm, writeTok string) {
	t := w.t
	ctx := context.Background()
	soft := &softAuthenticator{t: t, origin: walkOrigin}
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "pia@example.com", "password": "pia-password"})
	e1 := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "pia@example.com", "password": "pia-password"}), "token")

	list := "/api/v1/me/passkeys"
	if l := w.json(http.StatusOK, "GET", list, e1, nil); l["available"] != true || len(l["items"].([]any)) != 0 {
		t.Errorf("passkeys before any: %v", l)
	}
	w.json(http.StatusUnauthorized, "GET", list, "", nil)
	w.json(http.StatusForbidden, "GET", list, writeTok, nil)

	begin := "/api/v1/me/passkeys/begin"
	w.json(http.StatusUnauthorized, "POST", begin, "", nil)
	w.json(http.StatusForbidden, "POST", begin, writeTok, nil)
	w.json(http.StatusForbidden, "POST", begin, adm, nil) // no mail account
	opts := w.json(http.StatusOK, "POST", begin, e1, nil)
	cred1JSON, cred1 := soft.create(opts)

	w.json(http.StatusUnprocessableEntity, "POST", list, e1, map[string]any{"name": "", "credential": cred1JSON})
	w.json(http.StatusUnprocessableEntity, "POST", list, e1, map[string]any{"name": "YubiKey"})
	w.json(http.StatusUnprocessableEntity, "POST", list, e1, map[string]any{"name": "YubiKey", "credential": map[string]any{"id": "x"}})
	w.json(http.StatusBadRequest, "POST", list, e1, `{"name":"x","credential":{},"extra":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", list, e1, "text/plain", `{"name":"x"}`)
	w.tooLarge("POST", list, e1)
	w.json(http.StatusUnauthorized, "POST", list, "", map[string]any{"name": "YubiKey", "credential": cred1JSON})
	w.json(http.StatusForbidden, "POST", list, writeTok, map[string]any{"name": "YubiKey", "credential": cred1JSON})
	// A wrong origin is refused, and uses up the ceremony.
	evil := &softAuthenticator{t: t, origin: "https://mail.example.net.evil.example"}
	badJSON, _ := evil.create(w.json(http.StatusOK, "POST", begin, e1, nil))
	w.json(http.StatusUnprocessableEntity, "POST", list, e1, map[string]any{"name": "YubiKey", "credential": badJSON})

	on := w.json(http.StatusCreated, "POST", list, e1, map[string]any{"name": "YubiKey", "credential": cred1JSON})
	codes, _ := on["recovery_codes"].([]any)
	session, _ := on["session"].(map[string]any)
	if len(codes) != 10 || session == nil || on["passkey"].(map[string]any)["name"] != "YubiKey" {
		t.Fatalf("first passkey: %v", on)
	}
	e2 := str(t, session, "token")
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", e1, nil) // the password-only session ended
	w.json(http.StatusUnprocessableEntity, "POST", list, e2, map[string]any{"name": "Again", "credential": cred1JSON})

	// A second one: no new codes, no new session.
	taken, _ := soft.create(w.json(http.StatusOK, "POST", begin, e2, nil))
	w.json(http.StatusConflict, "POST", list, e2, map[string]any{"name": "yubikey", "credential": taken}) // the name is taken (and the ceremony used)
	cred2JSON, cred2 := soft.create(w.json(http.StatusOK, "POST", begin, e2, nil))
	if two := w.json(http.StatusCreated, "POST", list, e2, map[string]any{"name": "Laptop", "credential": cred2JSON}); two["recovery_codes"] != nil || two["session"] != nil {
		t.Errorf("second passkey: %v", two)
	}
	items := w.json(http.StatusOK, "GET", list, e2, nil)["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("passkeys %v", items)
	}
	id1 := fmt.Sprint(items[0].(map[string]any)["id"])
	id2 := fmt.Sprint(items[1].(map[string]any)["id"])
	if me := w.json(http.StatusOK, "GET", "/api/v1/me", e2, nil); me["second_factor"].(map[string]any)["passkeys"] != float64(2) {
		t.Errorf("me with passkeys: %v", me)
	}

	// The mail protocols now take app passwords only.
	if _, err := w.store.AuthenticateMail(ctx, "pia@example.com", "pia-password", mailstore.ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("the account password opens IMAP of an account with a passkey: %v", err)
	}

	// Signing in: the password, then an assertion.
	login := func() string {
		p := w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "pia@example.com", "password": "pia-password"})
		if ms := fmt.Sprint(p["methods"]); ms != "[passkey recovery_code]" {
			t.Errorf("methods %s", ms)
		}
		return str(t, p, "challenge")
	}
	ch := login()
	sfBegin := "/api/v1/auth/login/second-factor/passkey"
	second := "/api/v1/auth/login/second-factor"
	ao := w.json(http.StatusOK, "POST", sfBegin, "", map[string]string{"challenge": ch})
	if allow, _ := ao["publicKey"].(map[string]any)["allowCredentials"].([]any); len(allow) != 2 {
		t.Errorf("assertion options %v", ao)
	}
	assertion := soft.get(ao, cred1)
	pair := w.json(http.StatusOK, "POST", second, "", map[string]any{"challenge": ch, "passkey": assertion})
	e3 := str(t, pair, "token")
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]any{"challenge": ch, "passkey": assertion}) // replayed: 1st failure
	stale := soft.assert(str(t, w.json(http.StatusOK, "POST", sfBegin, "", map[string]string{"challenge": ch})["publicKey"].(map[string]any), "challenge"), cred1, cred1.count)
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]any{"challenge": ch, "passkey": stale}) // the counter did not move: 2nd failure
	w.json(http.StatusOK, "POST", second, "", map[string]any{"challenge": ch, "passkey": soft.get(w.json(http.StatusOK, "POST", sfBegin, "", map[string]string{"challenge": ch}), cred2)})
	w.json(http.StatusUnprocessableEntity, "POST", second, "", map[string]any{"challenge": ch, "code": "123456", "passkey": assertion})
	w.json(http.StatusUnprocessableEntity, "POST", sfBegin, "", map[string]string{})
	w.json(http.StatusUnauthorized, "POST", sfBegin, "", map[string]string{"challenge": "not-a-jwt"})
	w.json(http.StatusBadRequest, "POST", sfBegin, "", `{"challenge":"x","code":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", sfBegin, "", "text/plain", `{"challenge":"x"}`)
	w.tooLarge("POST", sfBegin, "")

	// A discoverable passkey signs in alone.
	pkBegin, pkFinish := "/api/v1/auth/passkey/begin", "/api/v1/auth/passkey/finish"
	do := w.json(http.StatusOK, "POST", pkBegin, "", nil)
	if uv := do["publicKey"].(map[string]any)["userVerification"]; uv != "required" {
		t.Errorf("discoverable sign-in options %v", do)
	}
	signedIn := w.json(http.StatusOK, "POST", pkFinish, "", map[string]any{"credential": soft.get(do, cred2)})
	if signedIn["email"] != "pia@example.com" {
		t.Errorf("passkey sign-in: %v", signedIn)
	}
	w.json(http.StatusOK, "GET", "/api/v1/me", str(t, signedIn, "token"), nil)
	w.json(http.StatusUnauthorized, "POST", pkFinish, "", map[string]any{"credential": soft.get(w.json(http.StatusOK, "POST", pkBegin, "", nil), &softCredential{id: []byte("unknown-credential"), key: cred2.key, rpID: walkHostname, handle: cred2.handle})})
	w.json(http.StatusUnauthorized, "POST", pkFinish, "", map[string]any{"credential": map[string]any{"id": "x"}})
	w.json(http.StatusUnprocessableEntity, "POST", pkFinish, "", map[string]any{})
	w.json(http.StatusBadRequest, "POST", pkFinish, "", `{"credential":{},"x":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", pkFinish, "", "text/plain", `{"credential":{}}`)
	w.tooLarge("POST", pkFinish, "")

	// New recovery codes replace the old ones.
	rc := "/api/v1/me/recovery-codes"
	w.json(http.StatusUnprocessableEntity, "POST", rc, e3, map[string]string{"password": "wrong-password"})
	w.json(http.StatusUnprocessableEntity, "POST", rc, e3, map[string]string{"password": ""})
	w.json(http.StatusBadRequest, "POST", rc, e3, `{"password":"x","y":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", rc, e3, "text/plain", `{"password":"x"}`)
	w.tooLarge("POST", rc, e3)
	w.json(http.StatusUnauthorized, "POST", rc, "", map[string]string{"password": "pia-password"})
	w.json(http.StatusForbidden, "POST", rc, writeTok, map[string]string{"password": "pia-password"})
	fresh, _ := w.json(http.StatusOK, "POST", rc, e3, map[string]string{"password": "pia-password"})["recovery_codes"].([]any)
	if len(fresh) != 10 || fresh[0] == codes[0] {
		t.Fatalf("new recovery codes %v", fresh)
	}
	w.json(http.StatusUnauthorized, "POST", second, "", map[string]any{"challenge": login(), "recovery_code": codes[0]})
	w.json(http.StatusOK, "POST", second, "", map[string]any{"challenge": login(), "recovery_code": fresh[0]})

	// Removing passkeys: not the last one.
	del := "/api/v1/me/passkeys/"
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: del + id1})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: del + id1, token: writeTok})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: del + id1, token: e3})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: del + id1, token: e3})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: del + "abc", token: e3})
	w.send(http.StatusConflict, walkReq{method: "DELETE", target: del + id2, token: e3})

	// Failed assertions count in the login throttle: after walkBlockAfter
	// of them, even a good one is refused.
	ch = login()
	good := soft.get(w.json(http.StatusOK, "POST", sfBegin, "", map[string]string{"challenge": ch}), cred2)
	for range walkBlockAfter {
		w.json(http.StatusUnauthorized, "POST", second, "", map[string]any{"challenge": ch, "passkey": assertion})
	}
	w.json(http.StatusTooManyRequests, "POST", sfBegin, "", map[string]string{"challenge": ch})
	w.json(http.StatusTooManyRequests, "POST", second, "", map[string]any{"challenge": ch, "passkey": good})

	// An admin's reset removes the passkeys (audited).
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/users/pia@example.com/second-factor", token: adm})
	if u, err := w.store.GetUser(ctx, "pia@example.com"); err != nil || u.SecondFactor {
		t.Fatalf("after the reset: %v, %v", u, err)
	} else if ps, err := w.store.ListPasskeys(ctx, u.ID); err != nil || len(ps) != 0 {
		t.Errorf("passkeys after the reset: %v, %v", ps, err)
	}
	au := w.json(http.StatusOK, "GET", "/api/v1/audit?action=user.second_factor.remove&target=pia@example.com", adm, nil)
	if items, _ := au["items"].([]any); len(items) != 1 || items[0].(map[string]any)["details"] != `{"had_second_factor":true,"passkeys_removed":1}` {
		t.Errorf("audit of the reset: %v", au)
	}
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", e3, nil)

	// A user with an authenticator app and no passkey has none to offer;
	// one without a second factor has no recovery codes.
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "quinn@example.com", "password": "quinn-password"})
	quinn := str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "quinn@example.com", "password": "quinn-password"}), "token")
	w.json(http.StatusConflict, "POST", rc, quinn, map[string]string{"password": "quinn-password"})
	en, err := w.store.StartTOTP(ctx, "quinn@example.com", "test")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := mailstore.TOTPCode(en.Secret, time.Now())
	if _, err := w.store.ConfirmTOTP(ctx, "quinn@example.com", code); err != nil {
		t.Fatal(err)
	}
	p := w.json(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": "quinn@example.com", "password": "quinn-password"})
	if ms := fmt.Sprint(p["methods"]); ms != "[totp recovery_code]" {
		t.Errorf("methods of an authenticator user %s", ms)
	}
	w.json(http.StatusConflict, "POST", sfBegin, "", map[string]string{"challenge": str(t, p, "challenge")})
}
