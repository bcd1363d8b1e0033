package main

// Yubin as its own anchor: --against yubin-postgres (the same binary on
// SQLite and on PostgreSQL) and --against yubin:PATH (two binaries, both
// on SQLite). The second Yubin is a yubinSystem like the first, on a data
// folder of its own with the same domain and users, and goes through the
// same rounds, alternation and report as the classic stack does.

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/yubinmail/yubin/internal/pgcluster"
	"github.com/yubinmail/yubin/internal/vcsinfo"
)

// postgresSettings are what the benchmark's PostgreSQL gets on top of
// pgcluster's (127.0.0.1, fsync, synchronous_commit and full_page_writes
// on, max_connections 400) and PostgreSQL's defaults: memory for a
// dedicated database on a machine of a few GiB.
var postgresSettings = []string{
	"shared_buffers = 512MB",
	"effective_cache_size = 4GB",
	"wal_buffers = 16MB",
	"max_wal_size = 2GB",
}

// setUpYubin creates the benchmark's domain and users on data with the
// admin CLI of bin (env: the database, if not SQLite). Every command runs;
// the errors are returned together.
func setUpYubin(ctx context.Context, bin, data string, env []string) error {
	cmds := [][]string{{"domain", "add", domain}}
	for _, u := range benchUsers {
		cmds = append(cmds, []string{"user", "add", u, "--password", password})
	}
	var errs []error
	for _, args := range cmds {
		if err := admin(ctx, bin, data, env, args...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// yubinName names a yubin binary by the commit it was built from, as Go
// recorded it ("Yubin 56827bd", "-dirty" when the tree had changes), or by
// its path when it does not say.
func yubinName(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "Yubin " + bin
	}
	return nameFromBuild(info, bin)
}

// nameFromBuild is yubinName for a binary whose build information is info.
func nameFromBuild(info *debug.BuildInfo, bin string) string {
	rev, modified := vcsinfo.Revision(info)
	dirty := ""
	if modified {
		dirty = "-dirty"
	}
	if rev == "" {
		return "Yubin " + bin
	}
	return "Yubin " + rev[:min(7, len(rev))] + dirty
}

// startOtherYubin starts the anchor of --against yubin-postgres or
// yubin:PATH on a data folder of its own, data: for yubin-postgres the
// binary bin on a new database of a PostgreSQL server it starts, for
// yubin:PATH the binary at PATH on SQLite. first is the name of the system
// it is compared with; start starts a server. stop stops the server and
// then the database server, and records what they logged.
func startOtherYubin(ctx context.Context, o *options, rep *report, first, bin, data string,
	start func(bin, data string, env ...string) (*server, error)) (sys *yubinSystem, stop func(), err error) {
	var env []string
	var cluster *pgcluster.Cluster
	stopCluster := func() {
		if cluster == nil {
			return
		}
		if err := cluster.Stop(context.Background()); err != nil {
			rep.problem("stopping PostgreSQL: %v", err)
		}
	}
	y := &yubinSystem{}
	if o.otherYubin != "" {
		bin = o.otherYubin
		y.name = yubinName(bin)
		if y.name == first {
			y.name += " (" + bin + ")"
		}
		rep.anchorSoftware = fmt.Sprintf("%s: the binary %s, on SQLite like %s", y.name, bin, first)
	} else {
		y.name = "Yubin on PostgreSQL"
		// The cluster's owner (the postgres user when this is root) must
		// enter its folder: a folder of its own in the temporary folder,
		// whose parents are open to all.
		dir, err := os.MkdirTemp("", "yubin-bench-pg-")
		if err != nil {
			return nil, nil, err
		}
		o.logf("starting PostgreSQL in %s", dir)
		if cluster, err = pgcluster.Start(ctx, dir, pgcluster.Options{Durable: true, Settings: postgresSettings}); err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("PostgreSQL for --against yubin-postgres: %w", err)
		}
		dsn, err := cluster.CreateDatabase(ctx, "yubin_bench")
		if err != nil {
			stopCluster()
			return nil, nil, err
		}
		env = []string{"YUBIN_DATABASE=" + dsn}
		y.database = func() []int {
			if pid := cluster.PID(); pid > 0 {
				return []int{pid}
			}
			return nil
		}
		rep.anchorSoftware = fmt.Sprintf("%s: the same binary with YUBIN_DATABASE on a new database of %s (Debian's binaries in %s), started by yubin-bench in a temporary folder on the same file system as SQLite's (%s), listening on 127.0.0.1:%d; postgresql.conf beside initdb's defaults: `%s`; the PostgreSQL processes count in %s's CPU and memory",
			y.name, cluster.Version, cluster.Bin, filepath.Dir(dir), cluster.Port, strings.Join(cluster.Conf, "`, `"), y.name)
		o.logf("PostgreSQL: %s on 127.0.0.1:%d (postmaster pid %d)", cluster.Version, cluster.Port, cluster.PID())
	}
	if err := setUpYubin(ctx, bin, data, env); err != nil {
		stopCluster()
		return nil, nil, fmt.Errorf("%s: %w", y.name, err)
	}
	y.start = func() (*server, error) { return start(bin, data, env...) }
	if y.srv, err = y.start(); err != nil {
		stopCluster()
		return nil, nil, fmt.Errorf("%s: %w", y.name, err)
	}
	rep.anchor = y.name
	stop = func() {
		if y.srv != nil {
			if err := y.srv.Stop(); err != nil {
				rep.problem("stopping %s: %v", y.name, err)
			}
		}
		rep.anchorProblems = y.Problems()
		stopCluster()
	}
	return y, stop, nil
}
