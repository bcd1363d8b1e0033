package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// quarantineJSON is a held message as the API shows it.
type quarantineJSON struct {
	ID         int64    `json:"id"`
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	Subject    string   `json:"subject"`
	Reason     string   `json:"reason"`
	Filter     string   `json:"filter"`
	Size       int64    `json:"size"`
	ReceivedAt string   `json:"received_at"`
	Headers    *struct {
		From, To, Subject, Date string
	} `json:"headers"`
	Preview *string `json:"preview"`
}

// quarantineEnv is an API with example.com (ann its domain admin, bob a
// user) and example.org (dave a user).
type quarantineEnv struct {
	*testEnv
	ann, bob, dave string // access tokens
}

func newQuarantineEnv(t *testing.T) *quarantineEnv {
	e := newEnv(t)
	e.addDomain("example.com")
	e.addDomain("example.org")
	e.addUser("ann@example.com", "ann-password")
	e.addUser("bob@example.com", "bob-password")
	e.addUser("dave@example.org", "dave-password")
	e.must(http.StatusNoContent, "PUT", "/api/v1/domains/example.com/admins/ann@example.com", e.admin, nil, nil)
	return &quarantineEnv{testEnv: e,
		ann:  e.login("ann@example.com", "ann-password"),
		bob:  e.login("bob@example.com", "bob-password"),
		dave: e.login("dave@example.org", "dave-password"),
	}
}

// hold quarantines raw for rcpts and returns its id as a string.
func (e *quarantineEnv) hold(raw, subject string, rcpts ...string) string {
	e.t.Helper()
	q, err := e.store.Quarantine(context.Background(), mailstore.QuarantineInput{
		Body: strings.NewReader(raw), From: "offers@spam.example", Recipients: rcpts,
		Subject: subject, Reason: "spam score 9.2", Filter: "spam",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return strconv.FormatInt(q.ID, 10)
}

// inbox returns the subjects... the number of messages in a user's INBOX.
func (e *quarantineEnv) inbox(address string) int {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.GetUser(ctx, address)
	if err != nil {
		e.t.Fatal(err)
	}
	mb, err := e.store.GetMailbox(ctx, u.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	list, err := e.store.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list)
}

func plainMessage(subject, body string) string {
	return "From: Offers <offers@spam.example>\r\nTo: bob@example.com\r\nSubject: " + subject +
		"\r\nDate: Thu, 02 Jan 2025 03:04:05 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
}

func TestQuarantineRoles(t *testing.T) {
	e := newQuarantineEnv(t)
	qBob := e.hold(plainMessage("for bob", "hello bob"), "for bob", "bob@example.com")
	qDave := e.hold(plainMessage("for dave", "hello dave"), "for dave", "dave@example.org")
	qBoth := e.hold(plainMessage("for both", "hello both"), "for both", "bob@example.com", "dave@example.org")

	subjects := func(l listJSON[quarantineJSON]) string {
		var s []string
		for _, it := range l.Items {
			s = append(s, it.Subject+"="+strings.Join(it.Recipients, "+"))
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		who, token, query, want string
		total                   int64
	}{
		{"admin", e.admin, "", "for both=bob@example.com+dave@example.org,for dave=dave@example.org,for bob=bob@example.com", 3},
		{"admin", e.admin, "?recipient=DAVE@example.org", "for both=bob@example.com+dave@example.org,for dave=dave@example.org", 2},
		{"admin", e.admin, "?limit=1&offset=1", "for dave=dave@example.org", 3},
		{"domain admin", e.ann, "", "for both=bob@example.com,for bob=bob@example.com", 2},
		{"domain admin", e.ann, "?limit=1&offset=1", "for bob=bob@example.com", 2},
		{"domain admin", e.ann, "?recipient=bob@example.com", "for both=bob@example.com,for bob=bob@example.com", 2},
		{"domain admin", e.ann, "?recipient=ann@example.com", "", 0},
		{"user", e.bob, "", "for both=bob@example.com,for bob=bob@example.com", 2},
		{"user", e.bob, "?recipient=bob@example.com&limit=1", "for both=bob@example.com", 2},
		{"user", e.dave, "", "for both=dave@example.org,for dave=dave@example.org", 2},
	} {
		var l listJSON[quarantineJSON]
		e.must(http.StatusOK, "GET", "/api/v1/quarantine"+c.query, c.token, nil, &l)
		if got := subjects(l); got != c.want || l.Total != c.total {
			t.Errorf("%s %s: %q total %d, want %q total %d", c.who, c.query, got, l.Total, c.want, c.total)
		}
	}
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/quarantine?recipient=dave@example.org", e.ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/quarantine?recipient=dave@example.org", e.bob, nil)
	e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/quarantine?recipient=x", e.admin, nil)
	e.problem(http.StatusUnprocessableEntity, kindValidation, "GET", "/api/v1/quarantine?limit=5000", e.admin, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/quarantine", "", nil)

	// Reading one message.
	var q quarantineJSON
	e.must(http.StatusOK, "GET", "/api/v1/quarantine/"+qBoth, e.bob, nil, &q)
	if q.Subject != "for both" || len(q.Recipients) != 1 || q.Recipients[0] != "bob@example.com" || q.Preview == nil || *q.Preview != "hello both" {
		t.Errorf("bob's view of a shared message: %+v", q)
	}
	e.must(http.StatusOK, "GET", "/api/v1/quarantine/"+qBoth, e.ann, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/quarantine/"+qDave, e.admin, nil, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/quarantine/"+qDave, e.bob, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/quarantine/"+qDave, e.ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/quarantine/"+qBob, e.dave, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/quarantine/424242", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/quarantine/-1", e.admin, nil)
	e.problem(http.StatusNotFound, kindNotFound, "GET", "/api/v1/quarantine/x1", e.admin, nil)

	// Releasing and deleting need every recipient in reach.
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/quarantine/"+qBoth+"/release", e.ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/quarantine/"+qBoth+"/release", e.bob, nil)
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/quarantine/"+qBoth, e.dave, nil)
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/quarantine/"+qDave, e.ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/quarantine/"+qDave+"/release", e.bob, nil)

	// A read-only token may look but not change.
	var created struct {
		Secret string `json:"secret"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ro", "scope": "read"}, &created)
	e.must(http.StatusOK, "GET", "/api/v1/quarantine/"+qBob, created.Secret, nil, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/quarantine/"+qBob+"/release", created.Secret, nil)
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/quarantine/"+qBob, created.Secret, nil)

	// bob releases his own message into his INBOX; dave deletes his.
	if n := e.inbox("bob@example.com"); n != 0 {
		t.Fatalf("bob's INBOX has %d messages before release", n)
	}
	e.must(http.StatusNoContent, "POST", "/api/v1/quarantine/"+qBob+"/release", e.bob, nil, nil)
	if n := e.inbox("bob@example.com"); n != 1 {
		t.Errorf("bob's INBOX has %d messages after release, want 1", n)
	}
	e.problem(http.StatusNotFound, kindNotFound, "POST", "/api/v1/quarantine/"+qBob+"/release", e.bob, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/quarantine/"+qDave, e.dave, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/quarantine/"+qDave, e.admin, nil)

	// The admin releases the shared message to both.
	e.must(http.StatusNoContent, "POST", "/api/v1/quarantine/"+qBoth+"/release", e.admin, nil, nil)
	if b, d := e.inbox("bob@example.com"), e.inbox("dave@example.org"); b != 2 || d != 1 {
		t.Errorf("INBOXes after the admin's release: bob %d dave %d, want 2 1", b, d)
	}
	var l listJSON[quarantineJSON]
	e.must(http.StatusOK, "GET", "/api/v1/quarantine", e.admin, nil, &l)
	if l.Total != 0 || len(l.Items) != 0 || l.Items == nil {
		t.Errorf("quarantine after all: %+v", l)
	}

	// Each change is in the audit log, with who made it.
	var audit listJSON[struct {
		Actor  string `json:"actor"`
		Action string `json:"action"`
		Target string `json:"target"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/audit?action=quarantine.", e.admin, nil, &audit)
	var got []string
	for _, it := range audit.Items {
		got = append(got, it.Action+" "+it.Target+" by "+it.Actor)
	}
	want := []string{
		"quarantine.release " + qBoth + " by " + testAdmin,
		"quarantine.delete " + qDave + " by dave@example.org",
		"quarantine.release " + qBob + " by bob@example.com",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit: %q, want %q", got, want)
	}
}

func TestQuarantinePreview(t *testing.T) {
	e := newQuarantineEnv(t)
	longBody := strings.Repeat("0123456789abcdef", 600) // 9600 bytes
	for _, c := range []struct {
		name, raw   string
		preview     string
		headers     [4]string // From, To, Subject, Date
		notContains []string
	}{{
		name:    "plain",
		raw:     plainMessage("Hello", "Dear Bob,\r\n\r\nyou   won.\r\n"),
		preview: "Dear Bob,\n\nyou won.",
		headers: [4]string{"Offers <offers@spam.example>", "bob@example.com", "Hello", "Thu, 02 Jan 2025 03:04:05 +0000"},
	}, {
		name: "encoded headers, quoted-printable latin-1",
		raw: "From: =?UTF-8?Q?J=C3=BCrgen?= <j@spam.example>\r\nTo: bob@example.com\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSch=F6ne Gr=FC=DFe=\r\n aus M=FCnchen\r\n",
		preview: "Schöne Grüße aus München",
		headers: [4]string{"Jürgen <j@spam.example>", "bob@example.com", "Grüße", ""},
	}, {
		name: "alternative: the plain part wins",
		raw: "From: a@spam.example\r\nSubject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/html\r\n\r\n<p>HTML <b>version</b></p>\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nPlain version\r\n--b--\r\n",
		preview:     "Plain version",
		headers:     [4]string{"a@spam.example", "", "alt", ""},
		notContains: []string{"<", "HTML"},
	}, {
		name: "HTML only: tags, scripts and styles stripped, entities decoded",
		raw: "From: a@spam.example\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjxzdHlsZT5ib2R5e2NvbG9yOnJlZH08L3N0eWxlPjwvaGVhZD48Ym9keT48cD5DbGFpbSAm\r\n" +
			"YW1wOyA8YSBocmVmPSJodHRwOi8vZXZpbC5leGFtcGxlIj53aW48L2E+PC9wPjxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD48aW1nIHNyYz14\r\n" +
			"IG9uZXJyb3I9YWxlcnQoMik+PCEtLSBoaWRkZW4gLS0+PC9ib2R5PjwvaHRtbD4=\r\n" +
			"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nattached text\r\n--b--\r\n",
		preview:     "Claim & win",
		headers:     [4]string{"a@spam.example", "", "html", ""},
		notContains: []string{"<", ">", "alert", "color", "hidden", "attached", "evil"},
	}, {
		name:        "HTML with an unclosed head",
		raw:         "Subject: h\r\nContent-Type: text/html\r\n\r\n<html><head><title>T</title><body>Visible<br>text\r\n",
		preview:     "Visible\ntext",
		headers:     [4]string{"", "", "h", ""},
		notContains: []string{"T\n"},
	}, {
		name:    "long: cut to 4 KiB",
		raw:     plainMessage("long", longBody),
		preview: longBody[:service.PreviewBytes],
		headers: [4]string{"Offers <offers@spam.example>", "bob@example.com", "long", "Thu, 02 Jan 2025 03:04:05 +0000"},
	}, {
		name:    "no body",
		raw:     "Subject: empty\r\n\r\n",
		preview: "",
		headers: [4]string{"", "", "empty", ""},
	}} {
		t.Run(c.name, func(t *testing.T) {
			id := e.hold(c.raw, c.name, "bob@example.com")
			var q quarantineJSON
			e.must(http.StatusOK, "GET", "/api/v1/quarantine/"+id, e.bob, nil, &q)
			if q.Preview == nil || *q.Preview != c.preview {
				t.Errorf("preview %q, want %q", deref(q.Preview), c.preview)
			}
			for _, s := range c.notContains {
				if strings.Contains(deref(q.Preview), s) {
					t.Errorf("preview %q contains %q", deref(q.Preview), s)
				}
			}
			if q.Headers == nil {
				t.Fatal("no headers")
			}
			if got := [4]string{q.Headers.From, q.Headers.To, q.Headers.Subject, q.Headers.Date}; got != c.headers {
				t.Errorf("headers %q, want %q", got, c.headers)
			}
			if q.ID == 0 || q.Size == 0 || q.Filter != "spam" || q.Reason == "" || q.From != "offers@spam.example" || q.ReceivedAt == "" {
				t.Errorf("record %+v", q)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// trainReq posts raw to /api/v1/spam/train.
func (e *testEnv) trainReq(as, token, ctype string, body io.Reader, length int64) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/spam/train?as="+as, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = length
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func TestSpamTrain(t *testing.T) {
	e := newQuarantineEnv(t)
	stats := func(token string) (s, h float64) {
		t.Helper()
		var st map[string]float64
		e.must(http.StatusOK, "GET", "/api/v1/spam/stats", token, nil, &st)
		return st["spam_messages"], st["ham_messages"]
	}
	if s, h := stats(e.admin); s != 0 || h != 0 {
		t.Fatalf("stats before training: %v %v", s, h)
	}
	spamMsg := "From: offers@spam.example\r\nSubject: Cheap pills\r\n\r\nBuy cheap viagra pills now.\r\n"
	hamMsg := "From: ann@example.com\r\nSubject: Lunch\r\n\r\nLunch on Tuesday?\r\n"
	train := func(want int, as, token, ctype, raw string) {
		t.Helper()
		resp, b := e.trainReq(as, token, ctype, strings.NewReader(raw), int64(len(raw)))
		if resp.StatusCode != want {
			t.Fatalf("train as %s: status %d, want %d: %s", as, resp.StatusCode, want, b)
		}
	}
	train(http.StatusNoContent, "spam", e.admin, "message/rfc822", spamMsg)
	train(http.StatusNoContent, "ham", e.ann, "message/rfc822; charset=utf-8", hamMsg)
	train(http.StatusNoContent, "ham", e.admin, "Message/RFC822", hamMsg)
	train(http.StatusNoContent, "ham", e.admin, "message/rfc822", hamMsg) // the same again counts once
	// The server admin trains the server's classifier; the domain admin
	// only their domain's (issue 11: no cross-domain poisoning).
	if s, h := stats(e.admin); s != 1 || h != 1 {
		t.Errorf("stats after training: spam %v ham %v, want 1 1", s, h)
	}
	if s, h := stats(e.ann); s != 0 || h != 1 {
		t.Errorf("stats as domain admin: spam %v ham %v, want 0 1", s, h)
	}
	resp, b := e.send(mustRequest(t, "POST", e.srv.URL+"/api/v1/spam/train?as=spam&domain=elsewhere.example", e.ann, spamMsg))
	checkProblem(t, resp, b, http.StatusForbidden, kindForbidden, "domain admin training another domain")
	counts, _, _, err := e.bayes.Counts(context.Background(), []string{"viagra"})
	if err != nil || counts["viagra"].Spam != 1 {
		t.Errorf("token viagra: %v %v", counts, err)
	}

	check := func(status int, kind, as, token, ctype string, body io.Reader, length int64) {
		t.Helper()
		resp, b := e.trainReq(as, token, ctype, body, length)
		checkProblem(t, resp, b, status, kind, "train as "+as)
	}
	r := func() io.Reader { return strings.NewReader(spamMsg) }
	n := int64(len(spamMsg))
	check(http.StatusForbidden, kindForbidden, "spam", e.bob, "message/rfc822", r(), n)
	check(http.StatusUnauthorized, kindUnauthorized, "spam", "", "message/rfc822", r(), n)
	check(http.StatusUnprocessableEntity, kindValidation, "", e.admin, "message/rfc822", r(), n)
	check(http.StatusUnprocessableEntity, kindValidation, "SPAM", e.admin, "message/rfc822", r(), n)
	check(http.StatusUnprocessableEntity, kindValidation, "spam", e.admin, "message/rfc822", strings.NewReader(""), 0)
	check(http.StatusUnsupportedMediaType, kindUnsupportedMedia, "spam", e.admin, "", r(), n)
	check(http.StatusUnsupportedMediaType, kindUnsupportedMedia, "spam", e.admin, "text/plain", r(), n)
	check(http.StatusUnsupportedMediaType, kindUnsupportedMedia, "spam", e.admin, "application/json", strings.NewReader(`{}`), 2)
	// Too large: declared, and streamed without a length.
	big := spamMsg + strings.Repeat("x", service.MaxTrainBytes)
	check(http.StatusRequestEntityTooLarge, kindTooLarge, "spam", e.admin, "message/rfc822", strings.NewReader(big), int64(len(big)))
	check(http.StatusRequestEntityTooLarge, kindTooLarge, "spam", e.admin, "message/rfc822", io.MultiReader(strings.NewReader(big)), -1)
	// Just at the limit is fine.
	atLimit := spamMsg + strings.Repeat("y", service.MaxTrainBytes-len(spamMsg))
	train(http.StatusNoContent, "spam", e.admin, "message/rfc822", atLimit)
	// Other routes keep the 1 MiB limit.
	e.problem(http.StatusRequestEntityTooLarge, kindTooLarge, "POST", "/api/v1/domains", e.admin, rawBody(`{"name":"`+strings.Repeat("a", MaxBodyBytes)+`"}`))

	var created struct {
		Secret string `json:"secret"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ro", "scope": "read"}, &created)
	check(http.StatusForbidden, kindForbidden, "spam", created.Secret, "message/rfc822", r(), n)
	stats(created.Secret)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/spam/stats", e.bob, nil)
	e.problem(http.StatusUnauthorized, kindUnauthorized, "GET", "/api/v1/spam/stats", "", nil)
	if s, h := stats(e.admin); s != 2 || h != 1 {
		t.Errorf("stats at the end: spam %v ham %v, want 2 1", s, h)
	}
}

// mustRequest returns a message/rfc822 POST of raw with token.
func mustRequest(t *testing.T, method, url, token, raw string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
