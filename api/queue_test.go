package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mta/queue"
)

// checkDKIMRecords checks that a GET /api/v1/domains/{name}/dns answer
// lists the domain's RSA and Ed25519 DKIM keys, the RSA one whole (longer
// than a TXT string) with a purpose that says how to publish it.
func checkDKIMRecords(t *testing.T, dns map[string]any, domain string) {
	t.Helper()
	recs, _ := dns["records"].([]any)
	var rsa, ed int
	for _, r := range recs {
		rec, _ := r.(map[string]any)
		name, _ := rec["name"].(string)
		value, _ := rec["value"].(string)
		purpose, _ := rec["purpose"].(string)
		if rec["type"] != "TXT" || !strings.HasSuffix(name, "._domainkey."+domain) {
			continue
		}
		switch {
		case strings.HasPrefix(value, "v=DKIM1; k=rsa; p="):
			rsa++
			if len(value) <= 255 || !strings.Contains(purpose, "255") {
				t.Errorf("RSA DKIM record of %s: %d characters, purpose %q", domain, len(value), purpose)
			}
		case strings.HasPrefix(value, "v=DKIM1; k=ed25519; p="):
			ed++
		default:
			t.Errorf("unexpected DKIM record %v", rec)
		}
	}
	if rsa != 1 || ed != 1 {
		t.Errorf("DNS records of %s: %d RSA and %d Ed25519 DKIM keys, want one of each: %v", domain, rsa, ed, recs)
	}
}

// walkQueue walks the outbound queue routes. adm is a server admin, ann
// the domain admin of example.com, bob a user of example.com.
func (w *specWalker) walkQueue(adm, ann, bob string) {
	t := w.t
	t.Helper()
	ctx := context.Background()
	enqueue := func(from, signing string, rcpts ...string) string {
		t.Helper()
		m, err := w.queue.Enqueue(ctx, queue.Input{
			Body:       strings.NewReader("From: <" + from + ">\r\nSubject: queued\r\n\r\nHello.\r\n"),
			From:       from,
			Domain:     signing,
			Recipients: rcpts,
		})
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(m.ID, 10)
	}
	qAnn := enqueue("ann@example.com", "", "joe@remote.example", "kim@other.example")
	qDave := enqueue("dave@example.org", "", "joe@remote.example")
	qNull := enqueue("", "example.com", "someone@other.example")

	for _, c := range []struct {
		token, query string
		total        float64
	}{
		{adm, "", 3}, {ann, "", 1}, {adm, "?domain=remote.example", 2}, {adm, "?domain=Other.Example.", 2},
		{adm, "?status=queued&limit=1&offset=1", 3}, {adm, "?status=held", 0}, {adm, "?status=delivered", 0},
		{ann, "?domain=other.example", 1}, {ann, "?status=queued&domain=nowhere.example", 0},
	} {
		l := w.json(http.StatusOK, "GET", "/api/v1/queue"+c.query, c.token, nil)
		if l["total"] != c.total {
			t.Errorf("queue list %q: total %v, want %v: %v", c.query, l["total"], c.total, l)
		}
	}
	l := w.json(http.StatusOK, "GET", "/api/v1/queue?limit=1", ann, nil)
	if items, _ := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["from"] != "ann@example.com" {
		t.Errorf("queue list as ann: %v", l)
	}
	w.json(http.StatusForbidden, "GET", "/api/v1/queue", bob, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/queue", "", nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/queue?status=lost", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/queue?domain=not_a_domain", adm, nil)
	w.json(http.StatusUnprocessableEntity, "GET", "/api/v1/queue?limit=0", adm, nil)

	m := w.json(http.StatusOK, "GET", "/api/v1/queue/"+qAnn, ann, nil)
	rcpts, _ := m["recipients"].([]any)
	if m["from"] != "ann@example.com" || m["held"] != false || len(rcpts) != 2 {
		t.Fatalf("queued message: %v", m)
	}
	if r := rcpts[0].(map[string]any); r["address"] != "joe@remote.example" || r["status"] != "queued" || r["attempts"] != float64(0) || r["last_attempt_at"] != nil {
		t.Errorf("queued recipient: %v", r)
	}
	if m := w.json(http.StatusOK, "GET", "/api/v1/queue/"+qNull, adm, nil); m["from"] != "" {
		t.Errorf("notification in the queue: %v", m)
	}
	w.json(http.StatusForbidden, "GET", "/api/v1/queue/"+qDave, ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/queue/"+qNull, ann, nil)
	w.json(http.StatusForbidden, "GET", "/api/v1/queue/"+qAnn, bob, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/queue/999999", adm, nil)
	w.json(http.StatusNotFound, "GET", "/api/v1/queue/abc", adm, nil)
	w.json(http.StatusUnauthorized, "GET", "/api/v1/queue/"+qAnn, "", nil)

	for _, action := range []string{"retry", "hold", "release"} {
		target := "/api/v1/queue/" + qAnn + "/" + action
		w.send(http.StatusUnauthorized, walkReq{method: "POST", target: target})
		w.send(http.StatusForbidden, walkReq{method: "POST", target: target, token: bob})
		w.send(http.StatusForbidden, walkReq{method: "POST", target: "/api/v1/queue/" + qDave + "/" + action, token: ann})
		w.send(http.StatusNotFound, walkReq{method: "POST", target: "/api/v1/queue/999999/" + action, token: adm})
		w.send(http.StatusNotFound, walkReq{method: "POST", target: "/api/v1/queue/0/" + action, token: adm})
	}
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/queue/" + qAnn + "/retry", token: ann})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/queue/" + qAnn + "/hold", token: ann})
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/queue/" + qAnn + "/hold", token: adm}) // already held
	if m := w.json(http.StatusOK, "GET", "/api/v1/queue/"+qAnn, adm, nil); m["held"] != true {
		t.Errorf("held message: %v", m)
	}
	if l := w.json(http.StatusOK, "GET", "/api/v1/queue?status=held", adm, nil); l["total"] != float64(1) {
		t.Errorf("held messages: %v", l)
	}
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/queue/" + qAnn + "/release", token: ann})
	if m := w.json(http.StatusOK, "GET", "/api/v1/queue/"+qAnn, adm, nil); m["held"] != false {
		t.Errorf("released message: %v", m)
	}
	w.send(http.StatusNoContent, walkReq{method: "POST", target: "/api/v1/queue/" + qDave + "/retry", token: adm})

	w.send(http.StatusUnauthorized, walkReq{method: "DELETE", target: "/api/v1/queue/" + qAnn})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/queue/" + qAnn, token: bob})
	w.send(http.StatusForbidden, walkReq{method: "DELETE", target: "/api/v1/queue/" + qDave, token: ann})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/queue/" + qAnn, token: ann})
	w.send(http.StatusNotFound, walkReq{method: "DELETE", target: "/api/v1/queue/" + qAnn, token: adm})
	w.send(http.StatusNoContent, walkReq{method: "DELETE", target: "/api/v1/queue/" + qNull, token: adm})
	if l := w.json(http.StatusOK, "GET", "/api/v1/queue", adm, nil); l["total"] != float64(1) {
		t.Errorf("queue after deletes: %v", l)
	}

	// Every change is in the audit log, with its actor.
	au := w.json(http.StatusOK, "GET", "/api/v1/audit?actor=ann@example.com&target="+qAnn, adm, nil)
	var actions []string
	for _, e := range au["items"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	for _, want := range []string{"queue.retry", "queue.hold", "queue.release", "queue.delete"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit of ann's queue changes %v lacks %s", actions, want)
		}
	}
}
