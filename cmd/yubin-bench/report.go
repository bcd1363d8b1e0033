package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	o          *options
	date       time.Time
	loadBefore string
	// commit is the source tree's commit at the start of the run (files
	// edited while it runs do not make it -dirty).
	commit    string
	loadAfter string

	// systems are the names of the systems measured: Yubin, and the
	// anchor if there is one.
	systems []string
	// fsyncs is the disk's rate of 4 KiB write + fdatasync, or "".
	fsyncs string
	// database names Yubin's database when it is not SQLite in the data
	// folder, or "".
	database string
	// classic names the classic stack's versions, if it ran.
	classic string
	// anchor names the anchor when it is Yubin too (--against
	// yubin-postgres or yubin:PATH), and anchorSoftware says what it runs
	// on; "" otherwise.
	anchor, anchorSoftware string

	imapServed, pop3Served bool

	figs   figures
	intake []intakeRow
	fills  []fillRow
	fetch  []fetchRow
	pop3   []pop3Row
	logins []loginRow
	mem    []memRow
	stress []stressRow
	api    apiResult
	send   sendResult
	chain  chainResult

	problems       []string
	serverProblems []string
	anchorProblems []string // the anchor's warnings and errors
}

func newReport(o *options) *report {
	return &report{o: o, date: time.Now(), loadBefore: loadAvg(), commit: gitVersion()}
}

func (r *report) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.problems = append(r.problems, msg)
	r.o.logf("%s", msg)
}

// failed reports whether a measurement that was asked for and possible
// failed (a protocol that is not served yet is not a failure).
func (r *report) failed() bool {
	for _, row := range r.intake {
		if row.err != "" || (r.imapServed && row.inbox != row.run.Accepted) {
			return true
		}
	}
	for _, row := range r.fetch {
		if row.err != "" {
			return true
		}
	}
	for _, row := range r.pop3 {
		if row.err != "" {
			return true
		}
	}
	for _, row := range r.logins {
		if row.err != "" {
			return true
		}
	}
	for _, row := range r.mem {
		if row.err != "" {
			return true
		}
	}
	for _, row := range r.stress {
		if row.run.Ops == 0 || row.run.Errors > 0 {
			return true
		}
	}
	return len(r.problems) > 0 || r.api.err != "" || r.send.err != "" || r.chain.err != ""
}

type intakeRow struct {
	system                  string
	round                   int
	sessions, size, msgSize int
	run                     smtpRun
	checked                 bool  // the IMAP check ran
	inbox                   int64 // new messages in INBOX over IMAP
	visibleLag              time.Duration
	err                     string
}

// rate is the acceptance rate: messages answered 250 per second.
func (row intakeRow) rate() float64 { return float64(row.run.Accepted) / row.run.Elapsed.Seconds() }

// e2eRate is the end-to-end rate: accepted messages over the time until
// the last of them was readable over IMAP.
func (row intakeRow) e2eRate() float64 {
	return float64(row.run.Accepted) / (row.run.Elapsed + row.visibleLag).Seconds()
}

func (row intakeRow) cpuPerMsg(d time.Duration) float64 {
	if row.run.Accepted == 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond) / float64(row.run.Accepted)
}

// sysShare is the kernel's share of the server's CPU time.
func (row intakeRow) sysShare() string {
	if row.run.ServerCPU <= 0 {
		return "sys —"
	}
	return fmt.Sprintf("%.0f%% sys", 100*float64(row.run.ServerSys)/float64(row.run.ServerCPU))
}

func (row intakeRow) summary() string {
	s := fmt.Sprintf("%d accepted in %s: %.0f msgs/s, %.1f MB/s, server CPU %.2f ms/msg (%s), client CPU %.2f ms/msg",
		row.run.Accepted, row.run.Elapsed.Round(time.Millisecond), row.rate(), mb(row.run.Bytes)/row.run.Elapsed.Seconds(),
		row.cpuPerMsg(row.run.ServerCPU), row.sysShare(), row.cpuPerMsg(row.run.ClientCPU))
	if row.checked {
		s += fmt.Sprintf("; IMAP INBOX +%d after %s more: %.0f msgs/s end to end", row.inbox, row.visibleLag.Round(time.Millisecond), row.e2eRate())
	}
	if row.err != "" {
		s += "; ERROR: " + row.err
	}
	return s
}

// fillRow is the filling of one mailbox on one system.
type fillRow struct {
	system string
	box    mailbox
	run    smtpRun
}

type fetchRow struct {
	system string
	box    string
	round  int
	run    fetchRun
	err    string
}

type pop3Row struct {
	system     string
	box        string
	round      int
	pipelining bool
	run        pop3Run
	err        string
}

type loginRow struct {
	system string
	round  int
	run    loginRun
	err    string
}

type memRow struct {
	system string
	round  int
	start  memSample // right after the start
	run    memRun
	err    string
}

type stressRow struct {
	system string
	round  int
	run    stressRun
}

// median returns the run with the median throughput of runs (the lower
// middle one for an even count), and the lowest and highest throughputs.
func median[T any](runs []T, rate func(T) float64) (T, float64, float64) {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b T) int {
		switch ra, rb := rate(a), rate(b); {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2], rate(s[0]), rate(s[len(s)-1])
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Results of `%s`\n\n", r.o.commandLine)
	p("- date: %s\n", r.date.Format("2006-01-02 15:04 MST"))
	p("- machine: %s, %d cores as Go sees them, %s RAM, Linux %s\n", cpuModel(), runtime.NumCPU(), memTotal(), kernel())
	p("- disk: the data folders are on %s", r.dataFSName())
	if r.fsyncs != "" {
		p("; %s", r.fsyncs)
	}
	p("\n")
	if r.database != "" {
		p("- Yubin's database: %s; the chain scenario's servers on SQLite\n", r.database)
	}
	p("- software: yubin %s, built with %s", r.commit, runtime.Version())
	if r.classic != "" {
		p("; the classic stack: %s from Debian's packages", r.classic)
	}
	p("; load generator in this process, on the same CPUs\n")
	if r.anchorSoftware != "" {
		p("- %s: Yubin's own SQLite in its data folder, as by default\n", r.firstName())
		p("- %s\n", r.anchorSoftware)
	}
	p("- load average (1, 5, 15 min) before: %s, after: %s\n", r.loadBefore, r.loadAfter)
	p("- transport: plain TCP on 127.0.0.1, no TLS; IMAP LOGIN and POP3 USER/PASS in the clear")
	if r.o.has("send") {
		p(" (except submission in the send scenario: STARTTLS)")
	}
	p("\n")
	if r.o.quick {
		p("- **--quick smoke run: these numbers are not meaningful**\n")
	}
	p("\n")
	r.comparisonMarkdown(p)

	if r.o.has("intake") {
		p("### SMTP intake\n\n")
		p("Each session sends message after message (RSET, MAIL, RCPT, DATA) to one local user on the MX port for %s; ", r.o.duration)
		p("the clock runs from the moment all sessions are open until the last reply to DATA (**accepted**). ")
		p("A session logged in over IMAP beforehand then polls `STATUS INBOX (MESSAGES)` until every accepted message is there; ")
		p("**end to end** is the accepted messages over the time from the start until then")
		if r.classic != "" {
			p(" (the classic stack answers 250 once Postfix has the message in its queue, and delivers over LMTP afterwards)")
		}
		p(". ")
		p("Server CPU is the user+system time of every process of the server (/proc/PID/stat, the children that ended included) over the sending, divided by the accepted messages; ")
		p("the load generator's own CPU is beside it, since both share the CPUs.\n\n")
		p("| round | system | sessions | message | accepted | accepted/s | end to end/s | server CPU/msg (kernel share) | client CPU/msg | in INBOX over IMAP | errors |\n")
		p("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
		for _, row := range r.intake {
			check, e2e := "not checked (IMAP not served)", "—"
			if row.checked {
				if row.inbox == row.run.Accepted {
					check = fmt.Sprintf("%d ✓ (%s after the last 250)", row.inbox, row.visibleLag.Round(time.Millisecond))
					e2e = fmt.Sprintf("**%.0f**", row.e2eRate())
				} else {
					check = fmt.Sprintf("**%d of %d**", row.inbox, row.run.Accepted)
				}
			}
			errs := fmt.Sprint(row.run.Errors)
			if row.err != "" {
				errs += ": " + mdEscape(row.err)
			}
			p("| %d | %s | %d | %s (%d B) | %d | %.0f | %s | %.2f ms (%s) | %.2f ms | %s | %s |\n",
				row.round+1, row.system, row.sessions, fmtSize(row.size), row.msgSize, row.run.Accepted, row.rate(), e2e,
				row.cpuPerMsg(row.run.ServerCPU), row.sysShare(), row.cpuPerMsg(row.run.ClientCPU), check, errs)
		}
		if len(r.intake) == 0 {
			p("| — | — | — | — | — | — | — | — | — | — | not measured |\n")
		}
		p("\n")
	}

	if r.o.has("chain") {
		r.chainMarkdown(p)
	}

	if len(r.fills) > 0 {
		p("### The mailboxes\n\n")
		p("Filled over SMTP on every system alike (%d sessions), and read back over IMAP before anything is measured.\n\n", r.o.fillSessions)
		p("| system | user | messages | size as sent | filled in | msgs/s |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
		for _, f := range r.fills {
			took, rate := "already there", "—"
			if f.run.Accepted > 0 {
				took = f.run.Elapsed.Round(time.Millisecond).String()
				rate = fmt.Sprintf("%.0f", float64(f.run.Accepted)/f.run.Elapsed.Seconds())
			}
			p("| %s | %s | %d | %d B | %s | %s |\n", f.system, f.box.user, f.box.messages, f.box.size, took, rate)
		}
		p("\n")
	}

	if len(r.fetch) > 0 || len(r.pop3) > 0 {
		p("### Reading: IMAP FETCH and POP3 RETR of a whole mailbox\n\n")
		p("One session each, after one untimed pass per system (a warm page cache for all); the clock covers only the `FETCH 1:* BODY.PEEK[]` command, or all the RETRs. ")
		p("Every literal or message is read to its end. POP3 uses the same client for every system: %d RETR commands in flight when the server offers PIPELINING (both do), else one at a time. ", r.o.pop3Window)
		p("MB = 10^6 bytes of message data.\n\n")
		p("| round | system | command | mailbox | messages | MB | time | msg/s | MB/s | server CPU | client CPU |\n")
		p("| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, row := range r.fetch {
			if row.err != "" {
				p("| %d | %s | `FETCH 1:*` | %s | — | — | — | — | — | — | **error: %s** |\n", row.round+1, row.system, row.box, mdEscape(row.err))
				continue
			}
			m := row.run
			p("| %d | %s | `FETCH 1:* BODY.PEEK[]` | %s | %d | %.1f | %s | **%.0f** | %.1f | %s | %s |\n", row.round+1, row.system, row.box, m.Messages, mb(m.Bytes),
				m.Elapsed.Round(time.Millisecond), float64(m.Messages)/m.Elapsed.Seconds(), mb(m.Bytes)/m.Elapsed.Seconds(), m.ServerCPU.Round(10*time.Millisecond), m.ClientCPU.Round(10*time.Millisecond))
		}
		for _, row := range r.pop3 {
			if row.err != "" {
				p("| %d | %s | POP3 `RETR` | %s | — | — | — | — | — | — | **error: %s** |\n", row.round+1, row.system, row.box, mdEscape(row.err))
				continue
			}
			m := row.run
			cmd := fmt.Sprintf("POP3 `RETR` 1…n, %d in flight", m.Window)
			p("| %d | %s | %s | %s | %d | %.1f | %s | **%.0f** | %.1f | %s | %s |\n", row.round+1, row.system, cmd, row.box, m.Messages, mb(m.Bytes),
				m.Elapsed.Round(time.Millisecond), float64(m.Messages)/m.Elapsed.Seconds(), mb(m.Bytes)/m.Elapsed.Seconds(), m.ServerCPU.Round(10*time.Millisecond), m.ClientCPU.Round(10*time.Millisecond))
		}
		p("\n")
	}

	if len(r.logins) > 0 {
		p("### First login after a restart\n\n")
		p("Each round restarts the whole server, then a new connection reads the greeting and sends `LOGIN` for a user whose password hash is argon2id with Yubin's parameters")
		if r.classic != "" {
			if strings.EqualFold(r.o.classicScheme, "ARGON2ID") {
				p(" (Dovecot gets the same PHC string, scheme `ARGON2ID`)")
			} else {
				p(" (Dovecot's is **%s**, not argon2id: `--classic-scheme`)", r.o.classicScheme)
			}
		}
		p("; the time is from sending LOGIN to its tagged OK. A second connection then logs in again: Yubin keeps verified credentials in a cache, Dovecot (without `auth_cache_size`, its default) checks the hash at every login.\n\n")
		p("| round | system | connect → greeting | first LOGIN | second LOGIN | error |\n| ---: | --- | ---: | ---: | ---: | --- |\n")
		for _, row := range r.logins {
			p("| %d | %s | %s | **%s** | %s | %s |\n", row.round+1, row.system, fmtLatency(row.run.Greeting), fmtLatency(row.run.First), fmtLatency(row.run.Second), mdEscape(row.err))
		}
		p("\n")
	}

	if len(r.mem) > 0 {
		p("### Memory\n\n")
		p("Each round restarts the whole server and reads, after %s of quiet, the memory of all its processes: ", r.o.settle)
		p("the sum of their PSS (proportional set size: a page shared by n processes counts 1/n in each, so shared libraries count once) and the sum of their RSS (shared pages counted in every process). ")
		p("Then one connection logs in and selects the %d-message INBOX (a warm-up: caches and the mailbox's shared state are not per connection), ", r.o.messages)
		p("and %d more connections to the same account log in and SELECT, 16 at a time, and stay idle; the memory is read again after %s. Per connection = (PSS after − PSS before) / connections.\n\n", r.o.conns, r.o.settle)
		p("| round | system | after start: PSS (RSS), processes | before the connections: PSS (RSS) | with %d connections: PSS (RSS), processes | **per connection (PSS)** | per connection (RSS) | opening them | error |\n", r.o.conns)
		p("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, row := range r.mem {
			m := row.run
			per, perRSS := "—", "—"
			if m.Conns > 0 && row.err == "" {
				per = fmt.Sprintf("**%.1f KiB**", float64(m.Full.PSS-m.Idle.PSS)/float64(m.Conns))
				perRSS = fmt.Sprintf("%.1f KiB", float64(m.Full.RSS-m.Idle.RSS)/float64(m.Conns))
			}
			p("| %d | %s | %s (%s), %d | %s (%s) | %s (%s), %d | %s | %s | %s | %s |\n", row.round+1, row.system,
				kib(row.start.PSS), kib(row.start.RSS), row.start.Procs, kib(m.Idle.PSS), kib(m.Idle.RSS), kib(m.Full.PSS), kib(m.Full.RSS), m.Full.Procs,
				per, perRSS, m.OpenTime.Round(time.Millisecond), mdEscape(row.err))
		}
		p("\n")
	}

	if len(r.stress) > 0 {
		r.stressMarkdown(p)
	}

	if r.o.has("api") {
		r.apiMarkdown(p)
	}
	if r.o.has("send") {
		r.sendMarkdown(p)
	}

	if len(r.problems) > 0 || len(r.serverProblems) > 0 || len(r.anchorProblems) > 0 {
		p("### Problems seen\n\n")
		for _, s := range r.problems {
			p("- %s\n", s)
		}
		for _, lines := range []struct {
			who   string
			lines []string
		}{{r.firstName(), r.serverProblems}, {r.anchorName(), r.anchorProblems}} {
			if n := len(lines.lines); n > 0 {
				p("- %s logged %d warnings or errors; the first ones:\n", lines.who, n)
				for _, s := range lines.lines[:min(n, 10)] {
					if len(s) > 400 {
						s = s[:400] + "…"
					}
					p("  - `%s`\n", strings.ReplaceAll(s, "`", "'"))
				}
			}
		}
		p("\n")
	}
	return b.String()
}

// stressMarkdown writes the stress mix's section: per run the commands per
// second, and per command the count and median latency.
func (r *report) stressMarkdown(p func(format string, args ...any)) {
	p("### IMAP stress mix\n\n")
	p("%d clients at once on one shared mailbox (%d messages at the start), for %s per run, like imaptest's default mix: ", r.o.stressClients, r.o.stressMsgs, r.o.stressTime)
	p("each client repeats SELECT INBOX, `FETCH 1:* (UID FLAGS)`, `UID FETCH` of up to 10 messages' ENVELOPE, INTERNALDATE, RFC822.SIZE and FLAGS, `UID FETCH` of one message's `BODY.PEEK[]`, ")
	p("`UID STORE` of one flag (set or cleared), APPEND of a 4 KiB message, `UID STORE +FLAGS.SILENT (\\Deleted)` and EXPUNGE, `UID SEARCH` (UNSEEN, or a From header), and an IDLE ended by DONE; ")
	p("with **login churn** each cycle also connects, logs in (LOGIN) and logs out (LOGOUT), with **sessions kept open** it only SELECTs again. ")
	p("Commands per second counts every completed command; the latencies are medians over all clients, from sending the command to its tagged response. A tagged NO (e.g. a message another client expunged) counts as completed.\n\n")
	p("| round | system | mode | commands/s | ")
	for _, c := range stressCommands {
		p("%s | ", c)
	}
	p("NO | errors | server CPU/command |\n| ---: | --- | --- | ---: |")
	for range stressCommands {
		p(" ---: |")
	}
	p(" ---: | --- | ---: |\n")
	for _, row := range r.stress {
		m := row.run
		mode := "sessions kept open"
		if m.Churn {
			mode = "login churn"
		}
		p("| %d | %s | %s | **%.0f** | ", row.round+1, row.system, mode, m.opsPerSec())
		var no int64
		for _, c := range stressCommands {
			no += m.NO[c]
			if l := m.medianLatency(c); l > 0 {
				p("%s (%d) | ", fmtLatency(l), len(m.Latencies[c]))
			} else {
				p("— | ")
			}
		}
		errs := fmt.Sprint(m.Errors)
		if m.FirstErr != "" {
			errs += ": " + mdEscape(m.FirstErr)
		}
		cpu := "—"
		if m.Ops > 0 {
			cpu = fmt.Sprintf("%.2f ms", ms(m.ServerCPU)/float64(m.Ops))
		}
		p("%d | %s | %s |\n", no, errs, cpu)
	}
	p("\nEach latency cell: median (number of commands).\n\n")
}

// apiMarkdown writes the REST API section.
func (r *report) apiMarkdown(p func(format string, args ...any)) {
	a := r.api
	p("### REST API\n\n")
	p("%d concurrent HTTP/1.1 clients (keep-alive) with one admin's access token, on the plain HTTP listener. ", r.o.apiClients)
	p("First %d users are created in a new domain with `POST /api/v1/users` (each one an argon2id password hash, ", r.o.apiUsers)
	p("with the production parameters), as fast as the clients go; then the clients page through all the users with ")
	p("`GET /api/v1/users?limit=%d&offset=N`, N random, for %s. ", apiPageSize, r.o.apiDuration)
	p("Latencies are from sending the request to reading the whole answer, of the successful requests; ")
	p("server CPU is the server's user+system time over the run divided by the successful requests.\n\n")
	p("| measurement | requests | errors | requests/s | p50 | p99 | server CPU/request | client CPU/request |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	rows := []struct {
		name string
		run  apiRun
	}{
		{fmt.Sprintf("create users: `POST /api/v1/users` ×%d", r.o.apiUsers), a.create},
		{fmt.Sprintf("list users: `GET /api/v1/users?limit=%d&offset=random` (%d users)", apiPageSize, a.users), a.list},
	}
	for _, row := range rows {
		m := row.run
		if m.Requests == 0 && m.Errors == 0 {
			why := a.err
			if why == "" {
				why = "not run"
			}
			p("| %s | — | — | — | — | — | — | **not measured: %s** |\n", row.name, mdEscape(why))
			continue
		}
		clientCPU := 0.0
		if m.Requests > 0 {
			clientCPU = float64(m.ClientCPU) / float64(time.Millisecond) / float64(m.Requests)
		}
		p("| %s | %d | %d | **%.0f** | %s | **%s** | %.2f ms | %.2f ms |\n",
			row.name, m.Requests, m.Errors, m.rate(), fmtLatency(m.P50), fmtLatency(m.P99), m.cpuPerReq(), clientCPU)
	}
	if a.err != "" {
		p("\n**Errors:** %s\n", mdEscape(a.err))
	}
	p("\n")
}

// fmtLatency shows a latency in milliseconds.
func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

func kib(k int64) string {
	if k >= 10240 {
		return fmt.Sprintf("%.1f MiB", float64(k)/1024)
	}
	return fmt.Sprintf("%d KiB", k)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func memTotal() string {
	k, err := procMeminfo("MemTotal:")
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f GiB", float64(k)/(1<<20))
}

func procMeminfo(field string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var n int64
			_, err := fmt.Sscan(rest, &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no %s", field)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// dataFSName names the file system type of the data folder (fsync cost
// depends on it: tmpfs would make durability free).
func (r *report) dataFSName() string {
	dir := r.o.data
	if dir == "" {
		dir = os.TempDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "?"
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?"
	}
	best, typ, dev := "", "?", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ, dev = mp, f[2], f[0]
		}
	}
	return fmt.Sprintf("%s (%s%s)", typ, dev, blockDevice(dev))
}

// blockDevice describes the disk behind a device such as /dev/vda1 from
// /sys/block: its model, if it says, and whether it is rotational.
func blockDevice(dev string) string {
	name := strings.TrimPrefix(dev, "/dev/")
	if name == dev || name == "" {
		return ""
	}
	// A partition's disk: /sys/class/block/NAME is a link into the disk's
	// folder.
	disk := name
	if target, err := filepath.EvalSymlinks("/sys/class/block/" + name); err == nil {
		if _, err := os.Stat(filepath.Join(target, "partition")); err == nil {
			disk = filepath.Base(filepath.Dir(target))
		}
	}
	var parts []string
	if b, err := os.ReadFile("/sys/block/" + disk + "/device/model"); err == nil && strings.TrimSpace(string(b)) != "" {
		parts = append(parts, "model "+strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/sys/block/" + disk + "/queue/rotational"); err == nil {
		if strings.TrimSpace(string(b)) == "1" {
			parts = append(parts, "rotational")
		} else {
			parts = append(parts, "not rotational (SSD or virtual)")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}

func gitVersion() string {
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = moduleRoot()
	out, err := cmd.Output()
	if err != nil {
		return "(unknown commit)"
	}
	return "commit " + strings.TrimSpace(string(out))
}

// firstName is how the report calls the Yubin measured (the first
// system).
func (r *report) firstName() string {
	if len(r.systems) > 0 {
		return r.systems[0]
	}
	return "Yubin"
}

// anchorName is how the problems section calls the anchor.
func (r *report) anchorName() string {
	if r.anchor != "" {
		return r.anchor
	}
	return "the classic stack"
}
