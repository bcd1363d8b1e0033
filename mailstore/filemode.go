package mailstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// privateFiles makes the database files private to the server's user,
// whatever the umask and the folder's mode: a missing database is created
// empty with mode 0600 (SQLite then gives its -wal and -shm files the same
// mode), and existing database files readable by others (made by an older
// version) are set to 0600.
func privateFiles(dbPath string) error {
	f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create %s: %w", dbPath, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create %s: %w", dbPath, err)
	}
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("make %s private: %w", p, err)
			}
		}
	}
	return nil
}

// warnIfShared logs a warning when other users may read or enter the data
// folder: the files in it are private, but their names are not, and a
// folder made by hand with mode 0755 is a mistake worth pointing out.
func warnIfShared(dir string, log *slog.Logger) {
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		abs, _ := filepath.Abs(dir)
		log.Warn(fmt.Sprintf("the data folder can be read by other users: run chmod 700 %s", abs), "data", abs, "mode", fmt.Sprintf("%04o", perm))
	}
}
