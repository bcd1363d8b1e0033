package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestDeliveredOnce(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "bob@remote.test")
	process(t, w)
	process(t, w)
	got := snk.got()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.from != ann || len(m.to) != 1 || m.to[0] != "bob@remote.test" {
		t.Errorf("envelope %q → %q", m.from, m.to)
	}
	if m.data != testMessage {
		t.Errorf("data %q, want %q", m.data, testMessage)
	}
	if !m.tls {
		t.Error("STARTTLS was offered but not used")
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
	if in := inbox(t, st, ann); len(in) != 0 {
		t.Errorf("sender got %d notifications", len(in))
	}
	if s := w.Stats(); s != (Stats{Delivered: 1, Connections: 1}) {
		t.Errorf("stats %+v, want one delivery", s)
	}
}

func TestRetryAfterTemporaryFailure(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.data = func(n int) error {
		if n == 0 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	w := testWorker(t, st, snk, clk, func(o *Options) {
		o.Backoff = func(attempt int) time.Duration { return time.Duration(attempt) * 10 * time.Minute }
	})
	enqueue(t, st, ann, "bob@remote.test")
	process(t, w)
	if n := len(snk.got()); n != 0 {
		t.Fatalf("delivered %d after a 451", n)
	}
	q := queued(t, st)
	if len(q) != 1 || q[0].Recipients[0].Status != "queued" || q[0].Recipients[0].LastCode != 451 {
		t.Fatalf("queue after 451: %+v", q)
	}
	if next := q[0].Recipients[0].NextAttemptAt; next.Sub(clk.Now()) < 9*time.Minute {
		t.Errorf("next attempt at %v, %v from now; want the backoff of 10 minutes", next, next.Sub(clk.Now()))
	}
	process(t, w) // not due yet
	if snk.tried() != 1 {
		t.Fatalf("tried %d times before the backoff ended", snk.tried())
	}
	clk.Add(11 * time.Minute)
	process(t, w)
	process(t, w)
	if n := len(snk.got()); n != 1 {
		t.Fatalf("delivered %d times, want 1", n)
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
	if in := inbox(t, st, ann); len(in) != 0 {
		t.Errorf("sender got %d notifications", len(in))
	}
}

// checkDSN parses a delivery status notification and returns its
// delivery-status part.
func checkDSN(t *testing.T, raw, action string) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN: %v\n%s", err, raw)
	}
	if from := m.Header.Get("From"); !strings.Contains(from, "MAILER-DAEMON@"+ourHost) {
		t.Errorf("DSN From %q", from)
	}
	if m.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Error("DSN without Auto-Submitted")
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q %v (%v)", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	var status string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		b, _ := io.ReadAll(p)
		switch ct {
		case "message/delivery-status":
			status = string(b)
		case "text/rfc822-headers":
			if !strings.Contains(string(b), "Subject: Hello there") || strings.Contains(string(b), "Hello.") {
				t.Errorf("returned header %q", b)
			}
		}
	}
	if strings.Join(types, " ") != "text/plain message/delivery-status text/rfc822-headers" {
		t.Errorf("DSN parts %q", types)
	}
	for _, want := range []string{"Reporting-MTA: dns; " + ourHost, "Action: " + action} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery status lacks %q:\n%s", want, status)
		}
	}
	return status
}

func TestOneRecipientRefused(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.rcpt = func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "bob@remote.test", "nobody@remote.test")
	process(t, w)
	process(t, w)
	got := snk.got()
	if len(got) != 1 || strings.Join(got[0].to, ",") != "bob@remote.test" {
		t.Fatalf("sink got %+v, want one message to bob", got)
	}
	in := inbox(t, st, ann)
	if len(in) != 1 {
		t.Fatalf("sender got %d notifications, want 1", len(in))
	}
	status := checkDSN(t, in[0], "failed")
	for _, want := range []string{"Final-Recipient: rfc822; nobody@remote.test", "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user", "Remote-MTA: dns; mx.remote.test"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery status lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, "bob@") {
		t.Errorf("the delivered recipient is reported:\n%s", status)
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
}

func TestDataRefused(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.data = func(int) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}
	}
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "bob@remote.test", "carl@remote.test")
	process(t, w)
	in := inbox(t, st, ann)
	if len(in) != 1 {
		t.Fatalf("sender got %d notifications, want 1", len(in))
	}
	status := checkDSN(t, in[0], "failed")
	if strings.Count(status, "Status: 5.7.1") != 2 {
		t.Errorf("want both recipients failed with 5.7.1:\n%s", status)
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
}

func TestNullMX(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "x@nullmx.test")
	process(t, w)
	in := inbox(t, st, ann)
	if len(in) != 1 {
		t.Fatalf("sender got %d notifications, want 1", len(in))
	}
	status := checkDSN(t, in[0], "failed")
	if !strings.Contains(status, "Status: 5.1.10") || !strings.Contains(status, "domain does not accept mail") {
		t.Errorf("null MX status:\n%s", status)
	}
	if snk.tried() != 0 || len(queued(t, st)) != 0 {
		t.Errorf("tries %d, queue %d", snk.tried(), len(queued(t, st)))
	}
}

func TestImplicitMXAndNextMX(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "a@nomx.test")    // no MX: its A record
	enqueue(t, st, ann, "b@two.test")     // first MX refuses connections
	enqueue(t, st, ann, "c@missing.test") // NXDOMAIN
	process(t, w)
	var to []string
	for _, m := range snk.got() {
		to = append(to, m.to...)
	}
	if strings.Join(to, " ") != "a@nomx.test b@two.test" && strings.Join(to, " ") != "b@two.test a@nomx.test" {
		t.Errorf("delivered to %q", to)
	}
	in := inbox(t, st, ann)
	if len(in) != 1 {
		t.Fatalf("sender got %d notifications, want 1", len(in))
	}
	if status := checkDSN(t, in[0], "failed"); !strings.Contains(status, "c@missing.test") || !strings.Contains(status, "Status: 5.1.2") {
		t.Errorf("unknown domain status:\n%s", status)
	}
}

func TestNullSenderNeverBounced(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.rcpt = func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, "", "bob@remote.test")
	enqueue(t, st, "", "x@nullmx.test")
	process(t, w)
	process(t, w)
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue holds %d messages (a bounce of a bounce?)", len(q))
	}
	if in := inbox(t, st, ann); len(in) != 0 {
		t.Errorf("%d notifications", len(in))
	}
}

func TestExpiryAndWarning(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.rcpt = func(string) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "greylisted"}
	}
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, ann, "bob@remote.test")
	process(t, w)
	if in := inbox(t, st, ann); len(in) != 0 {
		t.Fatalf("%d notifications after one try", len(in))
	}
	clk.Add(5 * time.Hour) // past WarnAfter
	process(t, w)
	clk.Add(time.Hour)
	process(t, w)
	in := inbox(t, st, ann)
	if len(in) != 1 {
		t.Fatalf("sender got %d notifications, want one warning", len(in))
	}
	status := checkDSN(t, in[0], "delayed")
	for _, want := range []string{"Status: 4.7.0", "Will-Retry-Until:", "greylisted"} {
		if !strings.Contains(status, want) {
			t.Errorf("delay status lacks %q:\n%s", want, status)
		}
	}

	clk.Add(5 * 24 * time.Hour) // past the lifetime
	process(t, w)
	process(t, w)
	in = inbox(t, st, ann)
	if len(in) != 2 {
		t.Fatalf("sender got %d notifications, want a warning and a bounce", len(in))
	}
	status = checkDSN(t, in[1], "failed")
	for _, want := range []string{"Final-Recipient: rfc822; bob@remote.test", "Status: 5.4.7", "greylisted"} {
		if !strings.Contains(status, want) {
			t.Errorf("expiry status lacks %q:\n%s", want, status)
		}
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
}

func TestBounceToRemoteSenderIsQueued(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	w := testWorker(t, st, snk, clk, nil)
	enqueue(t, st, "someone@elsewhere.test", "x@nullmx.test")
	process(t, w) // bounces, then delivers the bounce to elsewhere.test's MX
	got := snk.got()
	if len(got) != 1 || got[0].from != "" || strings.Join(got[0].to, ",") != "someone@elsewhere.test" {
		t.Fatalf("sink got %+v, want the bounce from <>", got)
	}
	checkDSN(t, got[0].data, "failed")
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
}

func TestSmarthost(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	snk.user, snk.pass = "relay", "s3cret"
	roots := x509.NewCertPool()
	cert := &tls.Certificate{}
	if len(snk.tls.Certificates) > 0 {
		cert = &snk.tls.Certificates[0]
	} else {
		c, err := snk.tls.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		cert = c
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	w := testWorker(t, st, snk, clk, func(o *Options) {
		o.Resolver = nil
		o.Port = 0
		o.Smarthost = "127.0.0.1:" + itoa(snk.port)
		o.SmarthostUser, o.SmarthostPassword = "relay", "s3cret"
		o.SmarthostRootCAs = roots
	})
	enqueue(t, st, ann, "bob@anywhere.example", "carl@nullmx.test")
	process(t, w)
	got := snk.got()
	if len(got) != 2 {
		t.Fatalf("smarthost got %d messages, want 2 (one per domain)", len(got))
	}
	for _, m := range got {
		if m.user != "relay" || !m.tls {
			t.Errorf("message to %q: user %q, tls %v", m.to, m.user, m.tls)
		}
	}

	// A wrong password is a temporary failure: the message stays queued.
	w2 := testWorker(t, st, snk, clk, func(o *Options) {
		o.Resolver = nil
		o.Smarthost = "127.0.0.1:" + itoa(snk.port)
		o.SmarthostUser, o.SmarthostPassword = "relay", "wrong"
		o.SmarthostRootCAs = roots
	})
	enqueue(t, st, ann, "dan@anywhere.example")
	process(t, w2)
	if q := queued(t, st); len(q) != 1 || q[0].Recipients[0].Status != "queued" {
		t.Errorf("queue after a failed AUTH: %+v", q)
	}
	// Without the right root the certificate is not trusted.
	w3 := testWorker(t, st, snk, clk, func(o *Options) {
		o.Resolver = nil
		o.Smarthost = "127.0.0.1:" + itoa(snk.port)
		o.SmarthostUser, o.SmarthostPassword = "relay", "s3cret"
	})
	clk.Add(time.Hour)
	process(t, w3)
	if n := len(snk.got()); n != 2 {
		t.Errorf("delivered to an unverified smarthost: %d messages", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestKilledMidDelivery: a worker stopped after RCPT, before the end of
// DATA, delivered nothing; the message is claimed again once the lease
// has run out, and delivered once.
func TestKilledMidDelivery(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	snk.rcpt = func(string) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(reached)
			<-release
		}
		return nil
	}
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	w := testWorker(t, st, snk, clk, func(o *Options) { o.Lease = 10 * time.Minute })
	enqueue(t, st, ann, "bob@remote.test")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ProcessDue(ctx) }()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never reached RCPT")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
	}
	close(release)

	w2 := testWorker(t, st, snk, clk, nil) // another worker, as after a restart
	process(t, w2)
	if n := snk.tried(); n != 0 {
		t.Fatalf("claimed again during the lease: %d DATA", n)
	}
	if q := queued(t, st); len(q) != 1 || q[0].Recipients[0].Status != "delivering" {
		t.Fatalf("queue during the lease: %+v", q)
	}
	clk.Add(11 * time.Minute)
	process(t, w2)
	process(t, w2)
	if n := len(snk.got()); n != 1 {
		t.Fatalf("delivered %d times after recovery, want 1", n)
	}
	if q := queued(t, st); len(q) != 0 {
		t.Errorf("queue still holds %d messages", len(q))
	}
}

func TestPerDomainLimit(t *testing.T) {
	t.Parallel()
	for _, per := range []int{1, 2} {
		st, snk, clk := testStore(t), newSink(t), newClock()
		var active, peak atomic.Int32
		snk.rcpt = func(string) error {
			n := active.Add(1)
			defer active.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
			return nil
		}
		w := testWorker(t, st, snk, clk, func(o *Options) { o.PerDomain = per; o.Workers = 4 })
		for range 5 {
			enqueue(t, st, ann, "bob@remote.test")
		}
		process(t, w)
		if n := len(snk.got()); n != 5 {
			t.Errorf("per %d: delivered %d, want 5", per, n)
		}
		if p := peak.Load(); int(p) > per || (per == 2 && p < 2) {
			t.Errorf("per-domain limit %d: peak %d concurrent deliveries", per, p)
		}
	}
}

func TestRunAndKick(t *testing.T) {
	t.Parallel()
	st, snk, clk := testStore(t), newSink(t), newClock()
	// Run would poll only after an hour: a delivery within the test's
	// time can only come from the Kick, however loaded the machine.
	w := testWorker(t, st, snk, clk, func(o *Options) { o.PollInterval = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(100 * time.Millisecond) // Run is most likely idle now
	enqueue(t, st, ann, "bob@remote.test")
	start := time.Now()
	w.Kick()
	for len(snk.got()) == 0 && time.Since(start) < 30*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if len(snk.got()) != 1 {
		t.Errorf("not delivered within 30 s of Kick (poll interval an hour)")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 5: 16 * time.Minute, 9: 4 * time.Hour, 100: 4 * time.Hour} {
		for range 20 {
			got := DefaultBackoff(attempt)
			if got < want*9/10 || got > want*11/10 {
				t.Errorf("DefaultBackoff(%d) = %v, want %v ±10%%", attempt, got, want)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	st := testStore(t)
	for _, o := range []Options{
		{Queue: st.queue, Hostname: "h", Resolver: testDNS(t)},
		{Store: st, Hostname: "h", Resolver: testDNS(t)},
		{Queue: st.queue, Store: st, Resolver: testDNS(t)},
		{Queue: st.queue, Store: st, Hostname: "h"},
		{Queue: st.queue, Store: st, Hostname: "h", Smarthost: "x:1", SmarthostTLS: "ssl"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
