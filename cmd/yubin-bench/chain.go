package main

// The chain scenario: SMTP intake with the whole inbound filter chain at
// work, next to the spine without any filter. The messages come from
// sender@remote.example, whose SPF record allows 127.0.0.1, whose DKIM key
// signs every message and whose DMARC record says p=reject: the DNS server
// answering for it (go-mockdns) runs in this process (YUBIN_DNS). If
// /usr/sbin/clamd exists, a clamd of this process (a database with only the
// EICAR test signature, a unix socket, its temporary files on tmpfs) scans
// every message too (YUBIN_CLAMD). The spam filter (rules and the Bayes
// classifier) is on as always.
//
// Two servers run side by side, each on its own data folder: one with
// YUBIN_FILTERS=none (the spine: SMTP, spool, store) and one with the whole
// chain. They are measured in turn, the same messages at the same sessions
// and size, --chain-rounds times, alternating which goes first, so that
// drifts of a shared machine fall on both; the medians are compared.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/foxcpp/go-mockdns"
)

const (
	// chainSessions and chainSize are the intake cell the chain scenario
	// measures: the 20 sessions × 4 KB.
	chainSessions = 20
	chainSize     = 4096
	// chainSender is the envelope and header sender of its messages.
	chainSender   = "sender@remote.example"
	chainSelector = "bench"
	// chainMaxCost is the bound: the chain must cost less than a
	// third of intake throughput.
	chainMaxCost = 1.0 / 3

	clamdBin   = "/usr/sbin/clamd"
	sigtoolBin = "/usr/bin/sigtool"
)

// chainResult is the chain scenario's outcome.
type chainResult struct {
	ran bool
	// spine and whole are the rounds without filters and with the whole
	// chain, in the order measured.
	spine, whole []intakeRow
	// defaults is the intake scenario's cell at the same sessions and size
	// (the default chain: sender authentication against the system
	// resolver and the spam filter, no clamd), if it ran.
	defaults    intakeRow
	hasDefaults bool
	clamd       string // clamd's version, "" without clamd
	clamdTmp    string // clamd's TemporaryDirectory
	noClamd     string // why there is no clamd
	// verified lists what was checked of the chain's work: the stored
	// message's Authentication-Results and X-Spam-Score, the EICAR
	// probe's refusal.
	verified []string
	err      string
	// extras are the other chains measured beside (--chain-extra).
	extras []chainExtra
}

// chainExtra is another configuration of the chain, measured in the same
// rounds as the spine and the whole chain, for comparison.
type chainExtra struct {
	name  string   // as given to --chain-extra
	label string   // for the report
	env   []string // settings on top of the whole chain's, "-VAR" removes VAR
	rows  []intakeRow
}

// chainExtras are the configurations --chain-extra can name.
var chainExtras = map[string]chainExtra{
	"no-clamd":      {label: "whole chain without clamd", env: []string{"-YUBIN_CLAMD"}},
	"clamd-message": {label: "whole chain, clamd given the whole message (`YUBIN_CLAMD_SCAN=message`)", env: []string{"YUBIN_CLAMD_SCAN=message"}},
	"clamd-parts":   {label: "whole chain, clamd given the decoded parts (`YUBIN_CLAMD_SCAN=parts`)", env: []string{"YUBIN_CLAMD_SCAN=parts"}},
}

// withEnv returns base with the settings of extra applied: "VAR=value"
// replaces or adds VAR, "-VAR" removes it.
func withEnv(base, extra []string) []string {
	out := slices.Clone(base)
	for _, e := range extra {
		name, _, _ := strings.Cut(strings.TrimPrefix(e, "-"), "=")
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		if !strings.HasPrefix(e, "-") {
			out = append(out, e)
		}
	}
	return out
}

// medianRow returns the row of median rate among the rows that accepted
// messages, or a zero row.
func medianRow(rows []intakeRow) intakeRow {
	var ok []intakeRow
	for _, r := range rows {
		if r.run.Accepted > 0 {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return intakeRow{}
	}
	m, _, _ := median(ok, intakeRow.rate)
	return m
}

// roundRatios returns, for each round in which both ran, the whole
// chain's throughput over the spine's of the same round.
func roundRatios(whole, spine []intakeRow) []float64 {
	var out []float64
	for i := range min(len(whole), len(spine)) {
		if whole[i].run.Accepted > 0 && spine[i].run.Accepted > 0 {
			out = append(out, whole[i].rate()/spine[i].rate())
		}
	}
	return out
}

// ratio is the median of the per-round ratios of the whole chain's
// throughput to the spine's: each round measures both close together, so
// a drift of the shared machine between rounds cancels out (the ratio of
// the two medians would mix rounds).
func (c chainResult) ratio() float64 {
	rs := roundRatios(c.whole, c.spine)
	if len(rs) == 0 {
		return 0
	}
	m, _, _ := median(rs, func(r float64) float64 { return r })
	return m
}

// cost is the share of intake throughput the chain costs, in words.
func (c chainResult) cost() string {
	r := c.ratio()
	if r >= 1 {
		return "nothing measurable"
	}
	return fmt.Sprintf("%.0f%%", 100*(1-r))
}

func (c chainResult) summary() string {
	w, s := medianRow(c.whole), medianRow(c.spine)
	out := fmt.Sprintf("median of %d rounds: spine %.0f msgs/s (%.2f ms CPU/msg), whole chain %.0f msgs/s (%.2f ms CPU/msg)",
		len(c.whole), s.rate(), s.cpuPerMsg(s.run.ServerCPU), w.rate(), w.cpuPerMsg(w.run.ServerCPU))
	if r := c.ratio(); r > 0 {
		out += fmt.Sprintf("; the chain runs at %.0f%% of the spine (costs %s, bound %.0f%%)", 100*r, c.cost(), 100*chainMaxCost)
	}
	return out
}

// chainDNS is the remote sender's DNS: SPF, DKIM and DMARC records of
// remote.example.
type chainDNS struct {
	dns    *mockdns.Server
	signer crypto.Signer
}

func startChainDNS() (*chainDNS, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	zones := map[string]mockdns.Zone{
		"remote.example.":                             {TXT: []string{"v=spf1 ip4:127.0.0.1 -all"}},
		"mx.remote.example.":                          {A: []string{"127.0.0.1"}, TXT: []string{"v=spf1 a -all"}},
		"_dmarc.remote.example.":                      {TXT: []string{"v=DMARC1; p=reject"}},
		chainSelector + "._domainkey.remote.example.": {TXT: []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}},
	}
	d, err := mockdns.NewServerWithLogger(zones, log.New(io.Discard, "", 0), false)
	if err != nil {
		return nil, fmt.Errorf("mock DNS server: %w", err)
	}
	return &chainDNS{dns: d, signer: key}, nil
}

func (c *chainDNS) close() { c.dns.Close() }

// chainTemplate returns a template for messages of about size bytes to
// rcpt, each carrying the same DKIM-Signature of remote.example: it signs
// the body and the fields every message shares (not Message-ID and Date),
// so that one signature, made here, holds for all of them.
func (c *chainDNS) chainTemplate(size int, rcpt string) (*template, error) {
	var t *template
	sigLen := 0
	for range 3 { // the signature's length does not depend on the body: two rounds settle it
		t = newTemplate(size-sigLen, rcpt, false, uint64(size))
		signer, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: "remote.example", Selector: chainSelector, Signer: c.signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: []string{"From", "To", "Subject", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		})
		if err != nil {
			return nil, err
		}
		if _, err := signer.Write(t.render(nil)); err != nil {
			return nil, err
		}
		if err := signer.Close(); err != nil {
			return nil, err
		}
		sig := signer.Signature()
		if len(sig) == sigLen {
			t.head = append([]byte(sig), t.head...)
			t.size = len(t.render(nil))
			return t, nil
		}
		sigLen = len(sig)
	}
	return nil, errors.New("DKIM signature length does not settle")
}

// benchClamd is a clamd child process with the EICAR test signature only.
type benchClamd struct {
	cmd    *exec.Cmd
	sock   string
	tmp    string // its TemporaryDirectory
	exited chan error
}

// clamdTempDir returns the folder for clamd's temporary files: clamd
// writes every INSTREAM scan to a file there and deletes it, so it belongs
// on tmpfs, as ClamAV's and amavis' tuning advice says (on ext4 with
// discard, each deletion waits for the disk). It is a folder in /dev/shm
// when that is a writable tmpfs, else one in dir.
func clamdTempDir(dir string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "yubin-bench-clamd-"); err == nil {
			return d
		}
	}
	return dir
}

// startClamd starts clamd in dir (created), the way
// filters/clamd/real_test.go does, and waits until it answers PING. It
// returns nil and the reason when clamd is not installed.
func startClamd(ctx context.Context, dir string) (*benchClamd, string, error) {
	for _, p := range []string{clamdBin, sigtoolBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, p + " not found (install clamav-daemon)", nil
		}
	}
	dbDir := filepath.Join(dir, "db")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return nil, "", err
	}
	sample := filepath.Join(dir, "eicar.com")
	if err := os.WriteFile(sample, eicar(), 0o644); err != nil {
		return nil, "", err
	}
	sig, err := exec.CommandContext(ctx, sigtoolBin, "--md5", sample).Output()
	os.Remove(sample)
	if err != nil {
		return nil, "", fmt.Errorf("sigtool --md5: %w", err)
	}
	sig = bytes.ReplaceAll(sig, []byte(sample), []byte("eicar.com"))
	if err := os.WriteFile(filepath.Join(dbDir, "test.hdb"), sig, 0o644); err != nil {
		return nil, "", err
	}
	c := &benchClamd{sock: filepath.Join(dir, "clamd.sock"), exited: make(chan error, 1), tmp: clamdTempDir(dir)}
	conf := filepath.Join(dir, "clamd.conf")
	// MaxThreads as many as CPUs, the usual sizing: more threads only
	// contend (clamd's default is 10).
	confText := fmt.Sprintf("LocalSocket %s\nDatabaseDirectory %s\nTemporaryDirectory %s\nLogFile %s\nPidFile %s\nForeground yes\nScanMail yes\nMaxThreads %d\n",
		c.sock, dbDir, c.tmp, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"), max(2, runtime.NumCPU()))
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		return nil, "", err
	}
	out, err := os.Create(filepath.Join(dir, "clamd.out"))
	if err != nil {
		return nil, "", err
	}
	defer out.Close()
	c.cmd = exec.Command(clamdBin, "--config-file="+conf, "--foreground")
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start clamd: %w", err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.exited:
			c.exited <- err
			return nil, "", fmt.Errorf("clamd exited at start (%v): %s", err, tail(filepath.Join(dir, "clamd.log"), 5))
		case <-ctx.Done():
			c.stop()
			return nil, "", ctx.Err()
		default:
		}
		if v, err := c.ask("PING"); err == nil && v == "PONG" {
			return c, "", nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, "", errors.New("clamd did not answer PING within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ask sends a clamd command (PING, VERSION) and returns the answer.
func (c *benchClamd) ask(cmd string) (string, error) {
	conn, err := net.DialTimeout("unix", c.sock, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(conn).ReadString(0)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(s, "\x00"), nil
}

func (c *benchClamd) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if strings.HasPrefix(c.tmp, "/dev/shm/") {
		os.RemoveAll(c.tmp)
	}
}

// eicar returns the 68-byte EICAR anti-virus test string, assembled from
// parts so that this source file does not itself look like it to scanners.
func eicar() []byte {
	return []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}, ""))
}

// eicarMessage is a message from chainSender with the EICAR file attached.
func eicarMessage() []byte {
	return []byte("From: <" + chainSender + ">\r\nTo: <" + intakeUser + ">\r\nSubject: virus probe\r\n" +
		"Date: " + time.Now().Format(dateLayout) + "\r\nMessage-ID: <eicar-probe@remote.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n" +
		"Content-Disposition: attachment; filename=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(eicar()) + "\r\n--b1--\r\n")
}

// runChain runs the chain scenario: start(name, env) starts a server on a
// data folder of its own (name) with the extra settings env, and stop stops
// one.
func runChain(ctx context.Context, o *options, rep *report, tmp string, start func(name string, env ...string) (*server, error), stop func(*server)) {
	c := &rep.chain
	c.ran = true
	for _, r := range rep.intake {
		if r.sessions == chainSessions && r.size == chainSize && r.err == "" {
			c.defaults, c.hasDefaults = r, true
		}
	}
	dns, err := startChainDNS()
	if err != nil {
		c.err = err.Error()
		return
	}
	defer dns.close()
	env := []string{"YUBIN_DNS=" + dns.dns.LocalAddr().String()}
	clamd, why, err := startClamd(ctx, filepath.Join(tmp, "clamd"))
	switch {
	case err != nil:
		c.err = "clamd: " + err.Error()
		return
	case clamd == nil:
		c.noClamd = why
		o.logf("chain: no clamd: %s", why)
	default:
		defer clamd.stop()
		if c.clamd, err = clamd.ask("VERSION"); err != nil {
			c.clamd = "unknown version"
		}
		c.clamdTmp = clamd.tmp
		env = append(env, "YUBIN_CLAMD=unix:"+clamd.sock)
		o.logf("chain: clamd %s on %s, temporary files in %s", c.clamd, clamd.sock, clamd.tmp)
	}
	t, err := dns.chainTemplate(chainSize, intakeUser)
	if err != nil {
		c.err = "DKIM-signing the template: " + err.Error()
		return
	}
	spineSrv, err := start("spine", "YUBIN_FILTERS=none")
	if err != nil {
		c.err = "spine server: " + err.Error()
		return
	}
	defer stop(spineSrv)
	o.logf("chain: the whole chain with %s", strings.Join(env, " "))
	wholeSrv, err := start("chain", env...)
	if err != nil {
		c.err = "chain server: " + err.Error()
		return
	}
	defer stop(wholeSrv)

	// Every configuration measured, in a fixed order: the spine, the whole
	// chain, then the extras.
	type config struct {
		label string
		srv   *server
		rows  *[]intakeRow
	}
	configs := []config{{"spine (no filters)", spineSrv, &c.spine}, {"whole chain", wholeSrv, &c.whole}}
	for _, name := range o.chainExtra {
		x := chainExtras[name]
		x.name = name
		if clamd == nil && strings.Contains(name, "clamd") {
			o.logf("chain: %s skipped: no clamd", name)
			continue
		}
		c.extras = append(c.extras, x)
	}
	for i := range c.extras {
		x := &c.extras[i]
		xenv := withEnv(env, x.env)
		o.logf("chain: %s with %s", x.name, strings.Join(xenv, " "))
		srv, err := start("chain-"+x.name, xenv...)
		if err != nil {
			c.err = x.name + " server: " + err.Error()
			return
		}
		defer stop(srv)
		configs = append(configs, config{x.label, srv, &x.rows})
	}

	for i := range o.chainRounds {
		// Forward in even rounds, backward in odd ones: whoever went
		// first goes last next time, so that drifts fall on all.
		order := slices.Clone(configs)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, cf := range order {
			if ctx.Err() != nil {
				return
			}
			o.logf("chain: %s, %d sessions × %s for %s", cf.label, chainSessions, fmtSize(chainSize), o.duration)
			row := measureIntake(o, rep, &yubinSystem{name: "Yubin", srv: cf.srv}, t, chainSessions, chainSize)
			o.logf("  %s", row.summary())
			*cf.rows = append(*cf.rows, row)
		}
	}
	all := [][]intakeRow{c.spine, c.whole}
	for _, x := range c.extras {
		all = append(all, x.rows)
	}
	for _, rows := range all {
		for _, r := range rows {
			if r.err != "" && c.err == "" {
				c.err = r.err
			}
		}
	}
	if medianRow(c.whole).run.Accepted > 0 && rep.imapServed {
		if err := c.verifyStored(wholeSrv); err != nil {
			c.err = strings.TrimSpace(c.err + " " + err.Error())
		}
	}
	if clamd != nil {
		if err := c.probeVirus(wholeSrv); err != nil {
			c.err = strings.TrimSpace(c.err + " " + err.Error())
		}
	}
	o.logf("  %s", c.summary())
}

// verifyStored checks that the last stored message went through sender
// authentication (SPF, DKIM and DMARC passed) and the spam filter.
func (c *chainResult) verifyStored(srv *server) error {
	cl, err := imapLogin(srv.Addr("imap"), intakeUser, password)
	if err != nil {
		return err
	}
	defer cl.Close()
	sd, err := cl.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("EXAMINE INBOX: %w", err)
	}
	if sd.NumMessages == 0 {
		return errors.New("INBOX is empty")
	}
	set := imap.SeqSetNum(sd.NumMessages) // the last message
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := cl.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("FETCH of the last message's header: %v (%d messages)", err, len(msgs))
	}
	header := strings.ToLower(string(msgs[0].FindBodySection(section)))
	_ = cl.Logout().Wait()
	for _, want := range []string{"spf=pass", "dkim=pass", "dmarc=pass", "x-spam-score:"} {
		if !strings.Contains(header, want) {
			return fmt.Errorf("the stored message's header lacks %q: the chain did not run as expected", want)
		}
	}
	c.verified = append(c.verified, "stored messages carry `spf=pass dkim=pass dmarc=pass` and an X-Spam-Score")
	return nil
}

// probeVirus sends the EICAR test file, which clamd must refuse.
func (c *chainResult) probeVirus(srv *server) error {
	cl, err := smtp.Dial(srv.Addr("smtp"))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Hello("mx.remote.example"); err != nil {
		return err
	}
	err = cl.SendMail(chainSender, []string{intakeUser}, bytes.NewReader(eicarMessage()))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 {
		return fmt.Errorf("EICAR probe: got %v, want a 554 from clamd", err)
	}
	_ = cl.Quit()
	c.verified = append(c.verified, fmt.Sprintf("the EICAR test file is refused (%d %s)", se.Code, se.Message))
	return nil
}

// chainMarkdown writes the chain section.
func (r *report) chainMarkdown(p func(format string, args ...any)) {
	c := r.chain
	p("### SMTP intake through the whole filter chain\n\n")
	p("%d sessions × %s, as in the intake scenario, from `%s`, whose SPF record allows 127.0.0.1, whose DMARC record says p=reject, ", chainSessions, fmtSize(chainSize), chainSender)
	p("and whose RSA-2048 DKIM key signs every message; a DNS server in the load generator answers for it (`YUBIN_DNS`). ")
	p("With the whole chain (`YUBIN_FILTERS` and `YUBIN_CLAMD_SCAN` at their defaults), every message goes through SPF, DKIM, DMARC, ")
	switch {
	case c.clamd != "":
		p("clamd (%s, a unix socket, `YUBIN_CLAMD`; a database with the EICAR signature only; MaxThreads as many as CPUs; temporary files in %s; the messages are plain text, so by default clamd is given their decoded text), ", mdEscape(c.clamd), mdEscape(c.clamdTmp))
	case c.noClamd != "":
		p("**no clamd** (%s), ", mdEscape(c.noClamd))
	}
	p("and the spam filter (rules and the Bayes classifier). ")
	p("The spine is the same server with `YUBIN_FILTERS=none`: SMTP, spool, fsync and store only. ")
	p("Both run side by side on data folders of their own and get the same messages; they are measured in turn, %d rounds, ", len(c.whole))
	p("alternating which goes first, and the medians are compared. ")
	p("Issue's bound: the chain costs less than a third of intake throughput (whole chain ≥ %.0f%% of the spine).\n\n", 100*(1-chainMaxCost))
	p("| round | run | accepted | msgs/s | server CPU/msg (kernel share) | client CPU/msg | in INBOX over IMAP | errors |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	line := func(round, name string, row intakeRow) {
		check := "not checked"
		if row.checked {
			check = fmt.Sprintf("%d of %d", row.inbox, row.run.Accepted)
			if row.inbox == row.run.Accepted {
				check = fmt.Sprintf("%d ✓", row.inbox)
			}
		}
		errs := fmt.Sprint(row.run.Errors)
		if row.err != "" {
			errs += ": " + mdEscape(row.err)
		}
		p("| %s | %s | %d | **%.0f** | %.2f ms (%s) | %.2f ms | %s | %s |\n", round, name, row.run.Accepted, row.rate(),
			row.cpuPerMsg(row.run.ServerCPU), row.sysShare(), row.cpuPerMsg(row.run.ClientCPU), check, errs)
	}
	for i := range max(len(c.spine), len(c.whole)) {
		if i < len(c.spine) {
			line(fmt.Sprint(i+1), "spine (no filters)", c.spine[i])
		}
		if i < len(c.whole) {
			line(fmt.Sprint(i+1), "whole chain", c.whole[i])
		}
		for _, x := range c.extras {
			if i < len(x.rows) {
				line(fmt.Sprint(i+1), x.label, x.rows[i])
			}
		}
	}
	if len(c.whole) == 0 {
		why := c.err
		if why == "" {
			why = "not run"
		}
		p("| — | whole chain | — | — | — | — | — | **not measured: %s** |\n", mdEscape(why))
	}
	if c.hasDefaults {
		line("—", "default chain (intake scenario: authn + spam, system resolver, no clamd)", c.defaults)
	}
	p("\n")
	if rt := c.ratio(); rt > 0 {
		w, s := medianRow(c.whole), medianRow(c.spine)
		verdict := "within"
		if 1-rt >= chainMaxCost {
			verdict = "**over**"
		}
		p("Medians: spine **%.0f msgs/s** (%.2f ms server CPU per message), whole chain **%.0f msgs/s** (%.2f ms). ",
			s.rate(), s.cpuPerMsg(s.run.ServerCPU), w.rate(), w.cpuPerMsg(w.run.ServerCPU))
		var per []string
		for _, r := range roundRatios(c.whole, c.spine) {
			per = append(per, fmt.Sprintf("%.0f%%", 100*r))
		}
		p("Round by round the whole chain ran at %s of the spine. ", strings.Join(per, ", "))
		p("The chain runs at **%.0f%%** of the spine (median of the rounds; the ratio of the two medians above is %.0f%%): it costs %s of intake throughput, %s the bound of %.0f%%.",
			100*rt, 100*w.rate()/s.rate(), c.cost(), verdict, 100*chainMaxCost)
		if rt >= 1 {
			p(" (Faster than the spine: noise.)")
		}
		for _, x := range c.extras {
			if m := medianRow(x.rows); m.run.Accepted > 0 {
				xr, _, _ := median(roundRatios(x.rows, c.spine), func(r float64) float64 { return r })
				p(" %s: median **%.0f msgs/s** (%.2f ms), %.0f%% of the spine (median of the rounds).", strings.ToUpper(x.label[:1])+x.label[1:], m.rate(), m.cpuPerMsg(m.run.ServerCPU), 100*xr)
			}
		}
		p("\n")
	}
	if len(c.verified) > 0 {
		p("Checked: %s.\n", strings.Join(c.verified, "; "))
	}
	if c.err != "" && len(c.whole) > 0 {
		p("**Error:** %s\n", mdEscape(c.err))
	}
	p("\n")
}
