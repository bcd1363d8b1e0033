package mailstore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFiles makes the given files (and their directory entries) durable. On
// Linux one syncfs(2) of the blob folder's filesystem flushes them all at
// once, which is what lets many concurrent deliveries share one flush.
func syncFiles(dir string, files []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
