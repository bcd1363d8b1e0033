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
	"time"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore"
)

// Options says what Create backs up and where.
type Options struct {
	// DataDir is the data folder (of a running server or not).
	DataDir string
	// Dest is the backup folder: new, empty, or (with Incremental) holding
	// an earlier backup that is brought up to date.
	Dest string
	// Incremental keeps the bodies already in Dest and copies only the
	// others.
	Incremental bool
	// Base is an earlier complete backup whose bodies are hard-linked (or
	// copied) into Dest instead of being read from the data folder.
	Base string
	// Copy copies every body even where a hard link would do, so that the
	// backup shares no file with the data folder.
	Copy bool
	// Verify reads every file of the finished backup back and checks it
	// against the manifest.
	Verify bool
	// Exclude lists files and folders inside DataDir that are not backed
	// up (a backup folder kept in the data folder, the encryption key).
	Exclude []string
	// YubinVersion is recorded in the manifest.
	YubinVersion string
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger

	// afterSnapshot, if set, runs after each database snapshot (tests).
	afterSnapshot func(attempt int)
}

// maxSnapshots bounds how often Create takes a new snapshot because bodies
// the previous one referenced were deleted (expunged) before it could copy
// them.
const maxSnapshots = 5

// skipped are the names in the data folder that are not copied as plain
// files: the database (snapshotted), the bodies (taken from the snapshot's
// references), the lock and the SMTP spool (transient).
var skipped = []string{
	mailstore.DatabaseFile, mailstore.DatabaseFile + "-wal", mailstore.DatabaseFile + "-shm",
	mailstore.DatabaseFile + "-journal", mailstore.DatabaseFile + db.LocksSuffix, mailstore.BlobsDir, "yubin.lock", "spool",
}

// Create makes a backup of opts.DataDir in opts.Dest while the server may
// be running, and returns its manifest.
//
// The database is snapshotted first; then every body the snapshot
// references is brought into Dest. Bodies are immutable once written, but
// a message expunged after the snapshot has its body deleted: if a body is
// gone when Create reaches it, it takes a new snapshot (which no longer
// references it) and brings in what that one references, keeping what it
// has already linked or copied. The manifest is written last; a folder
// without one is an incomplete backup.
func Create(ctx context.Context, opts Options) (*Manifest, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, mailstore.DatabaseFile)); err != nil {
		return nil, fmt.Errorf("backup: no Yubin database in %s: %w", opts.DataDir, err)
	}
	c := &creator{opts: opts, log: log, dirs: map[string]bool{}, noLink: opts.Copy,
		m: &Manifest{Format: Format, Version: Version, YubinVersion: opts.YubinVersion, Started: time.Now().UTC(), Blobs: []Entry{}, Files: []Entry{}}}
	if err := c.prepareDest(); err != nil {
		return nil, err
	}
	if opts.Base != "" {
		base, err := ReadManifest(opts.Base)
		if err != nil {
			return nil, fmt.Errorf("backup: --base: %w", err)
		}
		c.base = indexEntries(base.Blobs)
	}
	contents, err := c.snapshotAndBlobs(ctx)
	if err != nil {
		return nil, err
	}
	c.m.Messages = contents.Messages
	if err := c.removeStale(contents.BlobKeys); err != nil {
		return nil, err
	}
	if err := c.copyFiles(ctx); err != nil {
		return nil, err
	}
	if err := c.syncDirs(); err != nil {
		return nil, err
	}
	for _, e := range c.m.entries() {
		c.m.Bytes += e.Size
	}
	c.m.Finished = time.Now().UTC()
	if err := writeManifest(opts.Dest, c.m); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	log.Info("backup written", "dest", opts.Dest, "messages", c.m.Messages, "blobs", len(c.m.Blobs),
		"linked", c.m.Linked, "copied", c.m.Copied, "reused", c.m.Reused, "files", len(c.m.Files), "bytes", c.m.Bytes,
		"took", c.m.Finished.Sub(c.m.Started).Round(time.Millisecond))
	if opts.Verify {
		if _, err := Verify(ctx, opts.Dest); err != nil {
			return c.m, err
		}
	}
	return c.m, nil
}

type creator struct {
	opts     Options
	log      *slog.Logger
	m        *Manifest
	previous map[string]Entry // Dest's earlier manifest (Incremental)
	base     map[string]Entry // Base's manifest
	noLink   bool             // hard links failed once: copy from then on
	dirs     map[string]bool  // folders in Dest to sync before the manifest
}

func indexEntries(es []Entry) map[string]Entry {
	m := make(map[string]Entry, len(es))
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

// prepareDest creates Dest or checks that it may be written: empty, or
// (Incremental) an earlier backup, whose manifest is removed first so that
// the folder counts as incomplete until the new one is written.
func (c *creator) prepareDest() error {
	dest := c.opts.Dest
	entries, err := os.ReadDir(dest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dest, 0o700); err != nil {
			return fmt.Errorf("backup: create %s: %w", dest, err)
		}
		c.dirs[filepath.Dir(filepath.Clean(dest))] = true
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(entries) == 0:
		return nil
	case !c.opts.Incremental:
		return fmt.Errorf("backup: %s is not empty (use --incremental to update the backup in it)", dest)
	}
	if prev, err := ReadManifest(dest); err == nil {
		c.previous = indexEntries(prev.Blobs)
		if err := os.Remove(filepath.Join(dest, ManifestFile)); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := mailstore.SyncDir(dest); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	} else if !errors.Is(err, ErrIncomplete) {
		return fmt.Errorf("backup: --incremental: %w", err)
	}
	return nil
}

// snapshotAndBlobs snapshots the database into Dest and brings in every
// body it references, taking a new snapshot when bodies were deleted
// meanwhile.
func (c *creator) snapshotAndBlobs(ctx context.Context) (mailstore.SnapshotContents, error) {
	dbPath := filepath.Join(c.opts.Dest, mailstore.DatabaseFile)
	done := map[string]Entry{}
	for attempt := 1; ; attempt++ {
		tmp := dbPath + ".tmp"
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return mailstore.SnapshotContents{}, fmt.Errorf("backup: %w", err)
		}
		c.m.Snapshot = time.Now().UTC()
		if err := mailstore.SnapshotDatabase(ctx, c.opts.DataDir, tmp); err != nil {
			return mailstore.SnapshotContents{}, fmt.Errorf("backup: %w", err)
		}
		if c.opts.afterSnapshot != nil {
			c.opts.afterSnapshot(attempt)
		}
		contents, err := mailstore.ReadSnapshot(ctx, tmp)
		if err != nil {
			return contents, fmt.Errorf("backup: %w", err)
		}
		var gone []string
		c.m.Blobs = c.m.Blobs[:0]
		for _, key := range contents.BlobKeys {
			if err := ctx.Err(); err != nil {
				return contents, err
			}
			e, ok := done[key]
			if !ok {
				e, err = c.blob(key)
				if errors.Is(err, fs.ErrNotExist) {
					gone = append(gone, key)
					continue
				}
				if err != nil {
					return contents, fmt.Errorf("backup: %w", err)
				}
				done[key] = e
			}
			c.m.Blobs = append(c.m.Blobs, e)
		}
		if len(gone) == 0 {
			if err := os.Rename(tmp, dbPath); err != nil {
				return contents, fmt.Errorf("backup: %w", err)
			}
			size, sum, err := hashFile(dbPath)
			if err != nil {
				return contents, fmt.Errorf("backup: %w", err)
			}
			c.m.Database = Entry{Path: mailstore.DatabaseFile, Size: size, SHA256: sum}
			c.dirs[c.opts.Dest] = true
			return contents, nil
		}
		if attempt == maxSnapshots {
			return contents, fmt.Errorf("backup: %d message bodies were deleted after each of %d snapshots (mail being expunged faster than it can be backed up); try again", len(gone), attempt)
		}
		c.log.Info("message bodies were deleted after the database snapshot (messages expunged meanwhile): taking a new snapshot",
			"deleted", len(gone), "attempt", attempt)
	}
}

// blob brings the body under key into Dest and returns its entry. An error
// wrapping fs.ErrNotExist means the data folder no longer has it.
func (c *creator) blob(key string) (Entry, error) {
	rel, err := mailstore.BlobPath(mailstore.BlobsDir, key)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Path: filepath.ToSlash(rel)}
	dst := filepath.Join(c.opts.Dest, rel)
	src := filepath.Join(c.opts.DataDir, rel)
	// A body is never changed in place, but it may be replaced whole under
	// its key (sealed by encryption at rest): an earlier backup's copy of
	// another size is stale and taken again from the data folder. One the
	// data folder no longer has (expunged since the snapshot) is kept.
	live, liveErr := os.Stat(src)
	current := func(size int64) bool { return liveErr != nil || live.Size() == size }
	// Already in Dest (an earlier backup there, or an earlier snapshot of
	// this one): files appear under their final name only when whole.
	if fi, err := os.Stat(dst); err == nil {
		if current(fi.Size()) {
			c.m.Reused++
			if prev, ok := c.previous[e.Path]; ok && prev.Size == fi.Size() {
				return prev, nil
			}
			if e.Size, e.SHA256, err = hashFile(dst); err != nil {
				return e, err
			}
			return e, nil
		}
		if err := os.Remove(dst); err != nil {
			return e, err
		}
	}
	if err := c.mkdir(filepath.Dir(dst)); err != nil {
		return e, err
	}
	if prev, ok := c.base[e.Path]; ok && current(prev.Size) {
		from := filepath.Join(c.opts.Base, rel)
		if c.link(from, dst) {
			c.m.Reused++
			return prev, nil
		}
		if e.Size, e.SHA256, err = copyFile(from, dst, &prev); err == nil {
			c.m.Reused++
			return e, nil
		}
		// A damaged or missing file in the base: take it from the data folder.
	}
	if c.link(src, dst) {
		// Hash what was linked: the file in Dest is the same inode.
		if e.Size, e.SHA256, err = hashFile(dst); err != nil {
			return e, err
		}
		c.m.Linked++
		return e, nil
	}
	if e.Size, e.SHA256, err = copyFile(src, dst, nil); err != nil {
		return e, err
	}
	c.m.Copied++
	return e, nil
}

// link hard-links src to dst and reports whether it did. After the first
// failure for another reason than a missing source (another file system,
// links not permitted), it copies from then on.
func (c *creator) link(src, dst string) bool {
	if c.noLink {
		return false
	}
	err := os.Link(src, dst)
	if err == nil {
		return true
	}
	if !errors.Is(err, fs.ErrNotExist) {
		c.noLink = true
		c.log.Debug("hard links unavailable, copying bodies", "err", err)
	}
	return false
}

func (c *creator) mkdir(dir string) error {
	if c.dirs[dir] {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c.dirs[dir] = true
	c.dirs[filepath.Dir(dir)] = true
	return nil
}

// removeStale deletes the bodies in Dest that the snapshot does not
// reference (left from the earlier backup an incremental one updates).
func (c *creator) removeStale(keys []string) error {
	root := filepath.Join(c.opts.Dest, mailstore.BlobsDir)
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if d.IsDir() {
			return nil
		}
		if _, found := slices.BinarySearch(keys, d.Name()); found {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("backup: remove stale body: %w", err)
		}
		c.dirs[filepath.Dir(path)] = true
		return nil
	})
}

// copyFiles copies the data folder's other files (DKIM keys, the API
// signing key, certificates, the node ID): small files that may be
// replaced while the server runs, so they are copied rather than linked.
func (c *creator) copyFiles(ctx context.Context) error {
	dataDir := filepath.Clean(c.opts.DataDir)
	excluded := func(path string) bool {
		for _, x := range append(slices.Clone(c.opts.Exclude), c.opts.Dest, c.opts.Base) {
			if x == "" {
				continue
			}
			if same(path, x) {
				return true
			}
		}
		return false
	}
	return filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return fmt.Errorf("backup: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == dataDir {
			return nil
		}
		rel, err := filepath.Rel(dataDir, path)
		if err != nil {
			return err
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if slices.Contains(skipped, top) || excluded(path) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasSuffix(path, ".tmp") {
			return nil
		}
		dst := filepath.Join(c.opts.Dest, rel)
		if err := c.mkdir(filepath.Dir(dst)); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		os.Remove(dst) // an earlier backup's copy
		size, sum, err := copyFile(path, dst, nil)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		c.m.Files = append(c.m.Files, Entry{Path: filepath.ToSlash(rel), Size: size, SHA256: sum})
		return nil
	})
}

// same reports whether a and b name the same file or folder.
func same(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// syncDirs makes the names of everything linked or copied durable.
func (c *creator) syncDirs() error {
	if err := syncDirs(c.dirs); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
