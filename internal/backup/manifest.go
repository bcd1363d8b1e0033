// Package backup makes, checks and restores online backups of a data
// folder: a consistent snapshot of the database, the message bodies it
// references (hard-linked where the backup shares the data folder's file
// system, copied and synced otherwise) and the folder's other files (DKIM
// and API keys, certificates), described by a manifest written last. The
// CLI (yubin backup, yubin restore) and the server's scheduled backups use
// it alike.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// ManifestFile is the manifest's name in a backup folder. A folder without
// it is an incomplete backup: it is written last.
const ManifestFile = "manifest.json"

// Format names the manifest format; Version is its version.
const (
	Format  = "yubin-backup"
	Version = 1
)

// Entry is one file of a backup, by its path relative to the backup
// folder (slash-separated, the same as in the data folder).
type Entry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes a complete backup.
type Manifest struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	YubinVersion string    `json:"yubin_version,omitempty"`
	Started      time.Time `json:"started"`  // when the backup began
	Snapshot     time.Time `json:"snapshot"` // when the database snapshot was taken
	Finished     time.Time `json:"finished"`
	// Messages counts the messages in the snapshot.
	Messages int64 `json:"messages"`
	// Bytes is the total size of every entry.
	Bytes int64 `json:"bytes"`
	// Linked, Copied and Reused count how the bodies got into this backup:
	// hard-linked, copied, or kept from the previous backup (--incremental,
	// --base).
	Linked   int     `json:"linked"`
	Copied   int     `json:"copied"`
	Reused   int     `json:"reused"`
	Database Entry   `json:"database"`
	Blobs    []Entry `json:"blobs"`
	Files    []Entry `json:"files"`
}

// entries returns the database, the bodies and the other files.
func (m *Manifest) entries() []Entry {
	out := make([]Entry, 0, 1+len(m.Blobs)+len(m.Files))
	out = append(out, m.Database)
	out = append(out, m.Blobs...)
	return append(out, m.Files...)
}

// ErrIncomplete reports a folder without a manifest: not a backup, or one
// that did not finish.
var ErrIncomplete = errors.New("no manifest: not a backup, or an incomplete one")

// ReadManifest reads and checks the manifest of the backup folder dir.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup %s: %w", dir, ErrIncomplete)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup %s: damaged manifest: %w", dir, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup %s: manifest format %q is not %q", dir, m.Format, Format)
	}
	if m.Version != Version {
		return nil, fmt.Errorf("backup %s: manifest version %d (this yubin reads version %d)", dir, m.Version, Version)
	}
	for _, e := range m.entries() {
		if !filepath.IsLocal(filepath.FromSlash(e.Path)) || e.Path == ManifestFile {
			return nil, fmt.Errorf("backup %s: manifest names a path outside the backup: %q", dir, e.Path)
		}
	}
	return &m, nil
}

// writeManifest writes the manifest durably: to a temporary file, synced,
// renamed into place, and the folder synced.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := writeFileSynced(tmp, b); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestFile)); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return mailstore.SyncDir(dir)
}

func writeFileSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// hashFile returns the size and SHA-256 of the file at path.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile copies src to dst (which must not exist) through a temporary
// file that is synced and renamed, so that a file under its final name is
// always whole. It returns the size and SHA-256 of what it copied; with
// want set, a copy whose hash differs is removed and an error.
func copyFile(src, dst string, want *Entry) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, "", err
	}
	fail := func(err error) (int64, string, error) {
		out.Close()
		os.Remove(tmp)
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err != nil {
		return fail(fmt.Errorf("copy %s: %w", src, err))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != nil && (n != want.Size || sum != want.SHA256) {
		return fail(fmt.Errorf("%s: %w (size %d, manifest %d)", want.Path, errMismatch, n, want.Size))
	}
	if err := out.Sync(); err != nil {
		return fail(fmt.Errorf("sync %s: %w", tmp, err))
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return 0, "", err
	}
	return n, sum, nil
}

var errMismatch = errors.New("content differs from the manifest's SHA-256")

// syncDirs syncs every folder in dirs, the deepest first, so that a folder
// is synced after the entries in it.
func syncDirs(dirs map[string]bool) error {
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, d := range sorted {
		if err := mailstore.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
