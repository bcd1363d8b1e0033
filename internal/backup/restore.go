package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/yubinmail/yubin/mailstore"
)

// ErrNotEmpty reports a restore into a data folder that holds something.
var ErrNotEmpty = errors.New("data folder is not empty")

// Restore copies the backup in src into the data folder dataDir, which
// must be empty or not exist, checking every file against the manifest as
// it copies. On failure it removes what it wrote, leaving dataDir empty.
func Restore(ctx context.Context, src, dataDir string) (_ *Manifest, err error) {
	created := false
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		created = true
	case err != nil:
		return nil, fmt.Errorf("restore: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("restore into %s: %w (restore only into a new or empty folder)", dataDir, ErrNotEmpty)
	}
	m, err := ReadManifest(src)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			cleanFolder(dataDir)
		}
	}()
	dirs := map[string]bool{dataDir: true}
	if created {
		dirs[filepath.Dir(dataDir)] = true
	}
	for _, e := range m.entries() {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		rel := filepath.FromSlash(e.Path)
		dst := filepath.Join(dataDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		for d := filepath.Dir(dst); len(d) > len(dataDir); d = filepath.Dir(d) {
			dirs[d] = true
		}
		want := e
		if _, _, err := copyFile(filepath.Join(src, rel), dst, &want); err != nil {
			return m, fmt.Errorf("restore from %s: %w", src, err)
		}
	}
	contents, err := mailstore.ReadSnapshot(ctx, filepath.Join(dataDir, mailstore.DatabaseFile))
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if len(contents.MissingInline) > 0 {
		return m, fmt.Errorf("restore: database references body %s, which it lacks: %w", contents.MissingInline[0], ErrDamaged)
	}
	listed := indexEntries(m.Blobs)
	for _, key := range contents.BlobKeys {
		rel, err := mailstore.BlobPath(mailstore.BlobsDir, key)
		if err != nil {
			return m, fmt.Errorf("restore: database references %q: %w", key, err)
		}
		if _, ok := listed[filepath.ToSlash(rel)]; !ok {
			return m, fmt.Errorf("restore: database references body %s, which the backup lacks: %w", key, ErrDamaged)
		}
	}
	if err := syncDirs(dirs); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// cleanFolder removes everything in dir (which Restore found empty).
func cleanFolder(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// HoldQueue holds the outbound queue of the data folder dataDir, just
// restored: its messages may have been delivered after the backup was
// taken, and an admin decides which to release. It returns how many
// messages it held.
func HoldQueue(ctx context.Context, dataDir string) (int64, error) {
	n, err := mailstore.HoldRestoredQueue(ctx, filepath.Join(dataDir, mailstore.DatabaseFile))
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return n, nil
}
