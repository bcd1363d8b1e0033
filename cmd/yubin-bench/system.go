package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// system is one mail system under test, seen from outside: Yubin, or
// Postfix and Dovecot (the classic stack). Every scenario drives both with
// the same clients over the same kind of socket.
type system interface {
	// Name is how the report calls it.
	Name() string
	// Addr is the plain-TCP address of "smtp", "imap" or "pop3".
	Addr(protocol string) string
	// Meter measures every process of the system.
	Meter() meter
	// Restart stops the whole system and starts it again on the same data.
	Restart(ctx context.Context) error
	// Problems returns warnings and errors the system logged.
	Problems() []string
	// Stop stops it for good.
	Stop() error
}

// yubinSystem is a `yubin serve` process, restarted by start.
type yubinSystem struct {
	// name is how the report calls it: "Yubin", or with an anchor that is
	// Yubin too, what tells the two apart ("Yubin on PostgreSQL").
	name  string
	srv   *server
	start func() (*server, error)
	// database returns the processes of a database server of its own
	// (PostgreSQL's postmaster, the parent of its server processes),
	// counted with the server's; nil for SQLite, which is in the process.
	database func() []int
	// problems of the processes already stopped
	old []string
}

func (y *yubinSystem) Name() string                { return y.name }
func (y *yubinSystem) Addr(protocol string) string { return y.srv.Addr(protocol) }
func (y *yubinSystem) Meter() meter {
	pid, database := y.srv.pid, y.database
	return meter{roots: func() []int {
		roots := []int{pid}
		if database != nil {
			roots = append(roots, database()...)
		}
		return roots
	}}
}

func (y *yubinSystem) Restart(context.Context) error {
	if err := y.srv.Stop(); err != nil {
		return err
	}
	y.old = append(y.old, y.srv.Problems()...)
	s, err := y.start()
	if err != nil {
		return err
	}
	y.srv = s
	return nil
}

func (y *yubinSystem) Problems() []string { return append(y.old, y.srv.Problems()...) }
func (y *yubinSystem) Stop() error        { return y.srv.Stop() }

// meter measures the CPU time and memory of a group of processes: roots
// and all their descendants at the moment of the reading. A child that
// has exited and been waited for has its CPU time in its parent's
// cutime/cstime, so the sum over the living tree counts it too.
type meter struct {
	roots func() []int
}

// pidMeter measures one process and its children.
func pidMeter(pid int) meter { return meter{roots: func() []int { return []int{pid} }} }

// procInfo is what /proc/PID/stat says of one process.
type procInfo struct {
	ppid int
	cpu  time.Duration // utime+stime+cutime+cstime
	sys  time.Duration // stime+cstime
}

func readProcStat(pid int) (procInfo, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] ppid; utime is field 14 = f[11].
	if len(f) < 15 {
		return procInfo{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var n [4]int64
	for k := range n {
		if n[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return procInfo{}, fmt.Errorf("bad /proc/%d/stat", pid)
		}
	}
	ppid, _ := strconv.Atoi(f[1])
	tick := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	return procInfo{ppid: ppid, cpu: tick(n[0] + n[1] + n[2] + n[3]), sys: tick(n[1] + n[3])}, nil
}

// tree returns the roots and their descendants, with their stat.
func (m meter) tree() map[int]procInfo {
	all := map[int]procInfo{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pi, err := readProcStat(pid); err == nil {
			all[pid] = pi
		}
	}
	out := map[int]procInfo{}
	var add func(pid int)
	add = func(pid int) {
		pi, ok := all[pid]
		if !ok {
			return
		}
		if _, seen := out[pid]; seen {
			return
		}
		out[pid] = pi
		for c, ci := range all {
			if ci.ppid == pid {
				add(c)
			}
		}
	}
	for _, r := range m.roots() {
		add(r)
	}
	return out
}

// cpu returns the user+system CPU time of the whole group, and the system
// part of it.
func (m meter) cpu() (total, sys time.Duration) {
	for _, pi := range m.tree() {
		total += pi.cpu
		sys += pi.sys
	}
	return total, sys
}

// cpuTotal is cpu's total alone.
func (m meter) cpuTotal() time.Duration {
	t, _ := m.cpu()
	return t
}

// memSample is the memory of a group of processes, in KiB.
type memSample struct {
	RSS   int64 // sum of VmRSS: counts pages shared between the processes once per process
	PSS   int64 // sum of Pss: each shared page divided among its sharers
	Procs int
}

// mem reads the group's memory.
func (m meter) mem() memSample {
	var s memSample
	for pid := range m.tree() {
		rss, err := procRSS(pid)
		if err != nil {
			continue
		}
		s.RSS += rss
		s.PSS += procPSS(pid, rss)
		s.Procs++
	}
	return s
}

// procPSS returns Pss from /proc/PID/smaps_rollup, or fallback.
func procPSS(pid int, fallback int64) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return fallback
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return n
				}
			}
		}
	}
	return fallback
}

// fsyncRate measures how many small synchronous writes per second the
// disk under dir takes: a 4 KiB write and an fdatasync, again and again,
// for d. A mail server that promises durability pays one of these (or a
// batch's share of one) per message, so it bounds intake.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.WriteAt(buf, int64(n%256)*4096); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
