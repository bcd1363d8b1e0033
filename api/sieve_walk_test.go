package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
)

// walkSieve walks the Sieve routes. adm is a server admin, ann the domain
// admin of example.com, bob a user of example.com; carol@example.com
// exists.
func (w *specWalker) walkSieve(adm, ann, bob string) {
	t := w.t
	t.Helper()
	const good = "require \"fileinto\";\nif header :contains \"subject\" \"invoice\" { fileinto \"Invoices\"; }\n"
	put := func(want int, target, token, ctype, body string) []byte {
		t.Helper()
		_, b := w.send(want, walkReq{method: "PUT", target: target, token: token, ctype: ctype, body: []byte(body)})
		return b
	}
	post := func(want int, target, token string) {
		t.Helper()
		w.send(want, walkReq{method: "POST", target: target, token: token})
	}
	bobs := "/api/v1/users/bob@example.com/sieve"

	// A user's own scripts.
	put(http.StatusNoContent, bobs+"/main", bob, "application/sieve", good)
	put(http.StatusNoContent, bobs+"/other", bob, "text/plain; charset=utf-8", "keep;\n")
	b := put(http.StatusUnprocessableEntity, bobs+"/bad", bob, "application/sieve", "require \"fileinto\";\nfileinto \"x\"\n")
	var p struct {
		Line, Column int
		Errors       []struct{ Field string }
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Line != 3 || p.Column != 1 || len(p.Errors) != 1 || p.Errors[0].Field != "script" {
		t.Errorf("bad script problem: %s", b)
	}
	put(http.StatusUnsupportedMediaType, bobs+"/main", bob, "application/json", `"keep;"`)
	put(http.StatusUnauthorized, bobs+"/main", "", "application/sieve", good)
	put(http.StatusForbidden, "/api/v1/users/carol@example.com/sieve/main", bob, "application/sieve", good)
	put(http.StatusNotFound, "/api/v1/users/nobody@example.com/sieve/main", adm, "application/sieve", good)
	put(http.StatusNoContent, "/api/v1/users/carol@example.com/sieve/main", ann, "application/sieve", good) // her domain admin
	w.tooLarge("PUT", bobs+"/main", bob)

	l := w.json(http.StatusOK, "GET", bobs, bob, nil)
	if items, _ := l["items"].([]any); len(items) != 2 {
		t.Errorf("bob's scripts: %v", l)
	}
	w.json(http.StatusOK, "GET", bobs, ann, nil)
	w.json(http.StatusUnauthorized, "GET", bobs, "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/carol@example.com/sieve", bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/users/nobody@example.com/sieve", adm, nil)

	resp, got := w.send(http.StatusOK, walkReq{method: "GET", target: bobs + "/main", token: bob})
	if string(got) != good || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/sieve") {
		t.Errorf("GET script: %q %q", resp.Header.Get("Content-Type"), got)
	}
	w.send(http.StatusUnauthorized, walkReq{method: "GET", target: bobs + "/main"})
	w.send(http.StatusForbidden, walkReq{method: "GET", target: "/api/v1/users/carol@example.com/sieve/main", token: bob})
	w.send(http.StatusNotFound, walkReq{method: "GET", target: bobs + "/none", token: bob})

	post(http.StatusNoContent, bobs+"/main/activate", bob)
	post(http.StatusUnauthorized, bobs+"/main/activate", "")
	post(http.StatusForbidden, "/api/v1/users/carol@example.com/sieve/main/activate", bob)
	post(http.StatusNotFound, bobs+"/none/activate", bob)
	l = w.json(http.StatusOK, "GET", bobs, bob, nil)
	if items, _ := l["items"].([]any); len(items) != 2 || items[0].(map[string]any)["active"] != true {
		t.Errorf("after activate: %v", l)
	}

	// The active script cannot be deleted; deactivated, it can.
	w.send(http.StatusConflict, walkReq{method: "DELETE", target: bobs + "/main", token: bob})
	post(http.StatusNoContent, bobs+"/other/deactivate", bob) // not the active one: no change
	post(http.StatusNoContent, bobs+"/main/deactivate", bob)
	post(http.StatusUnauthorized, bobs+"/main/deactivate", "")
	post(http.StatusForbidden, "/api/v1/users/carol@example.com/sieve/main/deactivate", bob)
	post(http.StatusNotFound, bobs+"/none/deactivate", bob)
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: bobs + "/main", token: bob})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: bobs + "/main", token: bob})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: bobs + "/other"})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/users/carol@example.com/sieve/main", token: bob})

	// The rule editor: the server writes the script.
	rules := map[string]any{
		"rules": []any{map[string]any{
			"conditions": []any{map[string]any{"field": "subject", "value": "invoice"}},
			"actions":    []any{map[string]any{"kind": "move", "folder": "Invoices"}, map[string]any{"kind": "mark_read"}},
		}},
		"away": map[string]any{"message": "I am away until Monday.", "end": "2026-12-14"},
	}
	r := w.json(http.StatusOK, "PUT", bobs+"/yubin-rules/rules", bob, rules)
	if script, _ := r["script"].(string); r["editable"] != true || !strings.Contains(script, `fileinto :create "Invoices"`) || !strings.Contains(script, "vacation") {
		t.Errorf("PUT rules: %v", r)
	}
	r = w.json(http.StatusOK, "GET", bobs+"/yubin-rules/rules", bob, nil)
	if r["editable"] != true || r["rules"] == nil {
		t.Errorf("GET rules: %v", r)
	}
	r = w.json(http.StatusOK, "GET", bobs+"/other/rules", bob, nil) // hand-written
	if r["editable"] != false || r["rules"] != nil || r["script"] != "keep;\n" {
		t.Errorf("GET rules of a hand-written script: %v", r)
	}
	w.json(http.StatusUnauthorized, "GET", bobs+"/other/rules", "", nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/users/carol@example.com/sieve/main/rules", bob, nil)
	w.json(http.StatusNotFound, "GET", bobs+"/none/rules", bob, nil)
	w.json(http.StatusUnprocessableEntity, "PUT", bobs+"/yubin-rules/rules", bob, map[string]any{"rules": []any{map[string]any{"conditions": []any{}, "actions": []any{}}}})
	w.json(http.StatusBadRequest, "PUT", bobs+"/yubin-rules/rules", bob, `{"rules":[],"extra":1}`)
	w.jsonCT(http.StatusUnsupportedMediaType, "PUT", bobs+"/yubin-rules/rules", bob, "text/plain", `{"rules":[]}`)
	w.tooLarge("PUT", bobs+"/yubin-rules/rules", bob)
	w.json(http.StatusUnauthorized, "PUT", bobs+"/yubin-rules/rules", "", rules)
	w.json(http.StatusForbidden, "PUT", "/api/v1/users/carol@example.com/sieve/yubin-rules/rules", bob, rules)
	w.json(http.StatusNotFound, "PUT", "/api/v1/users/nobody@example.com/sieve/yubin-rules/rules", adm, rules)

	// The domain's script: its admins and server admins.
	dom := "/api/v1/domains/example.com/sieve"
	w.send(http.StatusNotFound, walkReq{method: "GET", target: dom, token: ann})
	put(http.StatusNoContent, dom, ann, "application/sieve", good)
	put(http.StatusUnprocessableEntity, dom, ann, "application/sieve", "if {")
	put(http.StatusUnsupportedMediaType, dom, ann, "application/x-www-form-urlencoded", "x=1")
	put(http.StatusUnauthorized, dom, "", "application/sieve", good)
	put(http.StatusForbidden, dom, bob, "application/sieve", good)
	put(http.StatusNotFound, "/api/v1/domains/nowhere.example/sieve", adm, "application/sieve", good)
	w.tooLarge("PUT", dom, ann)
	if _, got := w.send(http.StatusOK, walkReq{method: "GET", target: dom, token: adm}); string(got) != good {
		t.Errorf("domain script: %q", got)
	}
	w.send(http.StatusUnauthorized, walkReq{method: "GET", target: dom})
	w.send(http.StatusForbidden, walkReq{method: "GET", target: dom, token: bob})
	w.send(http.StatusForbidden, walkReq{method: "GET", target: "/api/v1/domains/example.org/sieve", token: ann})
	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: dom})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: dom, token: bob})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: dom, token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: dom, token: ann})
}
