package main

// The chain scenario: SMTP intake with the whole inbound filter chain at
// work. The messages come from sender@remote.example, whose SPF record
// allows 127.0.0.1, whose DKIM key signs every message and whose DMARC
// record says p=reject: the DNS server answering for it (go-mockdns) runs
// in this process, and the server is restarted with YUBIN_DNS pointing at
// it. If /usr/sbin/clamd exists, a clamd of this process (a database with
// only the EICAR test signature, a unix socket) scans every message too
// (YUBIN_CLAMD). The spam filter (rules and the Bayes classifier) is always
// on. The figure is set beside the intake scenario's at the same sessions
// and size: the server has no setting that turns sender authentication
// and the spam filter off, so that one runs them too, against the system
// resolver (NXDOMAIN for remote.example, quickly cached) and without
// clamd.

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
	ran  bool
	row  intakeRow // with the chain
	base intakeRow // the intake figure it is compared with
	// baseOwn is set when the intake scenario had no such cell and this
	// scenario measured it itself, just before.
	baseOwn bool
	clamd   string // clamd's version, "" without clamd
	noClamd string // why there is no clamd
	// verified lists what was checked of the chain's work: the stored
	// message's Authentication-Results and X-Spam-Score, the EICAR
	// probe's refusal.
	verified []string
	err      string
}

// ratio is the chain's throughput over the intake figure's.
func (c chainResult) ratio() float64 {
	if c.base.run.Accepted == 0 || c.row.run.Accepted == 0 {
		return 0
	}
	return c.row.rate() / c.base.rate()
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
	s := c.row.summary()
	if r := c.ratio(); r > 0 {
		s += fmt.Sprintf("; %.0f%% of intake's %.0f msgs/s (the chain costs %s, bound %.0f%%)", 100*r, c.base.rate(), c.cost(), 100*chainMaxCost)
	}
	return s
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
	exited chan error
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
	c := &benchClamd{sock: filepath.Join(dir, "clamd.sock"), exited: make(chan error, 1)}
	conf := filepath.Join(dir, "clamd.conf")
	confText := fmt.Sprintf("LocalSocket %s\nDatabaseDirectory %s\nTemporaryDirectory %s\nLogFile %s\nPidFile %s\nForeground yes\nScanMail yes\n",
		c.sock, dbDir, dir, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"))
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

// runChain measures intake through the whole chain on a server started by
// start with the given settings. It returns that server (nil if it did not
// start), for the caller to stop, and then done, which stops clamd and the
// DNS server.
func runChain(ctx context.Context, o *options, rep *report, tmp string, start func(env ...string) (*server, error)) (*server, func()) {
	c := &rep.chain
	c.ran = true
	var cleanup []func()
	done := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	dns, err := startChainDNS()
	if err != nil {
		c.err = err.Error()
		return nil, done
	}
	cleanup = append(cleanup, dns.close)
	env := []string{"YUBIN_DNS=" + dns.dns.LocalAddr().String()}
	clamd, why, err := startClamd(ctx, filepath.Join(tmp, "clamd"))
	switch {
	case err != nil:
		c.err = "clamd: " + err.Error()
		return nil, done
	case clamd == nil:
		c.noClamd = why
		o.logf("chain: no clamd: %s", why)
	default:
		cleanup = append(cleanup, clamd.stop)
		if c.clamd, err = clamd.ask("VERSION"); err != nil {
			c.clamd = "unknown version"
		}
		env = append(env, "YUBIN_CLAMD=unix:"+clamd.sock)
		o.logf("chain: clamd %s on %s", c.clamd, clamd.sock)
	}
	t, err := dns.chainTemplate(chainSize, intakeUser)
	if err != nil {
		c.err = "DKIM-signing the template: " + err.Error()
		return nil, done
	}
	o.logf("restarting the server with the whole filter chain: %s", strings.Join(env, " "))
	srv, err := start(env...)
	if err != nil {
		c.err = err.Error()
		return nil, done
	}
	o.logf("chain: %d sessions × %s for %s", chainSessions, fmtSize(chainSize), o.duration)
	c.row = measureIntake(o, rep, srv, t, chainSessions, chainSize)
	if c.row.err != "" {
		c.err = c.row.err
	}
	if c.row.run.Accepted > 0 && rep.imapServed {
		if err := c.verifyStored(srv); err != nil {
			c.err = strings.TrimSpace(c.err + " " + err.Error())
		}
	}
	if clamd != nil {
		if err := c.probeVirus(srv); err != nil {
			c.err = strings.TrimSpace(c.err + " " + err.Error())
		}
	}
	o.logf("  %s", c.summary())
	return srv, done
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
	p("Every message goes through SPF (at MAIL FROM and again after DATA), DKIM, DMARC, ")
	switch {
	case c.clamd != "":
		p("clamd (%s, in the load generator's folder, a unix socket, `YUBIN_CLAMD`; a database with the EICAR signature only), ", mdEscape(c.clamd))
	case c.noClamd != "":
		p("**no clamd** (%s), ", mdEscape(c.noClamd))
	}
	p("and the spam filter (rules and the Bayes classifier). ")
	p("It is compared with the intake figure at the same sessions and size: the server cannot turn sender authentication and the spam filter off, ")
	p("so that figure has them too, with the system resolver (no records for remote.example) and no clamd. ")
	p("Issue's bound: the chain costs less than a third of intake throughput (chain ≥ %.0f%% of intake).\n\n", 100*(1-chainMaxCost))
	p("| run | accepted | msgs/s | server CPU/msg (kernel share) | client CPU/msg | in INBOX over IMAP | errors |\n")
	p("| --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	line := func(name string, row intakeRow) {
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
		p("| %s | %d | **%.0f** | %.2f ms (%s) | %.2f ms | %s | %s |\n", name, row.run.Accepted, row.rate(),
			row.cpuPerMsg(row.run.ServerCPU), row.sysShare(), row.cpuPerMsg(row.run.ClientCPU), check, errs)
	}
	if c.base.run.Elapsed > 0 {
		name := "intake scenario (same run)"
		if c.baseOwn {
			name = "intake, measured just before (no such cell in the intake scenario)"
		}
		line(name, c.base)
	}
	if c.row.run.Elapsed > 0 {
		line("**whole chain**", c.row)
	} else {
		why := c.err
		if why == "" {
			why = "not run"
		}
		p("| whole chain | — | — | — | — | — | **not measured: %s** |\n", mdEscape(why))
	}
	p("\n")
	if rt := c.ratio(); rt > 0 {
		verdict := "within"
		if 1-rt >= chainMaxCost {
			verdict = "**over**"
		}
		p("The chain runs at **%.0f%%** of the intake figure: it costs %s of intake throughput, %s the bound of %.0f%%.", 100*rt, c.cost(), verdict, 100*chainMaxCost)
		if rt >= 1 {
			p(" (Faster than the intake figure: noise, or that run waited on the system resolver.)")
		}
		if c.row.run.Accepted > 0 && c.base.run.Accepted > 0 {
			p(" Server CPU per message: %.2f ms with the chain, %.2f ms without clamd and with unanswered DNS.",
				c.row.cpuPerMsg(c.row.run.ServerCPU), c.base.cpuPerMsg(c.base.run.ServerCPU))
		}
		p("\n")
	}
	if len(c.verified) > 0 {
		p("Checked: %s.\n", strings.Join(c.verified, "; "))
	}
	if c.err != "" && c.row.run.Elapsed > 0 {
		p("**Error:** %s\n", mdEscape(c.err))
	}
	p("\n")
}
