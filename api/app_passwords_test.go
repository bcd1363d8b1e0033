package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"time"
)

// walkAppPasswords exercises the app password routes: bob makes, lists
// and revokes his own; ann (admin of his domain) and the server admin see
// and revoke them; a write token and another user may not.
func (w *specWalker) walkAppPasswords(adm, ann, bob, writeTok string) {
	t := w.t
	created := w.json(http.StatusCreated, "POST", "/api/v1/me/app-passwords", bob,
		map[string]any{"name": "Thunderbird at home", "protocols": []string{"submission", "imap", "imap"}, "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)})
	pw, _ := created["password"].(string)
	if !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){5}$`).MatchString(pw) {
		t.Errorf("app password %q", pw)
	}
	ap, _ := created["app_password"].(map[string]any)
	if fmt.Sprint(ap["protocols"]) != "[imap submission]" {
		t.Errorf("app password protocols %v", ap["protocols"])
	}
	id := fmt.Sprint(ap["id"])
	second := w.json(http.StatusCreated, "POST", "/api/v1/me/app-passwords", bob, map[string]any{"name": "iPhone", "protocols": []string{"imap"}, "expires_at": nil})
	secondID := fmt.Sprint(second["app_password"].(map[string]any)["id"])

	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/app-passwords", bob, map[string]any{"name": "x", "protocols": []string{}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/app-passwords", bob, map[string]any{"name": "x", "protocols": []string{"ftp"}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/app-passwords", bob, map[string]any{"name": "", "protocols": []string{"imap"}})
	w.json(http.StatusUnprocessableEntity, "POST", "/api/v1/me/app-passwords", bob, map[string]any{"name": "x", "protocols": []string{"imap"}, "expires_at": "2000-01-01T00:00:00Z"})
	w.json(http.StatusBadRequest, "POST", "/api/v1/me/app-passwords", bob, `{"name":"x","protocols":["imap"],"password":"mine"}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "POST", "/api/v1/me/app-passwords", bob, "text/plain", `{"name":"x","protocols":["imap"]}`)
	w.tooLarge("POST", "/api/v1/me/app-passwords", bob)
	w.json(http.StatusUnauthorized, "POST", "/api/v1/me/app-passwords", "", map[string]any{"name": "x", "protocols": []string{"imap"}})
	// A server admin has no mail account; an API token makes no credentials.
	w.json(http.StatusForbidden, "POST", "/api/v1/me/app-passwords", adm, map[string]any{"name": "x", "protocols": []string{"imap"}})
	w.json(http.StatusForbidden, "POST", "/api/v1/me/app-passwords", writeTok, map[string]any{"name": "x", "protocols": []string{"imap"}})

	if l := w.json(http.StatusOK, "GET", "/api/v1/me/app-passwords", bob, nil); len(l["items"].([]any)) != 2 {
		t.Errorf("bob's app passwords %v", l)
	}
	if l := w.json(http.StatusOK, "GET", "/api/v1/me/app-passwords", ann, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("ann's app passwords %v", l)
	}
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me/app-passwords", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/me/app-passwords", writeTok, nil)
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/app-passwords", ann, nil)
	w.json(http.StatusOK, "GET", "/api/v1/users/bob@example.com/app-passwords", adm, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/ann@example.com/app-passwords", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/users/bob@example.com/app-passwords", "", nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/app-passwords", adm, nil)

	// Someone else's app password is not found under one's own account.
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/" + id, token: ann})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/users/ann@example.com/app-passwords/" + id, token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/" + id})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/" + id, token: writeTok})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/" + id, token: bob})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/" + id, token: bob})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/app-passwords/abc", token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/app-passwords/" + secondID})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/app-passwords/" + secondID, token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/users/bob@example.com/app-passwords/" + secondID, token: adm})
	if l := w.json(http.StatusOK, "GET", "/api/v1/me/app-passwords", bob, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("bob's app passwords after revoking both %v", l)
	}
}
