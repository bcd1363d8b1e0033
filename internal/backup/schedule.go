package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Schedule makes a backup of a data folder every Interval, each into a new
// folder of Dir based on the newest earlier one (its bodies hard-linked,
// so that only new mail is copied), and keeps the Keep newest. The server
// runs one when YUBIN_BACKUP_DIR is set.
type Schedule struct {
	DataDir      string
	Dir          string
	Interval     time.Duration
	Keep         int
	YubinVersion string
	Logger       *slog.Logger
	// Exclude lists more files and folders of the data folder to leave out
	// (see Options.Exclude); Dir is always left out.
	Exclude []string

	mu     sync.Mutex
	status Status
}

// Status is what a Schedule has done.
type Status struct {
	// LastSuccess is the snapshot time of the newest complete backup in
	// Dir (zero if none), LastPath its folder, LastBytes its size.
	LastSuccess time.Time
	LastPath    string
	LastBytes   int64
	// LastError is the error of the latest attempt if it failed ("" if it
	// succeeded); Failures counts failed attempts since the start.
	LastError string
	Failures  int
	// Next is when the next backup is due.
	Next time.Time
}

// namePrefix starts the name of every scheduled backup folder.
const namePrefix = "yubin-backup-"

// retryAfter is how soon a failed scheduled backup is tried again (or
// Interval, if shorter).
const retryAfter = time.Hour

// Status returns what the schedule has done so far.
func (s *Schedule) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Schedule) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Run makes the backups until ctx ends. The first is due Interval after
// the newest complete backup in Dir (at once if there is none), so that a
// restart does not make one more.
func (s *Schedule) Run(ctx context.Context) {
	next := time.Now()
	if all, err := s.list(); err != nil {
		s.log().Error("scheduled backups: cannot list earlier backups", "dir", s.Dir, "err", err)
	} else if len(all) > 0 {
		newest := all[0]
		s.mu.Lock()
		s.status.LastSuccess, s.status.LastPath, s.status.LastBytes = newest.m.Snapshot, newest.path, newest.m.Bytes
		s.mu.Unlock()
		next = newest.m.Snapshot.Add(s.Interval)
	}
	for {
		s.mu.Lock()
		s.status.Next = next
		s.mu.Unlock()
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := s.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = time.Now().Add(min(s.Interval, retryAfter))
			continue
		}
		next = time.Now().Add(s.Interval)
	}
}

// RunOnce makes one backup now, removes the backups beyond the Keep newest
// and the incomplete ones, and logs the outcome.
func (s *Schedule) RunOnce(ctx context.Context) (*Manifest, error) {
	m, path, err := s.runOnce(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.LastError = err.Error()
		s.status.Failures++
		if ctx.Err() == nil {
			s.log().Error("scheduled backup failed", "dir", s.Dir, "err", err)
		}
		return nil, err
	}
	s.status.LastError = ""
	s.status.LastSuccess, s.status.LastPath, s.status.LastBytes = m.Snapshot, path, m.Bytes
	s.log().Info("scheduled backup written", "path", path, "messages", m.Messages, "blobs", len(m.Blobs),
		"new", m.Linked+m.Copied, "bytes", m.Bytes, "took", m.Finished.Sub(m.Started).Round(time.Millisecond))
	return m, nil
}

func (s *Schedule) runOnce(ctx context.Context) (*Manifest, string, error) {
	dir, err := filepath.Abs(s.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("scheduled backup: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("scheduled backup: %w", err)
	}
	earlier, err := s.list()
	if err != nil {
		return nil, "", fmt.Errorf("scheduled backup: %w", err)
	}
	var dest string
	for t := time.Now().UTC(); ; t = t.Add(time.Millisecond) {
		dest = filepath.Join(dir, namePrefix+t.Format("20060102T150405.000Z"))
		if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	opts := Options{DataDir: s.DataDir, Dest: dest, Exclude: append([]string{dir}, s.Exclude...), YubinVersion: s.YubinVersion, Logger: s.log()}
	if len(earlier) > 0 {
		opts.Base = earlier[0].path
	}
	m, err := Create(ctx, opts)
	if err != nil {
		return nil, dest, err
	}
	s.prune(dest)
	return m, dest, nil
}

// backupDir is a complete backup in the schedule's folder.
type backupDir struct {
	path string
	m    *Manifest
}

// list returns the complete scheduled backups in Dir, newest first.
func (s *Schedule) list() ([]backupDir, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []backupDir
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), namePrefix) {
			continue
		}
		p := filepath.Join(s.Dir, e.Name())
		if m, err := ReadManifest(p); err == nil {
			out = append(out, backupDir{path: p, m: m})
		}
	}
	slices.SortFunc(out, func(a, b backupDir) int { return b.m.Snapshot.Compare(a.m.Snapshot) })
	return out, nil
}

// prune removes the complete backups beyond the Keep newest, and the
// incomplete ones (left by a crash or a failed run) other than current.
func (s *Schedule) prune(current string) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		s.log().Warn("scheduled backups: cannot list old backups", "dir", s.Dir, "err", err)
		return
	}
	complete, err := s.list()
	if err != nil {
		s.log().Warn("scheduled backups: cannot list old backups", "dir", s.Dir, "err", err)
		return
	}
	keep := map[string]bool{}
	for i, b := range complete {
		if i < max(s.Keep, 1) {
			keep[filepath.Base(b.path)] = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, namePrefix) || keep[name] || name == filepath.Base(current) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.Dir, name)); err != nil {
			s.log().Warn("scheduled backups: cannot remove an old backup", "path", filepath.Join(s.Dir, name), "err", err)
			continue
		}
		s.log().Info("removed an old backup", "path", filepath.Join(s.Dir, name))
	}
}
