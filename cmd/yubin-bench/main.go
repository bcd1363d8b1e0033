// Command yubin-bench measures a real `yubin serve` process from the
// outside, over the network, with standard protocol clients:
//
//   - intake: SMTP intake, accepted and end to end (readable over IMAP), at
//     several numbers of concurrent sessions and message sizes;
//   - imap: FETCH 1:* BODY.PEEK[] of a mailbox of small and one of large
//     messages;
//   - pop3: RETR of every message of the same maildrops in one session;
//   - login: the first IMAP LOGIN after a restart;
//   - memory: memory of the whole server after its start and per idle IMAP
//     connection;
//   - stress: an IMAP command mix like imaptest's from several clients on
//     one mailbox, with and without login churn;
//   - chain: intake at 20 sessions × 4 KB through the whole filter chain
//     (SPF, DKIM and DMARC answered by a DNS server in this process, clamd
//     if installed, the spam filter), next to the spine without filters;
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
// With --against classic it also sets up Postfix (SMTP, then LMTP) and
// Dovecot (Maildir, IMAP, POP3) from Debian's packages in a temporary
// folder and runs the first six scenarios against both, round by round,
// alternating which goes first, with the same clients; the report gives
// each round's ratio and their median. Without it the figures are absolute:
// nothing is compared with a number that was not measured in the same run.
//
// Two other anchors compare Yubin with itself in the same way: with
// --against yubin-postgres the same binary runs on SQLite (as by default)
// and on a PostgreSQL server the tool starts in a temporary folder, with
// production durability (fsync, synchronous_commit, full_page_writes on);
// with --against yubin:PATH the binary at PATH (an older commit, say) runs
// beside the one measured, both on SQLite.
//
// Usage:
//
//	go run ./cmd/yubin-bench [--against classic|yubin-postgres|yubin:PATH] [--scenarios intake,imap,...] [--rounds N] [--quick] [--out FILE]
//
// See docs/benchmarks.md for results and the command that produced them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
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
	largeUser   = "large@" + domain
	stressUser  = "stress@" + domain
	loginUser   = "login@" + domain
	password    = "bench-password-1234"
)

// options are the command line settings.
type options struct {
	yubin         string
	data          string
	database      string // YUBIN_DATABASE of the main server ("": SQLite in the data folder)
	scenarios     []string
	quick         bool
	out           string
	duration      time.Duration
	sessions      []int
	sizes         []int
	messages      int
	mailboxSize   int
	largeMessages int
	largeSize     int
	fillSessions  int
	rounds        int
	against       string
	otherYubin    string // with --against yubin:PATH, PATH
	classicScheme string
	stressClients int
	stressTime    time.Duration
	stressMsgs    int
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
}

// benchUsers are the users every system measured has, with password.
var benchUsers = []string{intakeUser, mailboxUser, largeUser, stressUser, loginUser}

var allScenarios = []string{"intake", "imap", "pop3", "login", "memory", "stress", "chain", "api", "send"}

// comparedScenarios run against every system; the others measure Yubin
// alone (the classic stack has nothing like them).
var comparedScenarios = []string{"intake", "imap", "pop3", "login", "memory", "stress"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("yubin-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{progress: stderr}
	var scen, sessions, sizes, extra string
	fs.StringVar(&o.yubin, "yubin", "", "yubin binary to measure (default: go build ./cmd/yubin into a temporary folder)")
	fs.StringVar(&o.data, "data", "", "data folder for the server (default: a fresh temporary folder, removed afterwards)")
	fs.StringVar(&o.database, "database", "", "YUBIN_DATABASE of the server measured (a postgres:// URL of an empty database: Yubin on PostgreSQL; default SQLite in the data folder; the chain scenario's servers stay on SQLite)")
	fs.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", ")+" (with --against, default: "+strings.Join(comparedScenarios, ",")+")")
	fs.StringVar(&o.against, "against", "", "measure an anchor in the same run, round by round, alternating which goes first: "+
		"classic = Postfix (SMTP, LMTP) + Dovecot (Maildir, IMAP, POP3) from Debian's packages, set up in a temporary folder (needs root; installs the packages with apt-get when missing); "+
		"yubin-postgres = the same yubin binary on SQLite (as without --against) and on a PostgreSQL server started in a temporary folder on 127.0.0.1 with production durability (fsync, synchronous_commit, full_page_writes on; Debian's package postgresql; as the postgres user when root); "+
		"yubin:PATH = the yubin binary at PATH (an older build, say) beside the one measured, both on SQLite")
	fs.StringVar(&o.classicScheme, "classic-scheme", "ARGON2ID", "classic: Dovecot's password scheme; ARGON2ID gives it the same argon2id hash Yubin stores, any other (e.g. SHA512-CRYPT) is made with doveadm pw")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of every compared measurement; with --against the systems alternate which goes first, and the report gives each round's ratio and their median")
	fs.BoolVar(&o.quick, "quick", false, "short smoke run with small numbers (numbers are not meaningful)")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "intake: how long each sessions × size cell sends")
	fs.StringVar(&sessions, "sessions", "1,20,50", "intake: numbers of concurrent SMTP sessions")
	fs.StringVar(&sizes, "sizes", "4K,100K", "intake: message sizes (K = 1024 bytes)")
	fs.IntVar(&o.messages, "messages", 5000, "imap, pop3, memory: messages in the mailbox of small messages")
	fs.IntVar(&o.mailboxSize, "mailbox-msg-size", 4500, "imap, pop3: size of the small messages as sent (the server adds a Received field, about 4.7 KB stored)")
	fs.IntVar(&o.largeMessages, "large-messages", 1000, "imap, pop3: messages in the mailbox of large messages (0: none)")
	fs.IntVar(&o.largeSize, "large-msg-size", 100*1024, "imap, pop3: size of the large messages as sent, in bytes")
	fs.IntVar(&o.fillSessions, "fill-sessions", 20, "concurrent SMTP sessions that fill the mailboxes")
	fs.IntVar(&o.stressClients, "stress-clients", 10, "stress: concurrent IMAP clients on one mailbox")
	fs.DurationVar(&o.stressTime, "stress-duration", 10*time.Second, "stress: how long each run of the mix lasts")
	fs.IntVar(&o.stressMsgs, "stress-messages", 100, "stress: messages in the shared mailbox at the start")
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
		set("rounds", func() { o.rounds = 1 })
		set("large-messages", func() { o.largeMessages = 20 })
		set("stress-duration", func() { o.stressTime = time.Second })
		set("stress-messages", func() { o.stressMsgs = 20 })
		set("conns", func() { o.conns = 50 })
		set("settle", func() { o.settle = 200 * time.Millisecond })
		set("api-users", func() { o.apiUsers = 200 })
		set("api-duration", func() { o.apiDuration = time.Second })
		set("send-messages", func() { o.sendMessages = 100 })
		set("chain-rounds", func() { o.chainRounds = 1 })
	}
	if o.messages < 1 || o.rounds < 1 || o.conns < 2 || o.fillSessions < 1 || o.pop3Window < 1 || o.mailboxSize < 512 || o.largeMessages < 0 || o.largeSize < 512 || o.stressClients < 1 || o.stressMsgs < 1 || o.stressTime <= 0 {
		return nil, errors.New("--messages, --rounds, --fill-sessions, --pop3-window, --stress-clients, --stress-messages must be at least 1, --large-messages at least 0, --conns at least 2, --mailbox-msg-size and --large-msg-size at least 512, --stress-duration positive")
	}
	switch {
	case o.against == "" || o.against == "classic" || o.against == "yubin-postgres":
	case strings.HasPrefix(o.against, "yubin:"):
		o.otherYubin = strings.TrimPrefix(o.against, "yubin:")
		st, err := os.Stat(o.otherYubin)
		if o.otherYubin == "" || err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("--against yubin:PATH: %q is not an executable yubin binary", o.otherYubin)
		}
	default:
		return nil, fmt.Errorf("--against: unknown anchor %q (want classic, yubin-postgres or yubin:PATH)", o.against)
	}
	if o.database != "" && o.against != "" && o.against != "classic" {
		return nil, errors.New("--database and --against " + o.against + " do not go together: the anchor chooses the databases")
	}
	if o.against != "" && !given["scenarios"] {
		o.scenarios = slices.Clone(comparedScenarios)
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
		o.commandLine += " " + strings.Join(redactURLs(args), " ")
	}
	return o, nil
}

// redactURLs returns args with the password of any URL in them (a
// --database postgres://user:password@host/db) replaced by "xxxxx", for
// the report.
func redactURLs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		prefix, value, isFlag := "", a, false
		if j := strings.Index(a, "="); j >= 0 && strings.HasPrefix(a, "-") {
			prefix, value, isFlag = a[:j+1], a[j+1:], true
		}
		u, err := url.Parse(value)
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			out[i] = u.String()
			if isFlag {
				out[i] = prefix + out[i]
			}
		}
	}
	return out
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
	probe := time.Second
	if o.quick {
		probe = 200 * time.Millisecond
	}
	if rate, err := fsyncRate(tmp, probe); err == nil {
		rep.fsyncs = fmt.Sprintf("%.0f synchronous 4 KiB writes per second (write + fdatasync, %s, before the servers start)", rate, probe)
	}
	var dbEnv []string // the main server's database
	if o.database != "" {
		dbEnv = []string{"YUBIN_DATABASE=" + o.database}
		rep.database = "PostgreSQL (--database)"
	}
	if err := setUpYubin(ctx, bin, data, dbEnv); err != nil {
		if fresh {
			return nil, err
		}
		o.logf("reusing %s: %v", data, firstLine(err.Error()))
	}

	mailProtocols := []string{"smtp", "imap", "pop3"}
	logN := 0
	startBin := func(bin, data string, protocols []string, env ...string) (*server, error) {
		logN++
		path := filepath.Join(tmp, fmt.Sprintf("server-%d.log", logN))
		s, err := startServer(ctx, bin, data, path, protocols, env...)
		if err != nil {
			return nil, err
		}
		o.logf("yubin serve pid %d: smtp %s, imap %s, pop3 %s, http %q (log %s)", s.pid, s.Addr("smtp"), s.Addr("imap"), s.Addr("pop3"), s.Addr("http"), path)
		return s, nil
	}
	startOn := func(data string, protocols []string, env ...string) (*server, error) {
		return startBin(bin, data, protocols, env...)
	}
	startWith := func(protocols []string, env ...string) (*server, error) {
		return startOn(data, protocols, append(slices.Clip(dbEnv), env...)...)
	}
	start := func() (*server, error) { return startWith(mailProtocols) }
	stopSrv := func(s *server) {
		if err := s.Stop(); err != nil {
			rep.problem("stopping the server: %v", err)
		}
		rep.serverProblems = append(rep.serverProblems, s.Problems()...)
	}
	y := &yubinSystem{name: "Yubin", start: start}
	switch {
	case o.against == "yubin-postgres":
		y.name = "Yubin on SQLite"
	case o.otherYubin != "":
		y.name = yubinName(bin)
	}
	if y.srv, err = start(); err != nil {
		return rep, err
	}
	defer func() {
		if y.srv != nil {
			stopSrv(y.srv)
		}
		// What the servers restarted by the scenarios logged.
		rep.serverProblems = append(y.old, rep.serverProblems...)
		rep.loadAfter = loadAvg()
	}()
	systems := []system{y}
	switch {
	case o.against == "classic":
		dir := filepath.Join(tmp, "classic")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return rep, err
		}
		cs, err := startClassic(ctx, o, dir, benchUsers, password)
		if err != nil {
			return rep, fmt.Errorf("the classic stack: %w", err)
		}
		rep.classic = cs.versions
		systems = append(systems, cs)
		defer func() {
			if err := cs.Stop(); err != nil {
				rep.problem("stopping the classic stack: %v", err)
			}
			rep.anchorProblems = cs.Problems()
		}()
	case o.against == "yubin-postgres" || o.otherYubin != "":
		other, stop, err := startOtherYubin(ctx, o, rep, y.name, bin, filepath.Join(tmp, "data-anchor"),
			func(bin, data string, env ...string) (*server, error) {
				return startBin(bin, data, mailProtocols, env...)
			})
		if err != nil {
			return rep, err
		}
		systems = append(systems, other)
		defer stop()
	}
	for _, s := range systems {
		rep.systems = append(rep.systems, s.Name())
	}

	rep.imapServed = waitGreeting(y.Addr("imap"), 3*time.Second)
	rep.pop3Served = waitGreeting(y.Addr("pop3"), 3*time.Second)
	if !rep.imapServed {
		rep.problem("IMAP is not served by this build (the listener accepts but sends no greeting): end-to-end checks, FETCH and memory per connection are not measured")
	}
	if !rep.pop3Served {
		rep.problem("POP3 is not served by this build: RETR is not measured")
	}

	if o.has("intake") {
		runIntake(ctx, o, rep, systems)
	}
	needMailbox := (o.has("imap") || o.has("pop3") || o.has("memory")) && rep.imapServed
	if needMailbox && ctx.Err() == nil {
		for _, sys := range systems {
			if err := fillMailboxes(o, rep, sys); err != nil {
				rep.problem("filling the mailboxes of %s: %v", sys.Name(), err)
				needMailbox = false
			}
		}
	}
	if needMailbox && o.has("imap") {
		runFetch(ctx, o, rep, systems)
	}
	if needMailbox && o.has("pop3") && rep.pop3Served {
		runPOP3(ctx, o, rep, systems)
	}
	if o.has("login") && rep.imapServed && ctx.Err() == nil {
		runLogin(ctx, o, rep, systems)
	}
	if needMailbox && o.has("memory") && ctx.Err() == nil {
		runMemory(ctx, o, rep, systems)
	}
	if o.has("stress") && rep.imapServed && ctx.Err() == nil {
		runStressScenario(ctx, o, rep, systems)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}

	// Yubin alone from here on.
	if o.has("chain") && ctx.Err() == nil {
		// Servers of its own (the spine and the whole chain); the plain
		// server is stopped meanwhile.
		stopSrv(y.srv)
		y.srv = nil
		runChain(ctx, o, rep, tmp, func(name string, env ...string) (*server, error) {
			d := filepath.Join(tmp, "data-"+name)
			for _, args := range [][]string{{"domain", "add", domain}, {"user", "add", intakeUser, "--password", password}} {
				if err := admin(ctx, bin, d, nil, args...); err != nil {
					return nil, err
				}
			}
			return startOn(d, mailProtocols, env...)
		}, stopSrv)
		if y.srv, err = start(); err != nil {
			return rep, err
		}
	}
	if o.has("api") && ctx.Err() == nil {
		// A server of its own, with the HTTP listener (which the mail
		// scenarios' servers do without, so as not to count it in their
		// memory) and the API admin.
		o.logf("restarting the server with the HTTP API")
		stopSrv(y.srv)
		y.srv = nil
		if y.srv, err = startWith(append(slices.Clone(mailProtocols), "http")); err != nil {
			return rep, err
		}
		runAPI(ctx, o, rep, y.srv)
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
		stopSrv(y.srv)
		y.srv = nil
		if y.srv, err = startWith(append(slices.Clone(mailProtocols), "http", "submission"), mx.env()...); err != nil {
			return rep, err
		}
		o.logf("send: %d sessions submit %d messages to remote recipients", o.sendClients, o.sendMessages)
		runSend(ctx, o, rep, y.srv, mx, data)
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

// runIntake measures every sessions × size cell on every system, round
// after round.
func runIntake(ctx context.Context, o *options, rep *report, systems []system) {
	for _, size := range o.sizes {
		t := newTemplate(size, intakeUser, size > 16<<10, uint64(size))
		for _, n := range o.sessions {
			for round := range o.rounds {
				for _, sys := range order(systems, round) {
					if ctx.Err() != nil {
						return
					}
					o.logf("intake, round %d: %s, %d sessions × %s for %s", round+1, sys.Name(), n, fmtSize(size), o.duration)
					row := measureIntake(o, rep, sys, t, n, size)
					row.round = round
					rep.intake = append(rep.intake, row)
					o.logf("  %s", row.summary())
					cell := fmt.Sprintf("%d sessions × %s", n, fmtSize(size))
					if n == 1 {
						cell = "1 session × " + fmtSize(size)
					}
					if row.run.Accepted > 0 {
						rep.figs.add("SMTP intake, accepted (250 to DATA), "+cell, "msg/s", true, sys.Name(), round, row.rate())
					}
					if row.checked && row.inbox == row.run.Accepted && row.run.Accepted > 0 {
						rep.figs.add("SMTP intake end to end (readable over IMAP), "+cell, "msg/s", true, sys.Name(), round, row.e2eRate())
					}
				}
			}
		}
	}
}

// measureIntake sends messages made from t to intakeUser over n sessions
// for o.duration, then waits until IMAP shows them all (end to end: the
// classic stack accepts before it delivers over LMTP).
func measureIntake(o *options, rep *report, sys system, t *template, n, size int) intakeRow {
	row := intakeRow{system: sys.Name(), sessions: n, size: size, msgSize: t.size}
	var before uint32
	var watch *inboxWatcher
	if rep.imapServed {
		var err error
		if watch, err = newInboxWatcher(sys.Addr("imap"), intakeUser, password); err == nil {
			before, err = watch.count()
		}
		if err != nil {
			row.err = fmt.Sprintf("IMAP before: %v", err)
			return row
		}
		defer watch.close()
	}
	r, err := sendMany(sys.Addr("smtp"), intakeUser, t, n, o.duration, 0, sys.Meter())
	row.run = r
	if err != nil {
		row.err = err.Error()
	}
	if watch != nil && r.Accepted > 0 {
		want := before + uint32(r.Accepted)
		got, lag, err := watch.waitFor(want, 120*time.Second)
		row.checked = err == nil
		row.inbox = int64(got) - int64(before)
		row.visibleLag = lag
		if err != nil {
			row.err = strings.TrimSpace(row.err + " IMAP after: " + err.Error())
		}
	}
	return row
}

// mailbox is one of the mailboxes the reading scenarios read.
type mailbox struct {
	user     string
	messages int
	size     int
	label    string
}

func (o *options) mailboxes() []mailbox {
	out := []mailbox{{mailboxUser, o.messages, o.mailboxSize, ""}}
	if o.largeMessages > 0 {
		out = append(out, mailbox{largeUser, o.largeMessages, o.largeSize, ""})
	}
	for i := range out {
		out[i].label = fmt.Sprintf("%d × %s", out[i].messages, fmtSize(out[i].size))
	}
	return out
}

// fillMailboxes brings the reading scenarios' mailboxes and the stress
// mailbox to their sizes, over SMTP on every system alike.
func fillMailboxes(o *options, rep *report, sys system) error {
	boxes := o.mailboxes()
	if o.has("stress") {
		boxes = append(boxes, mailbox{stressUser, o.stressMsgs, 4096, "stress"})
	}
	for _, box := range boxes {
		r, err := fillMailbox(o, sys, box)
		rep.fills = append(rep.fills, fillRow{system: sys.Name(), box: box, run: r})
		if err != nil {
			return fmt.Errorf("%s: %w", box.user, err)
		}
	}
	return nil
}

// fillMailbox brings mb's INBOX on sys to box.messages messages.
func fillMailbox(o *options, sys system, box mailbox) (smtpRun, error) {
	var r smtpRun
	have, err := inboxCount(sys.Addr("imap"), box.user, password)
	if err != nil {
		return r, err
	}
	if int(have) > box.messages && box.user != stressUser {
		return r, fmt.Errorf("%s already holds %d messages, more than %d", box.user, have, box.messages)
	}
	need := int64(box.messages) - int64(have)
	t := newTemplate(box.size, box.user, box.size > 16<<10, uint64(box.size)+4700)
	if need > 0 {
		o.logf("%s: filling %s with %d messages of %d bytes over %d sessions", sys.Name(), box.user, need, t.size, o.fillSessions)
		r, err = sendMany(sys.Addr("smtp"), box.user, t, o.fillSessions, 0, need, sys.Meter())
		if err != nil {
			return r, err
		}
	}
	got, _, err := waitInboxCount(sys.Addr("imap"), box.user, password, uint32(box.messages), 120*time.Second)
	if err != nil {
		return r, err
	}
	if int(got) < box.messages || int(got) != box.messages && box.user != stressUser {
		return r, fmt.Errorf("INBOX holds %d messages, want %d", got, box.messages)
	}
	return r, nil
}

// runFetch measures FETCH 1:* BODY.PEEK[] of each mailbox on every system,
// after one untimed FETCH each (so that both read from a warm page cache).
func runFetch(ctx context.Context, o *options, rep *report, systems []system) {
	for _, box := range o.mailboxes() {
		for _, sys := range systems {
			if _, err := fetchOnce(sys, box); err != nil {
				rep.fetch = append(rep.fetch, fetchRow{system: sys.Name(), box: box.label, err: "warm-up: " + err.Error()})
			}
		}
		for round := range o.rounds {
			for _, sys := range order(systems, round) {
				if ctx.Err() != nil {
					return
				}
				r, err := fetchOnce(sys, box)
				row := fetchRow{system: sys.Name(), box: box.label, round: round, run: r}
				if err != nil {
					row.err = err.Error()
				} else {
					rate := float64(r.Messages) / r.Elapsed.Seconds()
					o.logf("  %s: FETCH 1:* of %s: %.1f MB in %s: %.0f msg/s", sys.Name(), box.label, mb(r.Bytes), r.Elapsed.Round(time.Millisecond), rate)
					rep.figs.add("IMAP `FETCH 1:* BODY.PEEK[]`, "+box.label, "msg/s", true, sys.Name(), round, rate)
				}
				rep.fetch = append(rep.fetch, row)
			}
		}
	}
}

// fetchOnce logs in to sys as box.user, selects INBOX and fetches it all.
func fetchOnce(sys system, box mailbox) (fetchRun, error) {
	c, err := imapLogin(sys.Addr("imap"), box.user, password)
	if err != nil {
		return fetchRun{}, err
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return fetchRun{}, fmt.Errorf("SELECT INBOX: %w", err)
	}
	r, err := fetchAll(c, false, sys.Meter())
	if err == nil && r.Messages != box.messages {
		err = fmt.Errorf("FETCH returned %d messages, want %d", r.Messages, box.messages)
	}
	_ = c.Logout().Wait()
	return r, err
}

// runPOP3 measures RETR of every message of each maildrop, with the same
// client for every system: pipelined (--pop3-window commands in flight)
// when the server offers PIPELINING.
func runPOP3(ctx context.Context, o *options, rep *report, systems []system) {
	for _, box := range o.mailboxes() {
		for _, sys := range systems {
			if _, _, err := pop3Once(o, sys, box); err != nil {
				rep.pop3 = append(rep.pop3, pop3Row{system: sys.Name(), box: box.label, err: "warm-up: " + err.Error()})
			}
		}
		for round := range o.rounds {
			for _, sys := range order(systems, round) {
				if ctx.Err() != nil {
					return
				}
				r, pipelining, err := pop3Once(o, sys, box)
				row := pop3Row{system: sys.Name(), box: box.label, round: round, run: r, pipelining: pipelining}
				if err != nil {
					row.err = err.Error()
				} else {
					rate := float64(r.Messages) / r.Elapsed.Seconds()
					o.logf("  %s: POP3 RETR ×%d (window %d): %.1f MB in %s: %.0f msg/s", sys.Name(), r.Messages, r.Window, mb(r.Bytes), r.Elapsed.Round(time.Millisecond), rate)
					rep.figs.add("POP3 `RETR` of every message, "+box.label, "msg/s", true, sys.Name(), round, rate)
				}
				rep.pop3 = append(rep.pop3, row)
			}
		}
	}
}

// pop3Once logs in to sys's POP3 as box.user and retrieves every message.
func pop3Once(o *options, sys system, box mailbox) (pop3Run, bool, error) {
	c, err := pop3Dial(sys.Addr("pop3"))
	if err != nil {
		return pop3Run{}, false, err
	}
	defer c.close()
	if err := c.login(box.user, password); err != nil {
		return pop3Run{}, false, err
	}
	n, size, err := c.stat()
	if err != nil {
		return pop3Run{}, false, err
	}
	if n != box.messages {
		return pop3Run{}, false, fmt.Errorf("STAT: %d messages, want %d", n, box.messages)
	}
	pipelining := c.caps["PIPELINING"]
	window := 1
	if pipelining {
		window = o.pop3Window
	}
	r, err := c.retrAll(n, window, sys.Meter())
	if err != nil {
		return r, pipelining, err
	}
	if r.Bytes != size {
		return r, pipelining, fmt.Errorf("RETR returned %d octets in all, STAT said %d", r.Bytes, size)
	}
	if err := c.quit(); err != nil {
		return r, pipelining, fmt.Errorf("QUIT: %w", err)
	}
	return r, pipelining, nil
}

// runLogin restarts each system and times its first IMAP LOGIN.
func runLogin(ctx context.Context, o *options, rep *report, systems []system) {
	for round := range o.rounds {
		for _, sys := range order(systems, round) {
			if ctx.Err() != nil {
				return
			}
			o.logf("login, round %d: restarting %s", round+1, sys.Name())
			row := loginRow{system: sys.Name(), round: round}
			if err := sys.Restart(ctx); err != nil {
				row.err = "restart: " + err.Error()
			} else if row.run, err = measureFirstLogin(sys, loginUser); err != nil {
				row.err = err.Error()
			} else {
				o.logf("  first LOGIN %s, second %s", row.run.First, row.run.Second)
				rep.figs.add("first IMAP `LOGIN` after a restart (password hash checked)", "ms", false, sys.Name(), round, ms(row.run.First))
				rep.figs.add("a second `LOGIN` right after it, new connection", "ms", false, sys.Name(), round, ms(row.run.Second))
			}
			rep.logins = append(rep.logins, row)
		}
	}
}

// runMemory restarts each system and measures its idle memory, then the
// memory of o.conns idle IMAP connections.
func runMemory(ctx context.Context, o *options, rep *report, systems []system) {
	for round := range o.rounds {
		for _, sys := range order(systems, round) {
			if ctx.Err() != nil {
				return
			}
			o.logf("memory, round %d: restarting %s", round+1, sys.Name())
			row := memRow{system: sys.Name(), round: round}
			if err := sys.Restart(ctx); err != nil {
				row.err = "restart: " + err.Error()
				rep.mem = append(rep.mem, row)
				continue
			}
			time.Sleep(o.settle)
			row.start = sys.Meter().mem()
			rep.figs.add("memory of the whole server right after its start (sum of PSS)", "MiB", false, sys.Name(), round, float64(row.start.PSS)/1024)
			rep.figs.add("memory of the whole server right after its start (sum of RSS: shared pages once per process)", "MiB", false, sys.Name(), round, float64(row.start.RSS)/1024)
			o.logf("  idle: PSS %s, RSS %s in %d processes; opening %d idle IMAP connections", kib(row.start.PSS), kib(row.start.RSS), row.start.Procs, o.conns)
			r, err := idleConns(sys.Addr("imap"), mailboxUser, password, o.conns, o.settle, sys.Meter())
			row.run = r
			if err != nil {
				row.err = err.Error()
			} else {
				per := float64(r.Full.PSS-r.Idle.PSS) / float64(r.Conns)
				o.logf("  PSS %s → %s (%d conns): %.1f KiB per connection", kib(r.Idle.PSS), kib(r.Full.PSS), r.Conns, per)
				rep.figs.add(fmt.Sprintf("memory per idle IMAP connection (%d logged in, INBOX selected; PSS)", r.Conns), "KiB", false, sys.Name(), round, per)
			}
			rep.mem = append(rep.mem, row)
		}
	}
}

// runStressScenario runs the IMAP stress mix with and without login
// churn on every system.
func runStressScenario(ctx context.Context, o *options, rep *report, systems []system) {
	t := newTemplate(4096, stressUser, false, 77)
	for _, churn := range []bool{false, true} {
		mode := "sessions kept open"
		if churn {
			mode = "login churn"
		}
		for round := range o.rounds {
			for _, sys := range order(systems, round) {
				if ctx.Err() != nil {
					return
				}
				o.logf("stress, round %d: %s, %d clients, %s, for %s", round+1, sys.Name(), o.stressClients, mode, o.stressTime)
				r := runStress(sys, stressUser, o.stressClients, o.stressTime, churn, t)
				rep.stress = append(rep.stress, stressRow{system: sys.Name(), round: round, run: r})
				o.logf("  %.0f ops/s, %d errors %s", r.opsPerSec(), r.Errors, r.FirstErr)
				if r.Ops > 0 {
					rep.figs.add(fmt.Sprintf("IMAP stress mix, %d clients, %s: commands per second", o.stressClients, mode), "ops/s", true, sys.Name(), round, r.opsPerSec())
				}
				for _, cmd := range stressCommands {
					if l := r.medianLatency(cmd); l > 0 {
						rep.figs.add(fmt.Sprintf("IMAP stress mix, %s: median `%s` latency", mode, cmd), "ms", false, sys.Name(), round, ms(l))
					}
				}
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mb(b int64) float64 { return float64(b) / 1e6 }

func fmtSize(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
