package backup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/yubinmail/yubin/mailstore"
)

// Verify reads every file of the backup folder dir back and checks its size
// and SHA-256 against the manifest, checks the database's integrity and
// that every body it references is in the backup. It returns the manifest,
// and an error naming the files that fail.
func Verify(ctx context.Context, dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, e := range m.entries() {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", e.Path, err))
		case size != e.Size || sum != e.SHA256:
			bad = append(bad, fmt.Sprintf("%s: %v (size %d, manifest %d)", e.Path, errMismatch, size, e.Size))
		}
	}
	if len(bad) > 0 {
		return m, verifyError(dir, bad)
	}
	contents, err := mailstore.ReadSnapshot(ctx, filepath.Join(dir, filepath.FromSlash(m.Database.Path)))
	if err != nil {
		return m, fmt.Errorf("verify backup %s: %w", dir, err)
	}
	for _, key := range contents.MissingInline {
		bad = append(bad, fmt.Sprintf("database references body %s, which it lacks", key))
	}
	listed := indexEntries(m.Blobs)
	for _, key := range contents.BlobKeys {
		rel, err := mailstore.BlobPath(mailstore.BlobsDir, key)
		if err != nil {
			bad = append(bad, fmt.Sprintf("database references %q: %v", key, err))
			continue
		}
		if _, ok := listed[filepath.ToSlash(rel)]; !ok {
			bad = append(bad, fmt.Sprintf("database references body %s, which the backup lacks", key))
		}
	}
	if len(bad) > 0 {
		return m, verifyError(dir, bad)
	}
	return m, nil
}

// ErrDamaged reports a backup whose files do not match its manifest.
var ErrDamaged = errors.New("backup is damaged")

func verifyError(dir string, bad []string) error {
	slices.Sort(bad)
	const show = 10
	more := ""
	if len(bad) > show {
		more = fmt.Sprintf("\n  ... and %d more", len(bad)-show)
		bad = bad[:show]
	}
	return fmt.Errorf("verify %s: %w: %d problems:\n  %s%s", dir, ErrDamaged, len(bad), strings.Join(bad, "\n  "), more)
}
