// Package pgcluster starts a PostgreSQL server of its own in a folder, from
// Debian's binaries (package postgresql), on 127.0.0.1 at a free port, and
// stops it: for yubin-bench's PostgreSQL side, which must measure the
// durability settings of production (fsync, synchronous_commit and
// full_page_writes on), and for anything else that needs a throwaway
// server. It imports no database driver: databases are made with the
// cluster's own createdb.
//
// .ci/postgres.sh does the same for the test runs in shell (with fsync off,
// the data being thrown away) and keeps its own interface; the binaries are
// looked up in the same places, in the same order.
package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/yubinmail/yubin/internal/netutil"
)

// ErrNoBinaries is returned (wrapped) when initdb and pg_ctl are not found.
var ErrNoBinaries = errors.New("PostgreSQL's initdb and pg_ctl not found (install Debian's package postgresql, or set PG_BIN)")

// Options are the settings of a new cluster.
type Options struct {
	// Durable keeps PostgreSQL's durability as in production: fsync,
	// synchronous_commit and full_page_writes on (their defaults). Without
	// it all three are off, for throwaway test data.
	Durable bool
	// Settings are more postgresql.conf lines ("shared_buffers = 128MB").
	Settings []string
}

// Cluster is a running PostgreSQL server in a folder of its own.
type Cluster struct {
	// Dir holds the cluster: Dir/data, its log Dir/server.log and its unix
	// socket.
	Dir string
	// Bin is the folder of initdb, pg_ctl and createdb.
	Bin string
	// Port is its TCP port on 127.0.0.1.
	Port int
	// Conf is what was added to postgresql.conf, one setting a line.
	Conf []string
	// Version is `postgres --version`'s answer.
	Version string

	password string
	cred     *syscall.Credential // the cluster's owner when this process is root
}

// FindBin returns the folder of initdb and pg_ctl: $PG_BIN, else the
// folder of both on PATH (the folder pg_ctl links to, if it is a link),
// else the newest /usr/lib/postgresql/*/bin.
func FindBin() (string, error) {
	ok := func(d string) bool {
		for _, b := range []string{"initdb", "pg_ctl"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BIN"); d != "" {
		if ok(d) {
			return d, nil
		}
		return "", fmt.Errorf("PG_BIN=%s has no initdb and pg_ctl: %w", d, ErrNoBinaries)
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && ok(filepath.Dir(p)) {
		// A link on PATH (/usr/local/bin/pg_ctl) to the folder that also
		// has createdb and postgres: that folder.
		if real, err := filepath.EvalSymlinks(p); err == nil && ok(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

// owner returns the credential the cluster runs with: none (this process's
// user) unless this process is root, which PostgreSQL refuses to run as;
// then the `postgres` user of Debian's package, or `nobody`.
func owner() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, name, nil
	}
	return nil, "", errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// Start makes a cluster in dir (a new or empty folder whose parents the
// cluster's owner can enter), with a superuser `yubin` whose random
// password is in the DSNs, and starts it on 127.0.0.1 at a free port and
// on a unix socket in dir only.
func Start(ctx context.Context, dir string, opt Options) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	cred, ownerName, err := owner()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return nil, err
	} else if len(entries) > 0 {
		return nil, fmt.Errorf("pgcluster: %s is not empty", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	var rnd [18]byte
	_, _ = rand.Read(rnd[:])
	c := &Cluster{Dir: dir, Bin: bin, password: hex.EncodeToString(rnd[:]), cred: cred}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	args := []string{"-D", c.data(), "-U", "yubin", "--pwfile=" + pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"}
	if !opt.Durable {
		args = append(args, "--no-sync")
	}
	out, err := c.run(ctx, "initdb", args...)
	os.Remove(pwfile)
	if err != nil {
		if cred != nil && strings.Contains(out, "ermission denied") {
			err = fmt.Errorf("%w (can %s enter every parent folder of %s?)", err, ownerName, dir)
		}
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	c.Conf = []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + dir + "'",
		"max_connections = 400",
		"log_min_messages = warning",
	}
	if opt.Durable {
		c.Conf = append(c.Conf, "fsync = on", "synchronous_commit = on", "full_page_writes = on")
	} else {
		c.Conf = append(c.Conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off")
	}
	c.Conf = append(c.Conf, opt.Settings...)
	conf := "\n# pgcluster\n" + strings.Join(c.Conf, "\n") + "\n"
	f, err := os.OpenFile(filepath.Join(c.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if v, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output(); err == nil {
		c.Version = strings.TrimSpace(string(v))
	}
	for range 5 {
		if c.Port, err = netutil.FreeLoopbackPort(); err != nil {
			return nil, err
		}
		if out, err = c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
			"-o", fmt.Sprintf("-p %d", c.Port), "start"); err == nil {
			return c, nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
}

// data is the cluster's data folder.
func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// run runs one of the cluster's programs as its owner and returns its
// output.
func (c *Cluster) run(ctx context.Context, program string, args ...string) (string, error) {
	out, err := c.command(ctx, program, args...).CombinedOutput()
	return string(out), err
}

// command prepares one of the cluster's programs, run as its owner in its
// folder.
func (c *Cluster) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, program), args...)
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// DSN returns the URL of database on the cluster, as the superuser yubin.
func (c *Cluster) DSN(database string) string {
	return fmt.Sprintf("postgres://yubin:%s@127.0.0.1:%d/%s?sslmode=disable", c.password, c.Port, database)
}

// CreateDatabase makes a new, empty database called name ([a-z0-9_]) and
// returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return "", fmt.Errorf("pgcluster: database name %q: want [a-z0-9_] only", name)
		}
	}
	out, err := c.run(ctx, "createdb", "-h", c.Dir, "-p", strconv.Itoa(c.Port), "-U", "yubin", name)
	if err != nil {
		return "", fmt.Errorf("createdb %s: %w: %s", name, err, strings.TrimSpace(out))
	}
	return c.DSN(name), nil
}

// PID returns the process id of the cluster's postmaster, the parent of
// every server process (0 if it cannot be read).
func (c *Cluster) PID() int {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// Stop stops the server (fast shutdown: sessions are ended, the data is
// flushed) and removes its folder.
func (c *Cluster) Stop(ctx context.Context) error {
	var err error
	if _, statErr := os.Stat(filepath.Join(c.data(), "postmaster.pid")); statErr == nil {
		var out string
		if out, err = c.run(ctx, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
			err = fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(out))
		}
	}
	if rerr := os.RemoveAll(c.Dir); err == nil && rerr != nil {
		err = rerr
	}
	return err
}
