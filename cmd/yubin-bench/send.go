package main

// The send scenario: users submit mail on the submission port (STARTTLS,
// AUTH PLAIN) to remote recipients; the server signs it, queues it and
// its outbound worker delivers it to the recipients' MX, found through DNS.
// The DNS server (go-mockdns) and the MX (a go-smtp sink) run in this
// process on loopback: the server is started with YUBIN_DNS pointing at
// the one and YUBIN_OUTBOUND_PORT at the other.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"
)

const (
	// sendDomains is how many remote domains the recipients are spread
	// over (the outbound worker limits deliveries per domain); every one
	// has the sink as its MX.
	sendDomains = 8
	// sendSize is the size of the messages as submitted.
	sendSize = 4096
	// sendPerUserHour is the submission server's default sending rate per
	// user and hour (mta.DefaultRatePerHour).
	sendPerUserHour = 500
	// benchHostname is YUBIN_HOSTNAME of the measured server.
	benchHostname = "bench.yubin.test"
)

// sendUser is the address submitter i (from 0) logs in as.
func sendUser(i int) string { return fmt.Sprintf("send%02d@%s", i+1, domain) }

// sendRemote is the recipient of message i.
func sendRemote(i int) string {
	return fmt.Sprintf("rcpt%d@remote%d.example", i, i%sendDomains)
}

// sendResult is the send scenario's outcome.
type sendResult struct {
	ran        bool
	accepted   int64 // 250 at the end of DATA on the submission port
	delivered  int64 // distinct messages the sink received
	duplicates int64 // messages the sink received more than once
	// connections counts the SMTP connections the sink accepted.
	connections int64
	errors      int64 // failed submissions
	firstErr    string
	// elapsed runs from the first submission (MAIL FROM) to the last
	// delivery at the sink; submitted until the last 250 on the
	// submission port.
	elapsed, submitted time.Duration
	p50, p99           time.Duration // submission (MAIL FROM) → delivered at the sink
	serverCPU          time.Duration
	clientCPU          time.Duration
	err                string
}

func (r sendResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.delivered) / r.elapsed.Seconds()
}

func (r sendResult) summary() string {
	s := fmt.Sprintf("%d submitted, %d delivered in %s over %d SMTP connections: %.0f msgs/s, submission→delivery p50 %s, p99 %s, server CPU %.2f ms/msg",
		r.accepted, r.delivered, r.elapsed.Round(time.Millisecond), r.connections, r.rate(), fmtLatency(r.p50), fmtLatency(r.p99), r.cpuPerMsg())
	if r.errors > 0 || r.duplicates > 0 {
		s += fmt.Sprintf("; %d ERRORS, %d duplicates, the first error: %s", r.errors, r.duplicates, r.firstErr)
	}
	return s
}

func (r sendResult) cpuPerMsg() float64 {
	if r.delivered == 0 {
		return 0
	}
	return float64(r.serverCPU) / float64(time.Millisecond) / float64(r.delivered)
}

// sendMX is the remote side of the send scenario: a DNS server that sends
// remote0.example... to mx.remote.example (127.0.0.1), and the SMTP sink
// listening there.
type sendMX struct {
	dns  *mockdns.Server
	srv  *smtp.Server
	port int

	mu        sync.Mutex
	delivered map[string]time.Time // Message-ID → first delivery
	dups      int64
	conns     int64 // SMTP sessions (connections) accepted
	want      int
	all       chan struct{} // closed when want messages were delivered
}

func startSendMX() (*sendMX, error) {
	zones := map[string]mockdns.Zone{"mx.remote.example.": {A: []string{"127.0.0.1"}}}
	for i := range sendDomains {
		zones[fmt.Sprintf("remote%d.example.", i)] = mockdns.Zone{MX: []net.MX{{Host: "mx.remote.example.", Pref: 10}}}
	}
	d, err := mockdns.NewServerWithLogger(zones, log.New(io.Discard, "", 0), false)
	if err != nil {
		return nil, fmt.Errorf("mock DNS server: %w", err)
	}
	mx := &sendMX{dns: d, delivered: map[string]time.Time{}, all: make(chan struct{})}
	mx.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		mx.mu.Lock()
		mx.conns++
		mx.mu.Unlock()
		return &sinkSession{mx: mx}, nil
	}))
	mx.srv.Domain = "mx.remote.example"
	mx.srv.ReadTimeout, mx.srv.WriteTimeout = time.Minute, time.Minute
	mx.srv.MaxMessageBytes = 10 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return nil, err
	}
	mx.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = mx.srv.Serve(ln) }()
	return mx, nil
}

// env is what the server needs to deliver to the sink.
func (mx *sendMX) env() []string {
	return []string{"YUBIN_DNS=" + mx.dns.LocalAddr().String(), "YUBIN_OUTBOUND_PORT=" + strconv.Itoa(mx.port)}
}

func (mx *sendMX) close() {
	mx.srv.Close()
	mx.dns.Close()
}

// expect resets the sink's record for a run of n messages.
func (mx *sendMX) expect(n int) {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	mx.delivered, mx.dups, mx.conns, mx.want, mx.all = map[string]time.Time{}, 0, 0, n, make(chan struct{})
}

func (mx *sendMX) got(id string, at time.Time) {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	if _, dup := mx.delivered[id]; dup {
		mx.dups++
		return
	}
	mx.delivered[id] = at
	if len(mx.delivered) == mx.want {
		close(mx.all)
	}
}

// sinkSession accepts every message, noting when each Message-ID arrived.
type sinkSession struct {
	mx   *sendMX
	rcpt int
}

func (s *sinkSession) Reset()                                    { s.rcpt = 0 }
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.rcpt++; return nil }

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	at := time.Now()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message"}
	}
	s.mx.got(m.Header.Get("Message-Id"), at)
	return nil
}

// sendMessage renders message i from user to rcpt with Message-ID id and
// a text body of about sendSize bytes in all.
func sendMessage(dst []byte, user, rcpt, id string, body []byte) []byte {
	dst = fmt.Appendf(dst, "From: \"Bench Sender\" <%s>\r\nTo: <%s>\r\nSubject: Quarterly figures\r\nMessage-ID: %s\r\nDate: ", user, rcpt, id)
	dst = time.Now().AppendFormat(dst, dateLayout)
	dst = append(dst, "\r\nMIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"...)
	return append(dst, body...)
}

// submitter is one logged-in session on the submission port.
type submitter struct {
	c    *smtp.Client
	user string
	used bool
}

func dialSubmission(addr string, conf *tls.Config, user string) (*submitter, error) {
	c, err := smtp.DialStartTLS(addr, conf)
	if err != nil {
		return nil, fmt.Errorf("STARTTLS: %w", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		c.Close()
		return nil, fmt.Errorf("AUTH as %s: %w", user, err)
	}
	return &submitter{c: c, user: user}, nil
}

func (s *submitter) send(rcpt string, msg []byte) error {
	if s.used {
		if err := s.c.Reset(); err != nil {
			return fmt.Errorf("RSET: %w", err)
		}
	}
	s.used = true
	if err := s.c.Mail(s.user, nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := s.c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := s.c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

func (s *submitter) close() {
	_ = s.c.Quit()
	s.c.Close()
}

// serverTLS trusts the self-signed certificate the server made in its
// data folder.
func serverTLS(data string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(filepath.Join(data, "tls", "selfsigned-cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("the server's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("the server's certificate is not PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: benchHostname}, nil
}

// sendUsers makes the submitters' accounts over the API (they may exist
// already in a reused data folder).
func sendUsers(ctx context.Context, c *apiClient, n int) error {
	for i := range n {
		status, body, err := c.do(ctx, http.MethodPost, "/api/v1/users", map[string]any{"address": sendUser(i), "password": password})
		if err != nil {
			return err
		}
		if status != http.StatusCreated && status != http.StatusConflict {
			return fmt.Errorf("POST /api/v1/users %s: %d %s", sendUser(i), status, firstLine(string(body)))
		}
	}
	return nil
}

// runSend measures sending: o.sendClients sessions on the submission port,
// one user each, submit o.sendMessages messages in all, as fast as they
// are accepted; the clock runs until the sink has every one of them.
func runSend(ctx context.Context, o *options, rep *report, srv *server, mx *sendMX, data string) {
	res := &rep.send
	res.ran = true
	addr := srv.Addr("submission")
	if addr == "" || srv.Addr("http") == "" {
		res.err = "the server has no submission or HTTP listener"
		return
	}
	conf, err := serverTLS(data)
	if err != nil {
		res.err = err.Error()
		return
	}
	c := newAPIClient(srv.Addr("http"), 4)
	defer c.close()
	if err := c.login(ctx); err != nil {
		res.err = err.Error()
		return
	}
	if err := sendUsers(ctx, c, o.sendClients); err != nil {
		res.err = err.Error()
		return
	}
	sessions := make([]*submitter, o.sendClients)
	for i := range sessions {
		s, err := dialSubmission(addr, conf, sendUser(i))
		if err != nil {
			for _, s := range sessions[:i] {
				s.close()
			}
			res.err = fmt.Sprintf("open submission session %d: %v", i+1, err)
			return
		}
		sessions[i] = s
	}
	var body bytes.Buffer
	writeText(&body, rand.New(rand.NewPCG(7, 11)), sendSize-330)
	stamp := time.Now().Format("150405.000")
	msgID := func(i int) string { return fmt.Sprintf("<send.%s.%d@%s>", stamp, i, domain) }

	mx.expect(o.sendMessages)
	starts := make([]time.Time, o.sendMessages)
	accepted := make([]bool, o.sendMessages)
	var (
		seq, errs atomic.Int64
		errOnce   sync.Once
		wg        sync.WaitGroup
		lastAck   atomic.Int64 // unix nanoseconds of the last 250
	)
	cpu0, _ := procCPU(srv.pid)
	self0 := selfCPU()
	first := time.Now()
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			failures := 0
			for ctx.Err() == nil {
				i := int(seq.Add(1)) - 1
				if i >= o.sendMessages {
					return
				}
				rcpt := sendRemote(i)
				buf = sendMessage(buf[:0], s.user, rcpt, msgID(i), body.Bytes())
				starts[i] = time.Now()
				err := s.send(rcpt, buf)
				if err == nil {
					accepted[i] = true
					lastAck.Store(time.Now().UnixNano())
					continue
				}
				errs.Add(1)
				errOnce.Do(func() { res.firstErr = err.Error() })
				if failures++; failures > 20 {
					return
				}
				s.c.Close()
				ns, derr := dialSubmission(addr, conf, s.user)
				if derr != nil {
					errOnce.Do(func() { res.firstErr = derr.Error() })
					return
				}
				*s = *ns
			}
		}()
	}
	wg.Wait()
	for _, s := range sessions {
		s.close()
	}
	for _, ok := range accepted {
		if ok {
			res.accepted++
		}
	}
	res.errors = errs.Load()
	if lastAck.Load() > 0 {
		res.submitted = time.Unix(0, lastAck.Load()).Sub(first)
	}
	mx.mu.Lock()
	if int(res.accepted) != mx.want {
		mx.want = int(res.accepted) // wait for those only
		if len(mx.delivered) >= mx.want {
			select {
			case <-mx.all:
			default:
				close(mx.all)
			}
		}
	}
	all := mx.all
	mx.mu.Unlock()
	// A bound for a stuck queue, not a measurement: generous, since a
	// machine shared with other builds can be ten times slower.
	wait := 3*time.Minute + time.Duration(o.sendMessages)*100*time.Millisecond
	select {
	case <-all:
	case <-time.After(wait):
	case <-ctx.Done():
	}
	if cpu1, err := procCPU(srv.pid); err == nil {
		res.serverCPU = cpu1 - cpu0
	}
	res.clientCPU = selfCPU() - self0

	mx.mu.Lock()
	var lat []time.Duration
	var last time.Time
	for i := range o.sendMessages {
		at, ok := mx.delivered[msgID(i)]
		if !ok {
			continue
		}
		res.delivered++
		lat = append(lat, at.Sub(starts[i]))
		if at.After(last) {
			last = at
		}
	}
	res.duplicates = mx.dups
	res.connections = mx.conns
	mx.mu.Unlock()
	res.elapsed = last.Sub(first)
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)

	var problems []string
	if res.errors > 0 {
		problems = append(problems, fmt.Sprintf("%d failed submissions, the first: %s", res.errors, res.firstErr))
	}
	if res.accepted != int64(o.sendMessages) && ctx.Err() == nil {
		problems = append(problems, fmt.Sprintf("%d of %d messages submitted", res.accepted, o.sendMessages))
	}
	if res.delivered != res.accepted {
		problems = append(problems, fmt.Sprintf("%d of %d submitted messages delivered within %s", res.delivered, res.accepted, wait))
	}
	if res.duplicates > 0 {
		problems = append(problems, fmt.Sprintf("%d messages delivered more than once", res.duplicates))
	}
	res.err = strings.Join(problems, "; ")
}

// sendMarkdown writes the sending section.
func (r *report) sendMarkdown(p func(format string, args ...any)) {
	s := r.send
	p("### Sending: submission to a remote MX\n\n")
	p("%d concurrent sessions on the submission port (STARTTLS, AUTH PLAIN, one user each) submit %d messages of %s in all ", r.o.sendClients, r.o.sendMessages, fmtSize(sendSize))
	p("(RSET, MAIL, RCPT, DATA, one remote recipient each, spread over %d remote domains) as fast as they are accepted. ", sendDomains)
	p("The server DKIM-signs each (RSA-2048 and Ed25519), queues it durably, and its outbound worker looks up the MX ")
	p("(a DNS server in the load generator, `YUBIN_DNS`) and delivers to an SMTP sink in the load generator (`YUBIN_OUTBOUND_PORT`), ")
	p("with the worker's default concurrency. The rate is delivered messages over the time from the first MAIL FROM to the last delivery at the sink; ")
	p("the latency of a message runs from its MAIL FROM on the submission port to the end of its DATA at the sink.\n\n")
	p("| sessions | submitted | delivered | msgs/s (submission → delivery) | submission alone | p50 | p99 | server CPU/msg | client CPU/msg | errors |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	if !s.ran || s.accepted == 0 && s.errors == 0 {
		why := s.err
		if why == "" {
			why = "not run"
		}
		p("| %d | — | — | — | — | — | — | — | — | **not measured: %s** |\n\n", r.o.sendClients, mdEscape(why))
		return
	}
	subRate := 0.0
	if s.submitted > 0 {
		subRate = float64(s.accepted) / s.submitted.Seconds()
	}
	clientCPU := 0.0
	if s.delivered > 0 {
		clientCPU = float64(s.clientCPU) / float64(time.Millisecond) / float64(s.delivered)
	}
	errs := fmt.Sprint(s.errors)
	if s.err != "" {
		errs += ": " + mdEscape(s.err)
	}
	p("| %d | %d | %d | **%.0f** | %.0f msgs/s | %s | **%s** | %.2f ms | %.2f ms | %s |\n\n",
		r.o.sendClients, s.accepted, s.delivered, s.rate(), subRate, fmtLatency(s.p50), fmtLatency(s.p99), s.cpuPerMsg(), clientCPU, errs)
	p("The sink accepted %d SMTP connections for the %d messages (the worker reuses a connection for the next message to the same host).\n\n", s.connections, s.delivered)
}
