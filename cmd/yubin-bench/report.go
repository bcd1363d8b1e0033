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

// The bars: the classic stack (Postfix 3.7 over LMTP to Dovecot 2.3,
// Maildir) measured on the same 2-core machine (issue 2).
const (
	barIntakeMsgs = 150.0 // msgs/s end to end, 20 sessions, 4 KB
	barIntakeCPU  = 10.0  // ms CPU per message
	barFetchMBs   = 127.0 // IMAP FETCH 1:* BODY.PEEK[], 4.7 KB messages
	barPOP3MBs    = 43.0  // POP3 RETR
	barConnKiB    = 500.0 // per idle IMAP connection
)

type report struct {
	o          *options
	date       time.Time
	loadBefore string
	loadAfter  string
	dataFS     string

	imapServed, pop3Served bool

	intake []intakeRow
	fill   struct {
		messages, msgSize int
		run               smtpRun
	}
	fetch []fetchRow
	pop3  []pop3Row
	mem   struct {
		startKiB, restartKiB int64
		run                  memRun
		measured             bool
		err                  string
	}
	api   apiResult
	send  sendResult
	chain chainResult

	problems       []string
	serverProblems []string
}

func newReport(o *options) *report {
	return &report{o: o, date: time.Now(), loadBefore: loadAvg()}
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
	return r.mem.err != "" || r.api.err != "" || r.send.err != "" ||
		r.chain.err != ""
}

type intakeRow struct {
	sessions, size, msgSize int
	run                     smtpRun
	checked                 bool  // the IMAP check ran
	inbox                   int64 // new messages in INBOX over IMAP
	visibleLag              time.Duration
	err                     string
}

func (row intakeRow) rate() float64 { return float64(row.run.Accepted) / row.run.Elapsed.Seconds() }

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
		s += fmt.Sprintf("; IMAP INBOX +%d", row.inbox)
	}
	if row.err != "" {
		s += "; ERROR: " + row.err
	}
	return s
}

type fetchRow struct {
	uid  bool
	runs []fetchRun
	err  string
}

func (row fetchRow) command() string {
	if row.uid {
		return "UID FETCH 1:* BODY.PEEK[]"
	}
	return "FETCH 1:* BODY.PEEK[]"
}

type pop3Row struct {
	pipelining bool
	runs       []pop3Run
	err        string
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
	p("- machine: %d CPUs (%s), %s RAM, Linux %s; data folder on %s\n", runtime.NumCPU(), cpuModel(), memTotal(), kernel(), r.dataFSName())
	p("- software: yubin %s, built with %s; load generator in the same process as this report, on the same CPUs\n", gitVersion(), runtime.Version())
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

	if r.o.has("intake") {
		p("### SMTP intake, end to end\n\n")
		p("Each session sends message after message (RSET, MAIL, RCPT, DATA) to one local user on the MX port for %s; ", r.o.duration)
		p("the clock runs from the moment all sessions are open until the last reply to DATA. ")
		p("Then the user's INBOX is opened over IMAP and must hold every accepted message. ")
		p("CPU per message is the server's user+system time (/proc/PID/stat) over the run divided by the accepted messages; ")
		p("the load generator's own CPU is shown beside it, since both share the CPUs.\n\n")
		p("| sessions | message | accepted | msgs/s | MB/s | server CPU/msg (kernel share) | client CPU/msg | in INBOX over IMAP | errors | bar: Postfix+Dovecot |\n")
		p("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n")
		for _, row := range r.intake {
			check := "not checked (IMAP not served)"
			if row.checked {
				if row.inbox == row.run.Accepted {
					check = fmt.Sprintf("%d ✓", row.inbox)
					if row.visibleLag > 100*time.Millisecond {
						check += fmt.Sprintf(" (after %s)", row.visibleLag.Round(10*time.Millisecond))
					}
				} else {
					check = fmt.Sprintf("**%d of %d**", row.inbox, row.run.Accepted)
				}
			}
			bar := "—"
			if row.sessions == 20 && row.size == 4096 {
				bar = fmt.Sprintf("%.0f msgs/s, %.0f ms CPU/msg (we: %.1f× the rate, %.1f× less CPU)",
					barIntakeMsgs, barIntakeCPU, row.rate()/barIntakeMsgs, barIntakeCPU/max(row.cpuPerMsg(row.run.ServerCPU), 1e-9))
			}
			errs := fmt.Sprint(row.run.Errors)
			if row.err != "" {
				errs += ": " + mdEscape(row.err)
			}
			p("| %d | %s (%d B) | %d | **%.0f** | %.1f | %.2f ms (%s) | %.2f ms | %s | %s | %s |\n",
				row.sessions, fmtSize(row.size), row.msgSize, row.run.Accepted, row.rate(), mb(row.run.Bytes)/row.run.Elapsed.Seconds(),
				row.cpuPerMsg(row.run.ServerCPU), row.sysShare(), row.cpuPerMsg(row.run.ClientCPU), check, errs, bar)
		}
		if len(r.intake) == 0 {
			p("| — | — | — | — | — | — | — | — | — | not measured |\n")
		}
		p("\n")
	}

	if r.o.has("chain") {
		r.chainMarkdown(p)
	}

	if r.fill.messages > 0 && (r.o.has("imap") || r.o.has("pop3") || r.o.has("memory")) {
		p("### The mailbox for FETCH, RETR and the idle connections\n\n")
		p("%d messages of %d bytes as sent (plus the Received field the server prepends)", r.fill.messages, r.fill.msgSize)
		if f := r.fill.run; f.Accepted > 0 {
			p(", delivered over %d SMTP sessions in %s (%.0f msgs/s, server CPU %.2f ms/msg)",
				r.o.fillSessions, f.Elapsed.Round(time.Millisecond), float64(f.Accepted)/f.Elapsed.Seconds(),
				float64(f.ServerCPU)/float64(time.Millisecond)/float64(f.Accepted))
		}
		p(".\n\n")
	}

	if r.o.has("imap") || r.o.has("pop3") {
		p("### Reading: IMAP FETCH and POP3 RETR of the whole mailbox\n\n")
		p("One session each; the clock covers only the FETCH command, or all the RETRs. Every literal or message is read to its end. ")
		p("MB = 10^6 bytes of message data (the literals' and the messages' octets). Median of %d repetitions (lowest–highest in brackets).\n\n", r.o.reps)
		p("| command | messages | MB | time (median) | MB/s (median) | server CPU | client CPU | bar: Dovecot |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, row := range r.fetch {
			if len(row.runs) == 0 {
				p("| %s | — | — | — | — | — | — | %.0f MB/s — **not measured: %s** |\n", row.command(), barFetchMBs, mdEscape(row.err))
				continue
			}
			m, lo, hi := median(row.runs, func(f fetchRun) float64 { return mb(f.Bytes) / f.Elapsed.Seconds() })
			rate := mb(m.Bytes) / m.Elapsed.Seconds()
			note := ""
			if row.err != "" {
				note = " **error: " + mdEscape(row.err) + "**"
			}
			p("| `%s` | %d | %.1f | %s | **%.1f** (%.1f–%.1f) | %s | %s | %.0f MB/s (we: %.1f×)%s |\n",
				row.command(), m.Messages, mb(m.Bytes), m.Elapsed.Round(time.Millisecond), rate, lo, hi,
				m.ServerCPU.Round(10*time.Millisecond), m.ClientCPU.Round(10*time.Millisecond), barFetchMBs, rate/barFetchMBs, note)
		}
		if r.o.has("imap") && !r.imapServed {
			p("| `FETCH 1:* BODY.PEEK[]` | — | — | — | — | — | — | %.0f MB/s — **not measured: IMAP not served by this build** |\n", barFetchMBs)
		}
		for _, row := range r.pop3 {
			cmd := "POP3 `RETR` 1…n, one at a time (no PIPELINING offered)"
			if row.pipelining {
				cmd = fmt.Sprintf("POP3 `RETR` 1…n, pipelined (%d in flight)", r.o.pop3Window)
			}
			if len(row.runs) == 0 {
				p("| %s | — | — | — | — | — | — | %.0f MB/s — **not measured: %s** |\n", cmd, barPOP3MBs, mdEscape(row.err))
				continue
			}
			m, lo, hi := median(row.runs, func(f pop3Run) float64 { return mb(f.Bytes) / f.Elapsed.Seconds() })
			rate := mb(m.Bytes) / m.Elapsed.Seconds()
			note := ""
			if row.err != "" {
				note = " **error: " + mdEscape(row.err) + "**"
			}
			p("| %s | %d | %.1f | %s | **%.1f** (%.1f–%.1f) | %s | %s | %.0f MB/s (we: %.1f×)%s |\n",
				cmd, m.Messages, mb(m.Bytes), m.Elapsed.Round(time.Millisecond), rate, lo, hi,
				m.ServerCPU.Round(10*time.Millisecond), m.ClientCPU.Round(10*time.Millisecond), barPOP3MBs, rate/barPOP3MBs, note)
		}
		if r.o.has("pop3") && !r.pop3Served {
			p("| POP3 `RETR` | — | — | — | — | — | — | %.0f MB/s — **not measured: POP3 not served by this build** |\n", barPOP3MBs)
		}
		p("\n")
	}

	if r.o.has("memory") {
		p("### Memory\n\n")
		p("Resident set size (VmRSS in /proc/PID/status) of the server process. A Go program cannot be made to collect its garbage from outside, ")
		p("so each reading is taken after %s of quiet. The connections are measured in a freshly started server ", r.o.settle)
		p("(after the other scenarios its heap would have free space that new connections reuse without growing the RSS); ")
		p("before the first reading one connection logs in and selects INBOX, so that the password check's cache and the mailbox's shared state exist. ")
		p("Then %d connections to the same account log in (LOGIN) and SELECT the %d-message INBOX, 16 at a time, and stay idle.\n\n", r.o.conns, r.o.messages)
		p("| measure | value | bar: Dovecot |\n| --- | ---: | --- |\n")
		if r.mem.startKiB > 0 {
			p("| RSS idle after start | %s | — |\n", kib(r.mem.startKiB))
		}
		if r.mem.restartKiB > 0 {
			p("| RSS idle after a restart with the %d-message mailbox | %s | — |\n", r.o.messages, kib(r.mem.restartKiB))
		}
		if m := r.mem.run; r.mem.measured {
			per := float64(m.FullKiB-m.IdleKiB) / float64(m.Conns)
			marginal := float64(m.FullKiB-m.HalfKiB) / float64(m.Conns-m.Conns/2)
			p("| RSS before the connections (one warm-up connection open) | %s | — |\n", kib(m.IdleKiB))
			p("| RSS with %d idle connections | %s | — |\n", m.Conns/2, kib(m.HalfKiB))
			p("| RSS with %d idle connections | %s | — |\n", m.Conns, kib(m.FullKiB))
			p("| **per idle IMAP connection**: (RSS after − before) / %d | **%.1f KiB** | ≈%.0f KiB (we: %.0f× less; aim ≤ 50 KiB) |\n", m.Conns, per, barConnKiB, barConnKiB/max(per, 1e-9))
			p("| per connection between %d and %d connections | %.1f KiB | — |\n", m.Conns/2, m.Conns, marginal)
			p("| opening %d connections (login + select, 16 in parallel) | %s, server CPU %s | — |\n", m.Conns, m.OpenTime.Round(time.Millisecond), m.ServerCPU.Round(10*time.Millisecond))
		} else {
			why := r.mem.err
			if !r.imapServed {
				why = "IMAP not served by this build"
			}
			p("| per idle IMAP connection | **not measured: %s** | ≈%.0f KiB |\n", mdEscape(why), barConnKiB)
		}
		p("\n")
	}

	if r.o.has("api") {
		r.apiMarkdown(p)
	}
	if r.o.has("send") {
		r.sendMarkdown(p)
	}

	if len(r.problems) > 0 || len(r.serverProblems) > 0 {
		p("### Problems seen\n\n")
		for _, s := range r.problems {
			p("- %s\n", s)
		}
		if n := len(r.serverProblems); n > 0 {
			p("- the server logged %d warnings or errors; the first ones:\n", n)
			for _, s := range r.serverProblems[:min(n, 10)] {
				if len(s) > 400 {
					s = s[:400] + "…"
				}
				p("  - `%s`\n", strings.ReplaceAll(s, "`", "'"))
			}
		}
		p("\n")
	}
	return b.String()
}

// apiMarkdown writes the REST API section.
func (r *report) apiMarkdown(p func(format string, args ...any)) {
	a := r.api
	p("### REST API\n\n")
	p("%d concurrent HTTP/1.1 clients (keep-alive) with one admin's access token, on the plain HTTP listener. ", r.o.apiClients)
	p("First %d users are created in a new domain with `POST /api/v1/users` (each one an argon2id password hash, ", r.o.apiUsers)
	p("19 MiB and 2 passes, as in production), as fast as the clients go; then the clients page through all the users with ")
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
	return fmt.Sprintf("%s (%s)", typ, dev)
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
