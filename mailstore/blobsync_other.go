//go:build !linux

package mailstore

import (
	"fmt"
	"os"
	"path/filepath"
)

// syncFiles makes the given files and their directory entries durable, one
// fsync each.
func syncFiles(dir string, files []string) error {
	dirs := map[string]bool{}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}
