package api_test

import (
	"fmt"
	"net/http"
)

// walkSessions walks the session routes with a new user erin signed in
// twice: she lists both (one marked current) and ends the other, whose
// access token stops working at once; an admin lists and ends hers.
func (w *specWalker) walkSessions(adm, bob, writeTok string) {
	t := w.t
	w.json(http.StatusCreated, "POST", "/api/v1/users", adm, map[string]any{"address": "erin@example.com", "password": "erin-password"})
	login := func() string {
		return str(t, w.json(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "erin@example.com", "password": "erin-password"}), "token")
	}
	phone, laptop := login(), login()
	l := w.json(http.StatusOK, "GET", "/api/v1/me/sessions", laptop, nil)
	ses, _ := l["sessions"].([]any)
	if len(ses) != 2 {
		t.Fatalf("erin's sessions: %v", l)
	}
	var other, mine string
	for _, s := range ses {
		m := s.(map[string]any)
		if m["current"] == true {
			mine = fmt.Sprint(m["id"])
		} else {
			other = fmt.Sprint(m["id"])
		}
		if m["remote_ip"] == "" {
			t.Errorf("session without its address: %v", m)
		}
	}
	if mine == "" || other == "" {
		t.Fatalf("current session not marked: %v", l)
	}
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me/sessions", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/me/sessions", writeTok, nil)
	w.json(http.StatusOK, "GET", "/api/v1/me/sessions", adm, nil)
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/me/sessions/" + other})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/me/sessions/" + other, token: writeTok})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/sessions/" + other, token: bob}) // not bob's
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/me/sessions/" + other, token: laptop})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", phone, nil) // ended at once, not in 15 minutes
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/sessions/" + other, token: laptop})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/me/sessions/x", token: laptop})

	// An admin sees and ends them.
	base := "/api/v1/users/erin@example.com/sessions"
	if l := w.json(http.StatusOK, "GET", base, adm, nil); len(l["sessions"].([]any)) != 1 {
		t.Errorf("erin's sessions as the admin sees them: %v", l)
	}
	w.json(http.StatusOK, "GET", base, laptop, nil)
	w.json(http.StatusForbidden, "GET", base, bob, nil)
	w.json(http.StatusUnauthorized, "GET", base, "", nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/sessions", adm, nil)
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: base + "/" + mine, token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: base + "/" + mine})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: base + "/" + mine, token: adm})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: base + "/" + mine, token: adm})
	w.json(http.StatusUnauthorized, "GET", "/api/v1/me", laptop, nil)
}
