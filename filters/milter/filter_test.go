package milter

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/yubinmail/yubin/filters"
)

// seen is what the test milter received in one session.
type seen struct {
	host     string
	family   string
	port     uint16
	addr     string
	helo     string
	from     string
	rcpts    []string
	headers  [][2]string
	body     []byte
	chunks   int
	connMacs map[string]string
	mailMacs map[string]string
}

// recorder collects what test milters saw.
type recorder struct {
	mu       sync.Mutex
	sessions []*seen
	delay    time.Duration // before the end-of-message reply; cut short by stop
	stop     chan struct{} // closed when the test ends
}

// last returns a copy of what the last session saw.
func (r *recorder) last() seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sessions) == 0 {
		return seen{}
	}
	return *r.sessions[len(r.sessions)-1]
}

// testMilter rejects messages whose subject contains REJECTME and adds a
// header field to the others. Other subjects and recipients trigger the
// remaining actions.
type testMilter struct {
	rec  *recorder
	s    *seen
	subj string
}

func (m *testMilter) Connect(host string, family string, port uint16, addr net.IP, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s = &seen{}
	m.rec.sessions = append(m.rec.sessions, m.s)
	m.s.host, m.s.family, m.s.port = host, family, port
	if addr != nil {
		m.s.addr = addr.String()
	}
	m.s.connMacs = mod.Macros
	if host == "[192.0.2.66]" {
		return gomilter.RespReject, nil
	}
	return gomilter.RespContinue, nil
}

func (m *testMilter) Helo(name string, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s.helo = name
	return gomilter.RespContinue, nil
}

func (m *testMilter) MailFrom(from string, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s.from = from
	m.s.mailMacs = mod.Macros
	if from == "trusted@example.org" {
		return gomilter.RespAccept, nil
	}
	return gomilter.RespContinue, nil
}

func (m *testMilter) RcptTo(rcpt string, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s.rcpts = append(m.s.rcpts, rcpt)
	switch {
	case strings.HasPrefix(rcpt, "unknown"):
		return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), "550 5.1.1 No such user"), nil
	case strings.HasPrefix(rcpt, "busy"):
		return gomilter.RespTempFail, nil
	}
	return gomilter.RespContinue, nil
}

func (m *testMilter) Header(name string, value string, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s.headers = append(m.s.headers, [2]string{name, value})
	if strings.EqualFold(name, "Subject") {
		m.subj = value
	}
	return gomilter.RespContinue, nil
}

func (m *testMilter) Headers(h textproto.MIMEHeader, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	if strings.Contains(m.subj, "TEMPFAILME") {
		return gomilter.RespTempFail, nil
	}
	return gomilter.RespContinue, nil
}

func (m *testMilter) BodyChunk(chunk []byte, mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	m.s.body = append(m.s.body, chunk...)
	m.s.chunks++
	return gomilter.RespContinue, nil
}

func (m *testMilter) Body(mod *gomilter.Modifier) (gomilter.Response, error) {
	m.rec.mu.Lock()
	delay := m.rec.delay
	m.rec.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-m.rec.stop:
			t.Stop()
		}
	}
	switch {
	case strings.Contains(m.subj, "REJECTME"):
		return gomilter.RespReject, nil
	case strings.Contains(m.subj, "DISCARDME"):
		return gomilter.RespDiscard, nil
	case strings.Contains(m.subj, "REPLYME"):
		return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), "554 5.7.0 Custom refusal"), nil
	case strings.Contains(m.subj, "QUARANTINEME"):
		if err := mod.Quarantine("looks odd"); err != nil {
			return nil, err
		}
	case strings.Contains(m.subj, "CHANGEME"):
		if err := mod.ChangeHeader(1, "Subject", "changed"); err != nil {
			return nil, err
		}
		if err := mod.ReplaceBody([]byte("new body\r\n")); err != nil {
			return nil, err
		}
		if err := mod.AddRecipient("extra@example.com"); err != nil {
			return nil, err
		}
	}
	if err := mod.AddHeader("X-Test-Milter", "checked"); err != nil {
		return nil, err
	}
	if err := mod.InsertHeader(0, "X-Test-Inserted", "yes"); err != nil {
		return nil, err
	}
	return gomilter.RespAccept, nil
}

func (m *testMilter) Abort(mod *gomilter.Modifier) error { return nil }

// startMilter serves the test milter on network ("tcp" or "unix") and
// returns its address for Filter.Addr.
func startMilter(t *testing.T, network string) (string, *recorder) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "milter.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{stop: make(chan struct{})}
	srv := &gomilter.Server{
		// Connect starts a new record: the server makes a new milter
		// after each final response.
		NewMilter: func() gomilter.Milter { return &testMilter{rec: rec, s: &seen{}} },
		Actions: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptChangeBody |
			gomilter.OptQuarantine | gomilter.OptAddRcpt,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	// Closing the listener (rather than srv.Close) stops Serve.
	t.Cleanup(func() {
		close(rec.stop)
		ln.Close()
		<-done
	})
	if network == "unix" {
		return "unix:" + addr, rec
	}
	return ln.Addr().String(), rec
}

const body = "Hello,\r\n\r\nthis is the body.\r\n"

func message(subject, from string, rcpts ...string) *filters.Message {
	raw := "From: Alice <alice@example.org>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"\r\n" + body
	return filters.NewMessage(
		filters.ConnInfo{
			RemoteAddr: netip.MustParseAddrPort("192.0.2.1:40000"),
			HELO:       "client.example.org",
			AuthUser:   "alice",
			Hostname:   "mx.example.com",
		},
		filters.Envelope{MailFrom: from, Recipients: rcpts},
		strings.NewReader(raw), int64(len(raw)),
	)
}

func TestSessionContents(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr, rec := startMilter(t, network)
			f := &Filter{Addr: addr, Timeout: 5 * time.Second}
			v, err := f.Check(context.Background(), message("hello", "alice@example.org", "bob@example.com", "carol@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != filters.Accept {
				t.Errorf("Action = %v, want accept", v.Action)
			}
			s := rec.last()
			if s.host != "[192.0.2.1]" || s.family != "tcp4" || s.port != 40000 || s.addr != "192.0.2.1" {
				t.Errorf("connect: %q %q %d %q", s.host, s.family, s.port, s.addr)
			}
			if s.helo != "client.example.org" || s.from != "alice@example.org" {
				t.Errorf("helo %q, from %q", s.helo, s.from)
			}
			if !reflect.DeepEqual(s.rcpts, []string{"bob@example.com", "carol@example.com"}) {
				t.Errorf("rcpts = %q", s.rcpts)
			}
			wantHeaders := [][2]string{{"From", "Alice <alice@example.org>"}, {"To", "bob@example.com"}, {"Subject", "hello"}}
			if !reflect.DeepEqual(s.headers, wantHeaders) {
				t.Errorf("headers = %q, want %q", s.headers, wantHeaders)
			}
			if string(s.body) != body {
				t.Errorf("body = %q, want %q", s.body, body)
			}
			if s.connMacs["j"] != "mx.example.com" || s.mailMacs["{auth_authen}"] != "alice" {
				t.Errorf("macros: conn %v, mail %v", s.connMacs, s.mailMacs)
			}
		})
	}
}

func TestLargeBody(t *testing.T) {
	addr, rec := startMilter(t, "tcp")
	big := strings.Repeat("0123456789abcdef", 10_000) // 160 kB: 3 chunks
	raw := "Subject: big\r\n\r\n" + big
	msg := filters.NewMessage(filters.ConnInfo{}, filters.Envelope{Recipients: []string{"b@example.com"}},
		strings.NewReader(raw), int64(len(raw)))
	if _, err := (&Filter{Addr: addr}).Check(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	s := rec.last()
	if string(s.body) != big || s.chunks != 3 {
		t.Errorf("got %d bytes in %d chunks, want %d in 3", len(s.body), s.chunks, len(big))
	}
	if s.family != "unknown" || s.from != "" {
		t.Errorf("connect family %q, from %q", s.family, s.from)
	}
}

func TestActions(t *testing.T) {
	addr, _ := startMilter(t, "tcp")
	f := &Filter{Addr: addr, Timeout: 5 * time.Second}
	added := []filters.HeaderField{{Key: "X-Test-Milter", Value: "checked"}, {Key: "X-Test-Inserted", Value: "yes"}}
	tests := []struct {
		name         string
		msg          *filters.Message
		wantAction   filters.Action
		wantCode     int
		wantEnhanced [3]int
		wantReason   string
		wantHeaders  []filters.HeaderField
		wantEvidence []string // Result of each evidence
		wantRewrite  *filters.Rewrite
	}{
		{
			name:        "accept adds headers",
			msg:         message("hello", "a@example.org", "b@example.com"),
			wantAction:  filters.Accept,
			wantHeaders: added,
		},
		{
			name:         "reject",
			msg:          message("please REJECTME now", "a@example.org", "b@example.com"),
			wantAction:   filters.Reject,
			wantCode:     550,
			wantEnhanced: [3]int{5, 7, 1},
			wantReason:   "Message rejected by content filter",
			wantEvidence: []string{"reject"},
		},
		{
			name:         "tempfail at end of header",
			msg:          message("TEMPFAILME", "a@example.org", "b@example.com"),
			wantAction:   filters.TempFail,
			wantCode:     451,
			wantEnhanced: [3]int{4, 7, 1},
			wantReason:   "Message deferred by content filter, try again later",
			wantEvidence: []string{"tempfail"},
		},
		{
			name:         "discard quarantines",
			msg:          message("DISCARDME", "a@example.org", "b@example.com"),
			wantAction:   filters.Quarantine,
			wantReason:   "milter asked to discard the message",
			wantEvidence: []string{"quarantine"},
		},
		{
			name:         "quarantine",
			msg:          message("QUARANTINEME", "a@example.org", "b@example.com"),
			wantAction:   filters.Quarantine,
			wantReason:   "looks odd",
			wantHeaders:  added,
			wantEvidence: []string{"quarantine"},
		},
		{
			name:         "custom reply",
			msg:          message("REPLYME", "a@example.org", "b@example.com"),
			wantAction:   filters.Reject,
			wantCode:     554,
			wantEnhanced: [3]int{5, 7, 0},
			wantReason:   "Custom refusal",
			wantEvidence: []string{"reject"},
		},
		{
			name:         "other modifications become a rewrite",
			msg:          message("CHANGEME", "a@example.org", "b@example.com"),
			wantAction:   filters.Accept,
			wantHeaders:  added,
			wantEvidence: []string{"modified", "modified", "modified"},
			wantRewrite: &filters.Rewrite{
				HeaderEdits:   []filters.HeaderEdit{{Key: "Subject", Value: "changed", Index: 1}},
				Body:          []byte("new body\n"),
				ReplaceBody:   true,
				AddRecipients: []string{"extra@example.com"},
			},
		},
		{
			name:         "accept at mail from",
			msg:          message("REJECTME", "trusted@example.org", "b@example.com"),
			wantAction:   filters.Accept,
			wantEvidence: []string{"accept"},
		},
		{
			name:         "one recipient refused",
			msg:          message("hello", "a@example.org", "unknown@example.com", "b@example.com"),
			wantAction:   filters.Accept,
			wantHeaders:  added,
			wantEvidence: []string{"reject"},
		},
		{
			name:         "all recipients refused",
			msg:          message("hello", "a@example.org", "unknown@example.com", "busy@example.com"),
			wantAction:   filters.Reject,
			wantCode:     550,
			wantEnhanced: [3]int{5, 1, 1},
			wantReason:   "No such user",
			wantEvidence: []string{"reject", "tempfail"},
		},
		{
			name: "reject at connect",
			msg: filters.NewMessage(filters.ConnInfo{RemoteAddr: netip.MustParseAddrPort("192.0.2.66:25")},
				filters.Envelope{Recipients: []string{"b@example.com"}}, strings.NewReader("Subject: x\r\n\r\n"), 14),
			wantAction:   filters.Reject,
			wantCode:     550,
			wantEnhanced: [3]int{5, 7, 1},
			wantReason:   "Message rejected by content filter",
			wantEvidence: []string{"reject"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.Check(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.wantAction || v.Code != tt.wantCode || v.EnhancedCode != tt.wantEnhanced || v.Reason != tt.wantReason {
				t.Errorf("verdict %v %d %v %q, want %v %d %v %q", v.Action, v.Code, v.EnhancedCode, v.Reason,
					tt.wantAction, tt.wantCode, tt.wantEnhanced, tt.wantReason)
			}
			if !reflect.DeepEqual(v.AddHeaders, tt.wantHeaders) {
				t.Errorf("AddHeaders = %v, want %v", v.AddHeaders, tt.wantHeaders)
			}
			if !reflect.DeepEqual(v.Rewrite, tt.wantRewrite) {
				t.Errorf("Rewrite = %+v, want %+v", v.Rewrite, tt.wantRewrite)
			}
			var results []string
			for _, e := range v.Evidence {
				if e.Filter != "milter" {
					t.Errorf("evidence with filter %q", e.Filter)
				}
				results = append(results, e.Result)
			}
			if !reflect.DeepEqual(results, tt.wantEvidence) {
				t.Errorf("evidence results = %q, want %q (%+v)", results, tt.wantEvidence, v.Evidence)
			}
		})
	}
}

func TestChain(t *testing.T) {
	addr, _ := startMilter(t, "tcp")
	chain := filters.NewChain(nil, filters.Stage{Filter: &Filter{Addr: addr}, Enabled: true, Timeout: 5 * time.Second})
	v := chain.Check(context.Background(), message("REJECTME", "a@example.org", "b@example.com"))
	if v.Action != filters.Reject || v.Code != 550 {
		t.Errorf("chain verdict: %+v", v)
	}
	v = chain.Check(context.Background(), message("fine", "a@example.org", "b@example.com"))
	if v.Action != filters.Accept || len(v.AddHeaders) != 2 || v.AddHeaders[0].Key != "X-Test-Milter" {
		t.Errorf("chain verdict: %+v", v)
	}
}

func TestErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	f := &Filter{Addr: closed, Timeout: time.Second}
	if _, err := f.Check(context.Background(), message("x", "a@example.org", "b@example.com")); err == nil {
		t.Error("Check with no milter succeeded")
	}
	v := filters.NewChain(nil, filters.Stage{Filter: f, Enabled: true}).
		Check(context.Background(), message("x", "a@example.org", "b@example.com"))
	if v.Action != filters.TempFail || v.Code != 451 {
		t.Errorf("chain verdict with the milter down: %+v", v)
	}
	if _, err := (&Filter{}).Check(context.Background(), message("x", "", "b@example.com")); err == nil {
		t.Error("Check without an address succeeded")
	}
}

func TestTimeout(t *testing.T) {
	addr, rec := startMilter(t, "tcp")
	// The milter answers only after a minute: only the timeouts can end
	// the checks, and the bound below is far from both, whatever the load.
	rec.mu.Lock()
	rec.delay = time.Minute
	rec.mu.Unlock()
	t.Run("filter timeout", func(t *testing.T) {
		start := time.Now()
		_, err := (&Filter{Addr: addr, Timeout: 300 * time.Millisecond}).
			Check(context.Background(), message("x", "a@example.org", "b@example.com"))
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("error = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := (&Filter{Addr: addr}).Check(ctx, message("x", "a@example.org", "b@example.com"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want deadline exceeded", err)
		}
	})
}

func TestReplyVerdict(t *testing.T) {
	tests := []struct {
		code     int
		text     string
		action   filters.Action
		wantCode int
		enhanced [3]int
		reason   string
	}{
		{554, "5.7.0 Spam", filters.Reject, 554, [3]int{5, 7, 0}, "Spam"},
		{550, "Go away", filters.Reject, 550, [3]int{5, 7, 1}, "Go away"},
		{421, "4.3.2 Busy", filters.TempFail, 421, [3]int{4, 3, 2}, "Busy"},
		{450, "5.7.1 mismatched", filters.TempFail, 450, [3]int{4, 7, 1}, "5.7.1 mismatched"},
		{250, "ok?", filters.TempFail, 451, [3]int{4, 7, 1}, "ok?"},
	}
	for _, tt := range tests {
		v := replyVerdict(tt.code, tt.text)
		if v.Action != tt.action || v.Code != tt.wantCode || v.EnhancedCode != tt.enhanced || v.Reason != tt.reason {
			t.Errorf("replyVerdict(%d, %q) = %+v", tt.code, tt.text, v)
		}
	}
}

func TestName(t *testing.T) {
	if n := (&Filter{}).Name(); n != "milter" {
		t.Errorf("Name = %q", n)
	}
	if n := (&Filter{FilterName: "opendkim"}).Name(); n != "opendkim" {
		t.Errorf("Name = %q", n)
	}
}
