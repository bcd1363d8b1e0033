//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on DATA/yubin.lock so that a second
// `yubin serve` on the same folder refuses to start (the admin commands do
// not take it: they may run beside the server). The kernel drops the lock
// when the process dies, however it dies.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "yubin.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another yubin serve is already running on %s", dir)
		}
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { f.Close() }, nil
}

// privateUmask makes every file and folder the process creates private to
// its user (0600 and 0700 at most), whatever mode a library asks for.
func privateUmask() { syscall.Umask(0o077) }
