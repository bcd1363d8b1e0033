package rspamd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
)

const rawMessage = "From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"

func testMessage(conn filters.ConnInfo, env filters.Envelope) *filters.Message {
	return filters.NewMessage(conn, env, strings.NewReader(rawMessage), int64(len(rawMessage)))
}

func defaultMessage() *filters.Message {
	return testMessage(
		filters.ConnInfo{
			RemoteAddr: netip.MustParseAddrPort("[::ffff:192.0.2.1]:2525"),
			HELO:       "client.example.org",
			AuthUser:   "alice",
			Hostname:   "mx.example.com",
		},
		filters.Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.com", "c@example.com"}},
	)
}

// fakeRspamd records requests and answers with reply.
type fakeRspamd struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	status int
	reply  string
	delay  time.Duration
}

func newFakeRspamd(t *testing.T) *fakeRspamd {
	f := &fakeRspamd{status: http.StatusOK, reply: `{"action":"no action","score":0,"required_score":15}`}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.bodies = append(f.bodies, string(body))
		status, reply, delay := f.status, f.reply, f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRspamd) set(status int, reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.reply = status, reply
}

func (f *fakeRspamd) last() (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return nil, ""
	}
	return f.reqs[len(f.reqs)-1], f.bodies[len(f.bodies)-1]
}

func TestRequest(t *testing.T) {
	f := newFakeRspamd(t)
	c := &Client{URL: f.URL + "/", Timeout: 5 * time.Second, Password: "secret"}
	if _, err := c.Check(context.Background(), defaultMessage()); err != nil {
		t.Fatal(err)
	}
	r, body := f.last()
	if r.Method != http.MethodPost || r.URL.Path != "/checkv2" {
		t.Errorf("request %s %s, want POST /checkv2", r.Method, r.URL.Path)
	}
	if body != rawMessage {
		t.Errorf("body = %q, want the raw message", body)
	}
	if r.ContentLength != int64(len(rawMessage)) {
		t.Errorf("Content-Length = %d", r.ContentLength)
	}
	want := map[string][]string{
		"Ip":       {"192.0.2.1"},
		"Helo":     {"client.example.org"},
		"From":     {"a@example.org"},
		"Rcpt":     {"b@example.com", "c@example.com"},
		"User":     {"alice"},
		"Mta-Name": {"mx.example.com"},
		"Password": {"secret"},
	}
	for k, v := range want {
		if got := r.Header.Values(k); !reflect.DeepEqual(got, v) {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.Header.Get("Hostname") != "" {
		t.Errorf("Hostname header sent: %q", r.Header.Get("Hostname"))
	}
}

func TestRequestMinimal(t *testing.T) {
	f := newFakeRspamd(t)
	c := &Client{URL: f.URL}
	msg := testMessage(filters.ConnInfo{}, filters.Envelope{Recipients: []string{"b@example.com"}})
	if _, err := c.Check(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	r, _ := f.last()
	if got := r.Header.Get("From"); got != "<>" {
		t.Errorf("From for the null sender = %q, want <>", got)
	}
	for _, k := range []string{"Ip", "Helo", "User", "Mta-Name", "Password"} {
		if v, ok := r.Header[k]; ok {
			t.Errorf("header %s sent: %q", k, v)
		}
	}
}

func TestMapping(t *testing.T) {
	f := newFakeRspamd(t)
	flt := NewFilter(&Client{URL: f.URL, Timeout: 5 * time.Second})
	if flt.Name() != "rspamd" {
		t.Errorf("Name = %q", flt.Name())
	}
	tests := []struct {
		reply        string
		wantAction   filters.Action
		wantCode     int
		wantEnhanced [3]int
		wantReason   string
		wantResult   string
	}{
		{`{"action":"no action","score":-1.5,"required_score":15}`, filters.Accept, 0, [3]int{}, "", "no action"},
		{`{"action":"no action","is_skipped":true}`, filters.Accept, 0, [3]int{}, "", "skipped"},
		{`{"action":"greylist","score":4,"required_score":15}`, filters.Junk, 0, [3]int{}, "greylist without greylisting in rspamd: add header", "greylist (add header)"},
		{`{"action":"soft reject","score":4,"messages":{"smtp_message":"Ratelimit exceeded"}}`, filters.TempFail, 451, [3]int{4, 7, 1}, "Ratelimit exceeded", "soft reject"},
		{`{"action":"add header","score":7.5,"required_score":15}`, filters.Junk, 0, [3]int{}, "add header (score 7.50)", "add header"},
		{`{"action":"rewrite subject","score":9,"subject":"[SPAM] hi"}`, filters.Junk, 0, [3]int{}, "rewrite subject (score 9.00)", "rewrite subject"},
		{`{"action":"reject","score":20,"required_score":15}`, filters.Reject, 550, [3]int{5, 7, 1}, "Spam message rejected", "reject"},
		{`{"action":"reject","score":20,"messages":{"smtp_message":"Go away"}}`, filters.Reject, 550, [3]int{5, 7, 1}, "Go away", "reject"},
		{`{"action":"discard","score":30}`, filters.Quarantine, 0, [3]int{}, "discard (score 30.00)", "discard"},
		{`{"action":"quarantine","score":30}`, filters.Quarantine, 0, [3]int{}, "quarantine (score 30.00)", "quarantine"},
		{`{"action":"custom thing","score":1}`, filters.Accept, 0, [3]int{}, "", `unknown action "custom thing"`},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			f.set(http.StatusOK, tt.reply)
			v, err := flt.Check(context.Background(), defaultMessage())
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.wantAction || v.Code != tt.wantCode || v.EnhancedCode != tt.wantEnhanced || v.Reason != tt.wantReason {
				t.Errorf("verdict %v %d %v %q, want %v %d %v %q", v.Action, v.Code, v.EnhancedCode, v.Reason,
					tt.wantAction, tt.wantCode, tt.wantEnhanced, tt.wantReason)
			}
			var res Result
			json.Unmarshal([]byte(tt.reply), &res)
			wantHeaders := []filters.HeaderField{
				{Key: "X-Rspamd-Score", Value: strconv.FormatFloat(res.Score, 'f', 2, 64)},
				{Key: "X-Rspamd-Action", Value: res.Action},
			}
			if !reflect.DeepEqual(v.AddHeaders, wantHeaders) {
				t.Errorf("AddHeaders = %v, want %v", v.AddHeaders, wantHeaders)
			}
			if len(v.Evidence) != 1 || v.Evidence[0].Filter != "rspamd" || v.Evidence[0].Result != tt.wantResult ||
				v.Evidence[0].Score != res.Score || !strings.HasPrefix(v.Evidence[0].Detail, "score=") {
				t.Errorf("Evidence = %+v", v.Evidence)
			}
		})
	}
}

func TestSymbolsInEvidence(t *testing.T) {
	f := newFakeRspamd(t)
	f.set(http.StatusOK, `{"action":"add header","score":7.5,"required_score":15,"symbols":{
		"R_SPF_FAIL":{"name":"R_SPF_FAIL","score":1.0},
		"BAYES_SPAM":{"name":"BAYES_SPAM","score":5.1,"options":["99.9%"]},
		"MIME_GOOD":{"score":-0.1}}}`)
	v, err := NewFilter(&Client{URL: f.URL}).Check(context.Background(), defaultMessage())
	if err != nil {
		t.Fatal(err)
	}
	want := "score=7.50 required=15.00 symbols=BAYES_SPAM(5.10),R_SPF_FAIL(1.00),MIME_GOOD(-0.10)"
	if got := v.Evidence[0].Detail; got != want {
		t.Errorf("Detail = %q, want %q", got, want)
	}
	if v.AddHeaders[0].Value != "7.50" {
		t.Errorf("X-Rspamd-Score = %q", v.AddHeaders[0].Value)
	}
}

func TestErrors(t *testing.T) {
	f := newFakeRspamd(t)
	flt := NewFilter(&Client{URL: f.URL, Timeout: 5 * time.Second})
	tests := []struct {
		status  int
		reply   string
		wantErr string
	}{
		{http.StatusInternalServerError, "boom", "HTTP 500"},
		{http.StatusOK, "not json", "bad reply"},
		{http.StatusOK, `{"error":"cannot parse message"}`, "cannot parse message"},
		{http.StatusOK, `{"score":1}`, "without action"},
	}
	for _, tt := range tests {
		f.set(tt.status, tt.reply)
		_, err := flt.Check(context.Background(), defaultMessage())
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("reply %d %q: error %v, want %q", tt.status, tt.reply, err, tt.wantErr)
		}
	}
	// Through a chain, errors tempfail by default.
	f.set(http.StatusInternalServerError, "boom")
	v := filters.NewChain(nil, filters.Stage{Filter: flt, Enabled: true}).Check(context.Background(), defaultMessage())
	if v.Action != filters.TempFail || v.Code != 451 {
		t.Errorf("chain verdict on error: %+v", v)
	}
	if _, err := (&Client{}).Check(context.Background(), defaultMessage()); err == nil {
		t.Error("Check without URL succeeded")
	}
}

func TestTimeout(t *testing.T) {
	f := newFakeRspamd(t)
	f.delay = 5 * time.Second
	c := &Client{URL: f.URL, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := c.Check(context.Background(), defaultMessage())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error = %v, want a timeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = (&Client{URL: f.URL}).Check(ctx, defaultMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestChainHeaders(t *testing.T) {
	f := newFakeRspamd(t)
	f.set(http.StatusOK, `{"action":"add header","score":7.5,"required_score":15}`)
	v := filters.NewChain(nil, filters.Stage{Filter: NewFilter(&Client{URL: f.URL}), Enabled: true}).
		Check(context.Background(), defaultMessage())
	want := []filters.HeaderField{{Key: "X-Rspamd-Score", Value: "7.50"}, {Key: "X-Rspamd-Action", Value: "add header"}}
	if v.Action != filters.Junk || !reflect.DeepEqual(v.AddHeaders, want) {
		t.Errorf("chain verdict: %+v", v)
	}
}

// TestGreylist checks rspamd greylisting over HTTP: a triplet not seen
// before is deferred, so is a retry before the delay, and the retry after
// it is accepted although rspamd (without a working greylist memory) still
// says "greylist"; another triplet starts again.
func TestGreylist(t *testing.T) {
	f := newFakeRspamd(t)
	f.set(http.StatusOK, `{"action":"greylist","score":4,"required_score":15,"symbols":{"GREYLIST":{"name":"GREYLIST","score":0,"options":["greylisted"]}}}`)
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	flt := &Filter{Client: &Client{URL: f.URL, Timeout: 5 * time.Second}, GreylistDelay: 5 * time.Minute, Now: func() time.Time { return now }}
	check := func(msg *filters.Message) filters.Action {
		t.Helper()
		v, err := flt.Check(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if v.Action == filters.TempFail && (v.Code != 451 || v.EnhancedCode != [3]int{4, 7, 1}) {
			t.Errorf("deferred with %d %v", v.Code, v.EnhancedCode)
		}
		return v.Action
	}
	if a := check(defaultMessage()); a != filters.TempFail {
		t.Fatalf("first attempt: %v, want tempfail", a)
	}
	now = now.Add(time.Minute)
	if a := check(defaultMessage()); a != filters.TempFail {
		t.Fatalf("retry after a minute: %v, want tempfail", a)
	}
	now = now.Add(5 * time.Minute)
	if a := check(defaultMessage()); a != filters.Accept {
		t.Fatalf("retry after the delay: %v, want accept", a)
	}
	// Same sender and recipients from another address of the same /24.
	other := testMessage(filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.77:2525")},
		filters.Envelope{MailFrom: "A@example.org", Recipients: []string{"c@example.com", "b@example.com"}})
	if a := check(other); a != filters.Accept {
		t.Errorf("retry from the same network: %v, want accept", a)
	}
	// Another sender: a new triplet.
	newSender := testMessage(filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.1:2525")},
		filters.Envelope{MailFrom: "other@example.org", Recipients: []string{"b@example.com"}})
	if a := check(newSender); a != filters.TempFail {
		t.Errorf("new triplet: %v, want tempfail", a)
	}
}
