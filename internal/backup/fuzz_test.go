package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadManifest: a manifest ReadManifest accepts names only paths
// inside the backup folder, whatever the bytes; others are errors, never a
// panic.
func FuzzReadManifest(f *testing.F) {
	f.Add(`{"format":"yubin-backup","version":1,"database":{"path":"yubin.db","size":1,"sha256":"00"},"blobs":[{"path":"blobs/ab/ab00","size":2,"sha256":"11"}],"files":[]}`)
	f.Add(`{"format":"yubin-backup","version":1,"database":{"path":"../../etc/passwd"}}`)
	f.Add(`{"format":"yubin-backup","version":1,"database":{"path":"/etc/passwd"}}`)
	f.Add(`{"format":"yubin-backup","version":1,"database":{"path":"yubin.db"},"files":[{"path":"dkim/../../x"}]}`)
	f.Add(`{"format":"yubin-backup","version":2}`)
	f.Add(`{"format":"other","version":1}`)
	f.Add(`{`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, manifest string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(dir)
		if err != nil {
			return
		}
		for _, e := range m.entries() {
			if !filepath.IsLocal(filepath.FromSlash(e.Path)) {
				t.Fatalf("accepted a path outside the backup: %q", e.Path)
			}
		}
	})
}
