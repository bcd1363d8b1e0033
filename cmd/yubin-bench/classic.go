package main

// The classic stack, the anchor of --against classic: Postfix receives
// mail over SMTP and hands it over LMTP to Dovecot, which keeps it in
// Maildir and serves IMAP and POP3. Both come from Debian's packages
// (postfix, dovecot-imapd, dovecot-pop3d, dovecot-lmtpd), installed with
// apt-get when missing, and run from a temporary folder of this process
// with configurations of their own: Postfix's queue, Dovecot's base and
// state folders, the mail, the logs, free ports on 127.0.0.1. Nothing of
// /etc/postfix or /etc/dovecot is read or changed, and no system service
// is started. Postfix's master runs as root, so this needs root.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/yubinmail/yubin/internal/netutil"
	"github.com/yubinmail/yubin/mailstore"
)

// classicPackages are the Debian packages the classic stack is made of.
var classicPackages = []string{"postfix", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd"}

// classicBinaries are what the packages must have installed.
var classicBinaries = []string{
	"/usr/sbin/postfix", "/usr/lib/postfix/sbin/master", "/usr/sbin/dovecot",
	"/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3", "/usr/lib/dovecot/lmtp",
}

// classicSystem is Postfix and Dovecot running from dir.
type classicSystem struct {
	dir                          string
	smtpPort, imapPort, pop3Port int
	postfix, dovecot             *exec.Cmd
	pfDone, dcDone               chan struct{}
	versions                     string
	o                            *options
}

// installClassic installs the classic stack's packages when a binary is
// missing: it needs root, and apt-get. The packages' own services are not
// started (a policy-rc.d that denies them is put in place while apt-get
// runs, unless one exists already) and Postfix gets no configuration of
// its own in /etc.
func installClassic(ctx context.Context, o *options) error {
	var missing []string
	for _, b := range classicBinaries {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the classic stack is not installed (%s missing) and this is not root: install %s", strings.Join(missing, ", "), strings.Join(classicPackages, " "))
	}
	o.logf("installing %s with apt-get", strings.Join(classicPackages, " "))
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# yubin-bench: no service starts while it installs packages\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(policy)
	}
	preseed := exec.CommandContext(ctx, "debconf-set-selections")
	preseed.Stdin = strings.NewReader("postfix postfix/main_mailer_type select No configuration\n")
	if out, err := preseed.CombinedOutput(); err != nil {
		return fmt.Errorf("debconf-set-selections: %w\n%s", err, out)
	}
	install := func() error {
		args := append([]string{"install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"}, classicPackages...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install: %w\n%s", err, tailString(string(out), 15))
		}
		return nil
	}
	if err := install(); err != nil {
		o.logf("%v; running apt-get update and trying again", firstLine(err.Error()))
		upd := exec.CommandContext(ctx, "apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=600")
		if out, err := upd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get update: %w\n%s", err, tailString(string(out), 15))
		}
		return install()
	}
	return nil
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startClassic writes the configurations into dir, creates users (each
// with pass, hashed as Yubin hashes it: argon2id, and given to Dovecot in
// the same PHC string) and starts Postfix and Dovecot.
func startClassic(ctx context.Context, o *options, dir string, users []string, pass string) (*classicSystem, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("--against classic needs root: Postfix's master process runs as root")
	}
	if err := installClassic(ctx, o); err != nil {
		return nil, err
	}
	mailUser, err := user.Lookup("mail")
	if err != nil {
		return nil, fmt.Errorf("the system user that owns the Maildirs: %w", err)
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		return nil, fmt.Errorf("postfix's system user: %w", err)
	}
	c := &classicSystem{dir: dir, o: o}
	for _, p := range []*int{&c.smtpPort, &c.imapPort, &c.pop3Port} {
		if *p, err = netutil.FreeLoopbackPort(); err != nil {
			return nil, err
		}
	}
	// Postfix's processes (user postfix) and Dovecot's (users dovecot,
	// dovenull, mail) must reach their files below dir.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	pf := filepath.Join(dir, "postfix")
	dc := filepath.Join(dir, "dovecot")
	mail := filepath.Join(dir, "mail")
	for _, d := range []string{pf, filepath.Join(dir, "postfix-queue"), filepath.Join(dir, "postfix-data"), dc, filepath.Join(dc, "run"), filepath.Join(dc, "state"), mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	chown := func(path string, u *user.User) error {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return os.Chown(path, uid, gid)
	}
	if err := chown(filepath.Join(dir, "postfix-data"), pfUser); err != nil {
		return nil, err
	}
	if err := chown(mail, mailUser); err != nil {
		return nil, err
	}
	hash, err := classicHash(ctx, o.classicScheme, pass)
	if err != nil {
		return nil, err
	}
	var vmailbox, passwd strings.Builder
	for _, u := range users {
		fmt.Fprintf(&vmailbox, "%s OK\n", u)
		fmt.Fprintf(&passwd, "%s:%s\n", u, hash)
	}
	files := map[string]string{
		filepath.Join(pf, "main.cf"):      postfixMain(dir),
		filepath.Join(pf, "master.cf"):    postfixMaster(c.smtpPort),
		filepath.Join(pf, "vmailbox"):     vmailbox.String(),
		filepath.Join(dc, "dovecot.conf"): dovecotConf(dir, c.imapPort, c.pop3Port, mailUser),
		filepath.Join(dc, "users"):        passwd.String(),
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	c.versions = classicVersions(pf)
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// classicHash returns the password hash Dovecot gets, with its scheme
// prefix: by default (ARGON2ID) the very PHC string Yubin stores, made by
// Yubin's own function, so that both check the same argon2id; any other
// scheme is made by doveadm pw (e.g. SHA512-CRYPT, doveadm's default).
func classicHash(ctx context.Context, scheme, pass string) (string, error) {
	if strings.EqualFold(scheme, "ARGON2ID") {
		h, err := mailstore.HashPassword(pass)
		return "{ARGON2ID}" + h, err
	}
	out, err := exec.CommandContext(ctx, "doveadm", "-c", "/dev/null", "pw", "-s", scheme, "-p", pass).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("doveadm pw -s %s: %w: %s", scheme, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// classicVersions names the versions of Postfix and Dovecot.
func classicVersions(pfConf string) string {
	pv, _ := exec.Command("postconf", "-c", pfConf, "-h", "mail_version").Output()
	dv, _ := exec.Command("dovecot", "--version").Output()
	return fmt.Sprintf("Postfix %s, Dovecot %s", strings.TrimSpace(string(pv)), strings.Fields(string(dv) + " ?")[0])
}

// postfixMain is main.cf: Debian's defaults but for what this instance
// needs. Mail for bench.example goes to Dovecot's LMTP socket.
func postfixMain(dir string) string {
	return fmt.Sprintf(`# yubin-bench: the classic stack's Postfix (SMTP -> LMTP -> Dovecot)
compatibility_level = 3.6
config_directory = %[1]s/postfix
queue_directory = %[1]s/postfix-queue
data_directory = %[1]s/postfix-data
mail_owner = postfix
setgid_group = postdrop
myhostname = classic.bench.example
mydomain = bench.example
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = %[2]s
virtual_mailbox_maps = texthash:%[1]s/postfix/vmailbox
virtual_transport = lmtp:unix:%[1]s/dovecot/run/lmtp
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
`, dir, domain)
}

// postfixMaster is master.cf: Debian's services, none chrooted (a chroot
// would need copies of /etc files in the queue folder), and the SMTP
// server on 127.0.0.1:port.
func postfixMaster(port int) string {
	return fmt.Sprintf(`# yubin-bench: the classic stack's Postfix services
127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, port)
}

// dovecotConf is a whole dovecot.conf (Debian's conf.d is not read):
// Maildir owned by the system user mail, passwords in a passwd-file, IMAP
// and POP3 in plain text on 127.0.0.1, LMTP on a unix socket. The
// connection limits are raised as Yubin's are for the benchmark (1,000
// IMAP connections of one user from one address).
func dovecotConf(dir string, imapPort, pop3Port int, mailUser *user.User) string {
	return fmt.Sprintf(`# yubin-bench: the classic stack's Dovecot (Maildir, IMAP, POP3, LMTP)
base_dir = %[1]s/dovecot/run
state_dir = %[1]s/dovecot/state
instance_name = yubin-bench-classic
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = %[1]s/dovecot.log
mail_location = maildir:%[1]s/mail/%%d/%%n/Maildir
mail_uid = %[4]s
mail_gid = %[5]s
first_valid_uid = %[4]s
first_valid_gid = %[5]s
mail_max_userip_connections = 100000
default_process_limit = 5000
default_client_limit = 20000
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = %[1]s/dovecot/users
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[5]s home=%[1]s/mail/%%d/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[3]d
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@%[6]s
}
`, dir, imapPort, pop3Port, mailUser.Uid, mailUser.Gid, domain)
}

func (c *classicSystem) Name() string { return "Postfix+Dovecot" }

func (c *classicSystem) Addr(protocol string) string {
	switch protocol {
	case "smtp":
		return fmt.Sprintf("127.0.0.1:%d", c.smtpPort)
	case "imap":
		return fmt.Sprintf("127.0.0.1:%d", c.imapPort)
	case "pop3":
		return fmt.Sprintf("127.0.0.1:%d", c.pop3Port)
	}
	return ""
}

// Meter measures both process trees: the postfix command (whose child is
// Postfix's master) and Dovecot's master.
func (c *classicSystem) Meter() meter {
	return meter{roots: func() []int {
		var out []int
		for _, cmd := range []*exec.Cmd{c.postfix, c.dovecot} {
			if cmd != nil && cmd.Process != nil {
				out = append(out, cmd.Process.Pid)
			}
		}
		return out
	}}
}

// start starts Postfix (in the foreground: postfix start-fg) and Dovecot
// (dovecot -F) and waits until both greet on their ports.
func (c *classicSystem) start(ctx context.Context) error {
	pfConf := filepath.Join(c.dir, "postfix")
	var err error
	if c.postfix, c.pfDone, err = startChild(filepath.Join(c.dir, "postfix.out"), []string{"MAIL_CONFIG=" + pfConf}, "postfix", "-c", pfConf, "start-fg"); err != nil {
		return err
	}
	if c.dovecot, c.dcDone, err = startChild(filepath.Join(c.dir, "dovecot.out"), nil, "dovecot", "-F", "-c", filepath.Join(c.dir, "dovecot", "dovecot.conf")); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range []struct{ name, addr, log string }{
		{"Postfix", c.Addr("smtp"), "postfix.log"},
		{"Dovecot IMAP", c.Addr("imap"), "dovecot.log"},
		{"Dovecot POP3", c.Addr("pop3"), "dovecot.log"},
	} {
		for !waitGreeting(p.addr, time.Second) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s does not answer on %s; its log (%s):\n%s\n%s", p.name, p.addr, p.log,
					tail(filepath.Join(c.dir, p.log), 10), tail(filepath.Join(c.dir, strings.TrimSuffix(p.log, ".log")+".out"), 5))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.o.logf("classic stack: %s; Postfix SMTP %s, Dovecot IMAP %s, POP3 %s (logs in %s)", c.versions, c.Addr("smtp"), c.Addr("imap"), c.Addr("pop3"), c.dir)
	return nil
}

// startChild starts a program in a process group of its own, its output
// going to logPath.
func startChild(logPath string, env []string, name string, args ...string) (*exec.Cmd, chan struct{}, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	return cmd, done, nil
}

// stopChildren stops both: postfix stop and SIGTERM to Dovecot's master,
// then waits; what is left after 30 seconds is killed with its group.
func (c *classicSystem) stopChildren() error {
	var errs []error
	if c.postfix != nil {
		pfConf := filepath.Join(c.dir, "postfix")
		if out, err := exec.Command("postfix", "-c", pfConf, "stop").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("postfix stop: %w: %s", err, strings.TrimSpace(string(out))))
		}
	}
	if c.dovecot != nil && c.dovecot.Process != nil {
		_ = c.dovecot.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range []struct {
		cmd  *exec.Cmd
		done chan struct{}
	}{{c.postfix, c.pfDone}, {c.dovecot, c.dcDone}} {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			errs = append(errs, fmt.Errorf("%s did not stop within 30s; killed", p.cmd.Path))
		}
	}
	c.postfix, c.dovecot = nil, nil
	return errors.Join(errs...)
}

// Restart restarts Postfix and Dovecot on the same queue and Maildirs.
func (c *classicSystem) Restart(ctx context.Context) error {
	if err := c.stopChildren(); err != nil {
		return err
	}
	return c.start(ctx)
}

func (c *classicSystem) Stop() error { return c.stopChildren() }

// Problems returns the warnings, errors and fatal lines of both logs.
func (c *classicSystem) Problems() []string {
	var out []string
	for _, name := range []string{"postfix.log", "dovecot.log"} {
		b, _ := os.ReadFile(filepath.Join(c.dir, name))
		for _, line := range strings.Split(string(b), "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, "killed with signal 15") {
				continue // Dovecot's master, stopped by this process
			}
			if strings.Contains(l, "warning:") || strings.Contains(l, "error:") || strings.Contains(l, "fatal:") || strings.Contains(l, "panic:") {
				out = append(out, line)
			}
		}
	}
	return out
}
