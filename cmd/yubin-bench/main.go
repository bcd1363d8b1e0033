// Command yubin-bench measures a real `yubin serve` process from the
// outside, over the network, with standard protocol clients:
//
//   - intake: SMTP intake end to end (accepted over SMTP and visible over
//     IMAP) at several numbers of concurrent sessions and message sizes;
//   - chain: intake at 20 sessions × 4 KB through the whole filter chain
//     (SPF, DKIM and DMARC answered by a DNS server in this process, clamd
//     if installed, the spam filter), next to the spine without filters;
//   - imap: FETCH 1:* BODY.PEEK[] and UID FETCH of a large mailbox;
//   - pop3: RETR of every message of the same maildrop in one session;
//   - memory: resident memory idle and per idle IMAP connection;
//   - api: the REST API, creating users (POST /api/v1/users) and paging
//     through them (GET /api/v1/users) with many concurrent clients;
//   - send: sending, from submission (STARTTLS, AUTH) to delivery at a
//     remote MX (an SMTP sink in this process, found through a DNS server
//     in this process).
//
// It builds ./cmd/yubin (or takes --yubin), starts it on 127.0.0.1 with
// free ports and a fresh data folder, creates a domain and users with the
// admin CLI, runs the scenarios, prints a Markdown report and stops the
// server with SIGTERM. Everything is plain TCP on loopback; the load
// generator shares the machine with the server.
//
// Usage:
//
//	go run ./cmd/yubin-bench [--scenarios intake,chain,imap,pop3,memory,api,send] [--quick] [--out FILE]
//
// See docs/benchmarks.md for results and the command that produced them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	domain      = "bench.example"
	intakeUser  = "intake@" + domain
	mailboxUser = "mailbox@" + domain
	password    = "bench-password-1234"
)

// options are the command line settings.
type options struct {
	yubin         string
	data          string
	scenarios     []string
	quick         bool
	out           string
	duration      time.Duration
	sessions      []int
	sizes         []int
	messages      int
	mailboxSize   int
	fillSessions  int
	reps          int
	conns         int
	settle        time.Duration
	pop3Window    int
	apiUsers      int
	apiClients    int
	apiDuration   time.Duration
	sendMessages  int
	sendClients   int
	chainRounds   int
	chainExtra    []string
	keep          bool
	commandLine   string
	progress      io.Writer
	sessionsGiven bool
}

var allScenarios = []string{"intake", "chain", "imap", "pop3", "memory", "api", "send"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("yubin-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{progress: stderr}
	var scen, sessions, sizes, extra string
	fs.StringVar(&o.yubin, "yubin", "", "yubin binary to measure (default: go build ./cmd/yubin into a temporary folder)")
	fs.StringVar(&o.data, "data", "", "data folder for the server (default: a fresh temporary folder, removed afterwards)")
	fs.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: intake, chain, imap, pop3, memory, api, send")
	fs.BoolVar(&o.quick, "quick", false, "short smoke run with small numbers (numbers are not meaningful)")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "intake: how long each sessions × size cell sends")
	fs.StringVar(&sessions, "sessions", "1,20,50", "intake: numbers of concurrent SMTP sessions")
	fs.StringVar(&sizes, "sizes", "4K,100K", "intake: message sizes (K = 1024 bytes)")
	fs.IntVar(&o.messages, "messages", 10000, "imap, pop3, memory: messages in the mailbox")
	fs.IntVar(&o.mailboxSize, "mailbox-msg-size", 4500, "imap, pop3: size of the mailbox's messages as sent (the server adds a Received field, about 4.7 KB stored)")
	fs.IntVar(&o.fillSessions, "fill-sessions", 20, "concurrent SMTP sessions that fill the mailbox")
	fs.IntVar(&o.reps, "reps", 5, "imap, pop3: repetitions; the median is reported")
	fs.IntVar(&o.conns, "conns", 1000, "memory: idle IMAP connections")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "memory: wait before each RSS reading")
	fs.IntVar(&o.pop3Window, "pop3-window", 32, "pop3: RETR commands in flight when the server offers PIPELINING")
	fs.IntVar(&o.apiUsers, "api-users", 10000, "api: users to create over POST /api/v1/users")
	fs.IntVar(&o.apiClients, "api-clients", 50, "api: concurrent HTTP clients")
	fs.DurationVar(&o.apiDuration, "api-duration", 10*time.Second, "api: how long GET /api/v1/users pages through the users")
	fs.IntVar(&o.sendMessages, "send-messages", 2000, "send: messages submitted in all")
	fs.IntVar(&o.chainRounds, "chain-rounds", 3, "chain: rounds of spine and whole chain, measured in turn; the medians are compared")
	fs.StringVar(&extra, "chain-extra", "no-clamd,clamd-message", "chain: other configurations measured in the same rounds: no-clamd, clamd-message, clamd-parts (comma-separated; empty for none)")
	fs.IntVar(&o.sendClients, "send-clients", 20, "send: concurrent submission sessions, one user each")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (data and server log)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range strings.Split(scen, ",") {
		s = strings.TrimSpace(strings.ToLower(s))
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
		if !slices.Contains(o.scenarios, s) {
			o.scenarios = append(o.scenarios, s)
		}
	}
	if len(o.scenarios) == 0 {
		return nil, errors.New("--scenarios: none given")
	}
	var err error
	if o.sessions, err = parseInts(sessions, 1); err != nil {
		return nil, fmt.Errorf("--sessions: %w", err)
	}
	if o.sizes, err = parseSizes(sizes); err != nil {
		return nil, fmt.Errorf("--sizes: %w", err)
	}
	if o.quick {
		// Small everywhere, unless given explicitly.
		set := func(name string, f func()) {
			if !given[name] {
				f()
			}
		}
		set("duration", func() { o.duration = 500 * time.Millisecond })
		set("sessions", func() { o.sessions = []int{1, 5} })
		set("messages", func() { o.messages = 300 })
		set("fill-sessions", func() { o.fillSessions = 5 })
		set("reps", func() { o.reps = 1 })
		set("conns", func() { o.conns = 50 })
		set("settle", func() { o.settle = 200 * time.Millisecond })
		set("api-users", func() { o.apiUsers = 200 })
		set("api-duration", func() { o.apiDuration = time.Second })
		set("send-messages", func() { o.sendMessages = 100 })
		set("chain-rounds", func() { o.chainRounds = 1 })
	}
	if o.messages < 1 || o.reps < 1 || o.conns < 2 || o.fillSessions < 1 || o.pop3Window < 1 || o.mailboxSize < 512 {
		return nil, errors.New("--messages, --reps, --fill-sessions, --pop3-window must be at least 1, --conns at least 2, --mailbox-msg-size at least 512")
	}
	for _, x := range strings.Split(extra, ",") {
		if x = strings.TrimSpace(x); x == "" {
			continue
		}
		if _, ok := chainExtras[x]; !ok {
			return nil, fmt.Errorf("--chain-extra: unknown configuration %q", x)
		}
		o.chainExtra = append(o.chainExtra, x)
	}
	if o.chainRounds < 1 {
		return nil, errors.New("--chain-rounds must be at least 1")
	}
	if o.apiUsers < 1 || o.apiClients < 1 || o.apiDuration <= 0 {
		return nil, errors.New("--api-users, --api-clients must be at least 1, --api-duration positive")
	}
	if o.sendClients < 1 || o.sendMessages < 1 || o.sendMessages > sendPerUserHour*o.sendClients {
		return nil, fmt.Errorf("--send-clients and --send-messages must be at least 1, and --send-messages at most %d per client (the submission rate limit per user and hour)", sendPerUserHour)
	}
	o.commandLine = "go run ./cmd/yubin-bench"
	if len(args) > 0 {
		o.commandLine += " " + strings.Join(args, " ")
	}
	return o, nil
}

func parseInts(s string, minimum int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < minimum {
			return nil, fmt.Errorf("%q: want whole numbers of at least %d, separated by commas", s, minimum)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		mult := 1
		if t, ok := strings.CutSuffix(f, "K"); ok {
			f, mult = t, 1024
		}
		n, err := strconv.Atoi(f)
		if err != nil || n*mult < 512 {
			return nil, fmt.Errorf("%q: want sizes such as 4K,100K (at least 512 bytes)", s)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func (o *options) has(s string) bool { return slices.Contains(o.scenarios, s) }

func (o *options) logf(format string, args ...any) {
	if o.progress != nil {
		fmt.Fprintf(o.progress, "yubin-bench: "+format+"\n", args...)
	}
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "yubin-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		md := rep.markdown()
		fmt.Print(md)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(md), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "yubin-bench:", werr)
				os.Exit(1)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "yubin-bench:", err)
		os.Exit(1)
	}
	if rep != nil && rep.failed() {
		fmt.Fprintln(os.Stderr, "yubin-bench: some measurements failed; see the report")
		os.Exit(1)
	}
}

// run performs the benchmark. It returns a report with whatever could be
// measured; err is for failures that stop everything (no server).
func run(ctx context.Context, o *options) (rep *report, err error) {
	rep = newReport(o)
	if n, err := raiseNoFile(); err != nil {
		o.logf("cannot raise the open-file limit: %v", err)
	} else if o.has("memory") && n < uint64(o.conns)+200 {
		o.logf("open-file limit %d is low for %d connections", n, o.conns)
	}
	tmp, err := os.MkdirTemp("", "yubin-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		o.logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := o.yubin
	if bin == "" {
		o.logf("building ./cmd/yubin")
		if bin, err = buildYubin(ctx, tmp); err != nil {
			return nil, err
		}
	}
	data := o.data
	fresh := true
	if data == "" {
		data = filepath.Join(tmp, "data")
	} else if _, err := os.Stat(filepath.Join(data, "yubin.db")); err == nil {
		fresh = false
	}
	for _, args := range [][]string{
		{"domain", "add", domain},
		{"user", "add", intakeUser, "--password", password},
		{"user", "add", mailboxUser, "--password", password},
	} {
		if err := admin(ctx, bin, data, args...); err != nil {
			if fresh {
				return nil, err
			}
			o.logf("reusing %s: %v", data, firstLine(err.Error()))
		}
	}

	mailProtocols := []string{"smtp", "imap", "pop3"}
	logN := 0
	startOn := func(data string, protocols []string, env ...string) (*server, error) {
		logN++
		path := filepath.Join(tmp, fmt.Sprintf("server-%d.log", logN))
		s, err := startServer(ctx, bin, data, path, protocols, env...)
		if err != nil {
			return nil, err
		}
		o.logf("yubin serve pid %d: smtp %s, imap %s, pop3 %s, http %q (log %s)", s.pid, s.Addr("smtp"), s.Addr("imap"), s.Addr("pop3"), s.Addr("http"), path)
		return s, nil
	}
	startWith := func(protocols []string, env ...string) (*server, error) { return startOn(data, protocols, env...) }
	start := func() (*server, error) { return startWith(mailProtocols) }
	srv, err := start()
	if err != nil {
		return rep, err
	}
	stopSrv := func(s *server) {
		if err := s.Stop(); err != nil {
			rep.problem("stopping the server: %v", err)
		}
		rep.serverProblems = append(rep.serverProblems, s.Problems()...)
	}
	defer func() {
		if srv != nil {
			stopSrv(srv)
		}
		rep.loadAfter = loadAvg()
	}()

	rep.imapServed = waitGreeting(srv.Addr("imap"), 3*time.Second)
	rep.pop3Served = waitGreeting(srv.Addr("pop3"), 3*time.Second)
	if !rep.imapServed {
		rep.problem("IMAP is not served by this build (the listener accepts but sends no greeting): end-to-end checks, FETCH and memory per connection are not measured")
	}
	if !rep.pop3Served {
		rep.problem("POP3 is not served by this build: RETR is not measured")
	}

	if o.has("memory") {
		time.Sleep(o.settle)
		if kib, err := procRSS(srv.pid); err == nil {
			rep.mem.startKiB = kib
		}
	}
	if o.has("intake") {
		runIntake(ctx, o, rep, srv)
	}
	if o.has("chain") && ctx.Err() == nil {
		// Two servers of its own (the spine and the whole chain); the
		// plain server is stopped meanwhile.
		stopSrv(srv)
		srv = nil
		runChain(ctx, o, rep, tmp, func(name string, env ...string) (*server, error) {
			d := filepath.Join(tmp, "data-"+name)
			for _, args := range [][]string{{"domain", "add", domain}, {"user", "add", intakeUser, "--password", password}} {
				if err := admin(ctx, bin, d, args...); err != nil {
					return nil, err
				}
			}
			return startOn(d, mailProtocols, env...)
		}, stopSrv)
		if srv, err = start(); err != nil {
			return rep, err
		}
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	needMailbox := o.has("imap") && rep.imapServed || o.has("pop3") && rep.pop3Served || o.has("memory") && rep.imapServed
	if needMailbox {
		if err := fillMailbox(o, rep, srv); err != nil {
			rep.problem("filling the mailbox: %v", err)
			needMailbox = false
		}
	}
	if needMailbox && o.has("imap") && rep.imapServed {
		runFetch(ctx, o, rep, srv)
	}
	if needMailbox && o.has("pop3") && rep.pop3Served {
		runPOP3(ctx, o, rep, srv)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if needMailbox && o.has("memory") && rep.imapServed {
		// A fresh process: after the other scenarios the Go heap has free
		// space that new connections would reuse without growing the RSS.
		o.logf("restarting the server for the memory measurement")
		stopSrv(srv)
		srv = nil
		if srv, err = start(); err != nil {
			return rep, err
		}
		runMemory(o, rep, srv)
	}
	if o.has("api") && ctx.Err() == nil {
		// A server of its own, with the HTTP listener (which the mail
		// scenarios' servers do without, so as not to count it in their
		// memory) and the API admin.
		o.logf("restarting the server with the HTTP API")
		stopSrv(srv)
		srv = nil
		if srv, err = startWith(append(slices.Clone(mailProtocols), "http")); err != nil {
			return rep, err
		}
		runAPI(ctx, o, rep, srv)
	}
	if o.has("send") && ctx.Err() == nil {
		// A server of its own with the submission and HTTP listeners,
		// sending to this process's DNS server and MX.
		mx, err := startSendMX()
		if err != nil {
			rep.send.ran, rep.send.err = true, err.Error()
			return rep, nil
		}
		defer mx.close()
		o.logf("restarting the server with submission, YUBIN_DNS and YUBIN_OUTBOUND_PORT")
		stopSrv(srv)
		srv = nil
		if srv, err = startWith(append(slices.Clone(mailProtocols), "http", "submission"), mx.env()...); err != nil {
			return rep, err
		}
		o.logf("send: %d sessions submit %d messages to remote recipients", o.sendClients, o.sendMessages)
		runSend(ctx, o, rep, srv, mx, data)
		o.logf("  %s", rep.send.summary())
	}
	return rep, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// loadAvg returns /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func runIntake(ctx context.Context, o *options, rep *report, srv *server) {
	for _, size := range o.sizes {
		t := newTemplate(size, intakeUser, size > 16<<10, uint64(size))
		for _, n := range o.sessions {
			if ctx.Err() != nil {
				return
			}
			o.logf("intake: %d sessions × %s for %s", n, fmtSize(size), o.duration)
			row := measureIntake(o, rep, srv, t, n, size)
			rep.intake = append(rep.intake, row)
			o.logf("  %s", row.summary())
		}
	}
}

// measureIntake sends messages made from t to intakeUser over n sessions
// for o.duration, then checks over IMAP that they all arrived.
func measureIntake(o *options, rep *report, srv *server, t *template, n, size int) intakeRow {
	row := intakeRow{sessions: n, size: size, msgSize: t.size}
	var before uint32
	if rep.imapServed {
		var err error
		if before, err = inboxCount(srv.Addr("imap"), intakeUser, password); err != nil {
			row.err = fmt.Sprintf("IMAP before: %v", err)
			return row
		}
	}
	r, err := sendMany(srv.Addr("smtp"), intakeUser, t, n, o.duration, 0, srv.pid)
	row.run = r
	if err != nil {
		row.err = err.Error()
	}
	if rep.imapServed && r.Accepted > 0 {
		want := before + uint32(r.Accepted)
		got, lag, err := waitInboxCount(srv.Addr("imap"), intakeUser, password, want, 10*time.Second)
		row.checked = err == nil
		row.inbox = int64(got) - int64(before)
		row.visibleLag = lag
		if err != nil {
			row.err = strings.TrimSpace(row.err + " IMAP after: " + err.Error())
		}
	}
	return row
}

// fillMailbox brings mailboxUser's INBOX to o.messages messages.
func fillMailbox(o *options, rep *report, srv *server) error {
	have := uint32(0)
	if rep.imapServed {
		var err error
		if have, err = inboxCount(srv.Addr("imap"), mailboxUser, password); err != nil {
			return err
		}
	}
	if int(have) > o.messages {
		return fmt.Errorf("%s already holds %d messages, more than --messages %d", mailboxUser, have, o.messages)
	}
	need := int64(o.messages) - int64(have)
	t := newTemplate(o.mailboxSize, mailboxUser, false, 4700)
	rep.fill.messages = o.messages
	rep.fill.msgSize = t.size
	if need > 0 {
		o.logf("filling %s with %d messages of %d bytes over %d sessions", mailboxUser, need, t.size, o.fillSessions)
		r, err := sendMany(srv.Addr("smtp"), mailboxUser, t, o.fillSessions, 0, need, srv.pid)
		rep.fill.run = r
		if err != nil {
			return err
		}
		o.logf("  filled in %s (%.0f msgs/s)", r.Elapsed.Round(time.Millisecond), float64(r.Accepted)/r.Elapsed.Seconds())
	}
	if rep.imapServed {
		got, _, err := waitInboxCount(srv.Addr("imap"), mailboxUser, password, uint32(o.messages), 10*time.Second)
		if err != nil {
			return err
		}
		if int(got) != o.messages {
			return fmt.Errorf("INBOX holds %d messages, want %d", got, o.messages)
		}
	}
	return nil
}

func runFetch(ctx context.Context, o *options, rep *report, srv *server) {
	for _, uid := range []bool{false, true} {
		row := fetchRow{uid: uid}
		c, err := imapLogin(srv.Addr("imap"), mailboxUser, password)
		if err == nil {
			if _, serr := c.Select("INBOX", nil).Wait(); serr != nil {
				err = fmt.Errorf("SELECT INBOX: %w", serr)
			}
		}
		for i := 0; err == nil && i < o.reps && ctx.Err() == nil; i++ {
			var r fetchRun
			r, err = fetchAll(c, uid, srv.pid)
			if err == nil && r.Messages != o.messages {
				err = fmt.Errorf("FETCH returned %d messages, want %d", r.Messages, o.messages)
			}
			if err == nil {
				row.runs = append(row.runs, r)
				o.logf("  %s: %d messages, %.1f MB in %s: %.1f MB/s", row.command(), r.Messages, mb(r.Bytes), r.Elapsed.Round(time.Millisecond), mb(r.Bytes)/r.Elapsed.Seconds())
			}
		}
		if c != nil {
			_ = c.Logout().Wait()
			c.Close()
		}
		if err != nil {
			row.err = err.Error()
		}
		rep.fetch = append(rep.fetch, row)
	}
}

func runPOP3(ctx context.Context, o *options, rep *report, srv *server) {
	row := pop3Row{}
	defer func() { rep.pop3 = append(rep.pop3, row) }()
	for i := 0; i < o.reps && ctx.Err() == nil; i++ {
		c, err := pop3Dial(srv.Addr("pop3"))
		if err != nil {
			row.err = err.Error()
			return
		}
		if err := c.login(mailboxUser, password); err != nil {
			c.close()
			row.err = err.Error()
			return
		}
		n, size, err := c.stat()
		if err != nil {
			c.close()
			row.err = err.Error()
			return
		}
		if n != o.messages {
			c.close()
			row.err = fmt.Sprintf("STAT: %d messages, want %d", n, o.messages)
			return
		}
		window := 1
		if c.caps["PIPELINING"] {
			window = o.pop3Window
		}
		row.pipelining = c.caps["PIPELINING"]
		r, err := c.retrAll(n, window, srv.pid)
		if err != nil {
			c.close()
			row.err = err.Error()
			return
		}
		if r.Bytes != size {
			row.err = fmt.Sprintf("RETR returned %d octets in all, STAT said %d", r.Bytes, size)
		}
		if err := c.quit(); err != nil {
			row.err = strings.TrimSpace(row.err + " QUIT: " + err.Error())
		}
		row.runs = append(row.runs, r)
		o.logf("  POP3 RETR ×%d (window %d): %.1f MB in %s: %.1f MB/s", r.Messages, r.Window, mb(r.Bytes), r.Elapsed.Round(time.Millisecond), mb(r.Bytes)/r.Elapsed.Seconds())
	}
}

func runMemory(o *options, rep *report, srv *server) {
	time.Sleep(o.settle)
	if kib, err := procRSS(srv.pid); err == nil {
		rep.mem.restartKiB = kib
	}
	o.logf("memory: opening %d idle IMAP connections", o.conns)
	r, err := idleConns(srv.Addr("imap"), mailboxUser, password, o.conns, o.settle, srv.pid)
	rep.mem.run = r
	rep.mem.measured = err == nil
	if err != nil {
		rep.mem.err = err.Error()
		return
	}
	o.logf("  RSS %d KiB → %d KiB (%d conns): %.1f KiB per connection", r.IdleKiB, r.FullKiB, r.Conns, float64(r.FullKiB-r.IdleKiB)/float64(r.Conns))
}

func mb(b int64) float64 { return float64(b) / 1e6 }

func fmtSize(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}
