package mailstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// flushWrites runs an empty write, so that the inline bodies written and
// deleted so far are committed.
func flushWrites(t *testing.T, s *Store) {
	t.Helper()
	if err := s.write(context.Background(), func(*writeTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// blobFiles lists the bodies the store keeps: files of its blob folder and
// inline bodies (after a commit, so that deletions are applied).
func blobFiles(t *testing.T, s *Store) []string {
	t.Helper()
	flushWrites(t, s)
	var files []string
	if fb, ok := s.files.(*FileBlobStore); ok {
		err := filepath.WalkDir(fb.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := s.db.Model(&inlineBody{}).Pluck("body_key", &keys).Error; err != nil {
		t.Fatal(err)
	}
	return append(files, keys...)
}

// bodyExists reports whether the body under key is still kept (a file, or
// an inline body once committed).
func bodyExists(t *testing.T, s *Store, key string) bool {
	t.Helper()
	if IsInlineKey(key) {
		flushWrites(t, s)
		var n int64
		if err := s.db.Model(&inlineBody{}).Where("body_key = ?", key).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	p, err := s.files.(*FileBlobStore).path(key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(p)
	return err == nil
}

// storedBytes returns the body under key as stored (sealed or not).
func storedBytes(t *testing.T, s *Store, key string) []byte {
	t.Helper()
	if IsInlineKey(key) {
		flushWrites(t, s)
		var row inlineBody
		if err := s.db.Where("body_key = ?", key).Take(&row).Error; err != nil {
			t.Fatal(err)
		}
		return row.Data
	}
	p, _ := s.files.(*FileBlobStore).path(key)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// setStoredBytes replaces the body under key as stored (to damage it).
func setStoredBytes(t *testing.T, s *Store, key string, data []byte) {
	t.Helper()
	if IsInlineKey(key) {
		if err := s.write(context.Background(), func(tx *writeTx) error {
			return tx.Exec("UPDATE inline_bodies SET data = ? WHERE body_key = ?", data, key).Error
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	p, _ := s.files.(*FileBlobStore).path(key)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
