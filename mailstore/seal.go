package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// SealStatus counts the bodies of a blob folder by whether they are
// encrypted at rest.
type SealStatus struct {
	// Bodies is the number of bodies found.
	Bodies int
	// Sealed is the number of encrypted ones.
	Sealed int
	// Plain is the number still in plaintext.
	Plain int
	// PlainBytes is the size of the plaintext ones.
	PlainBytes int64
	// Unreferenced counts plaintext bodies no message references (left
	// behind by a crash, or being written right now): they are not sealed,
	// the orphan sweep removes them.
	Unreferenced int
}

// ErrNotSealable is returned when the store cannot encrypt bodies at rest:
// no encryption key is configured, or the blob store is not a local folder.
var ErrNotSealable = errors.New("encryption at rest is not configured")

// sealingDir is where bodies being sealed are written before they replace
// the plaintext ones (inside the blob folder, so the rename stays on one
// filesystem; its name is no shard's, so the sweep never lists it).
const sealingDir = "sealing"

// staleSealing is how old a leftover file in sealingDir must be before it
// is removed (one left by a process killed while sealing).
const staleSealing = time.Hour

// SealStatus scans the blob folder and counts sealed and plaintext bodies.
// It reads only the first bytes of each body.
func (s *Store) SealStatus(ctx context.Context) (SealStatus, error) {
	fb, ok := s.files.(*FileBlobStore)
	if !ok {
		return SealStatus{}, fmt.Errorf("encryption status: %w", ErrNotSealable)
	}
	var st SealStatus
	err := fb.listBlobs(ctx, func(key string, _ time.Time) {
		sealed, size, err := fb.isSealed(key)
		if err != nil {
			return // removed meanwhile
		}
		st.Bodies++
		if sealed {
			st.Sealed++
		} else {
			st.Plain++
			st.PlainBytes += size
		}
	})
	if err != nil {
		return st, fmt.Errorf("encryption status: %w", err)
	}
	if err := s.inlineSealStatus(ctx, &st); err != nil {
		return st, fmt.Errorf("encryption status: %w", err)
	}
	return st, nil
}

// SealExisting encrypts every plaintext body that a message, a queued or
// a held message references, one at a time, while the store is in use:
// each sealed body is written beside, made durable and renamed over the
// plaintext one (then its folder is synced), so a reader sees either the
// old file or the new one, and a crash at any point loses nothing; running
// SealExisting again resumes (sealed bodies are skipped). progress, if not
// nil, is called after every chunk of bodies with the counts so far. It
// returns the counts of the pass; bodies that no committed metadata
// references are left alone (the one a delivery is still writing must not
// be replaced under it). One process on the database seals at a time:
// while another one does, it returns ErrJobRunning.
func (s *Store) SealExisting(ctx context.Context, progress func(SealStatus)) (SealStatus, error) {
	var st SealStatus
	err := s.exclusive(ctx, jobSealExisting, func() (err error) {
		st, err = s.sealExisting(ctx, progress)
		return err
	})
	return st, err
}

// sealExisting is SealExisting holding the job's lock.
func (s *Store) sealExisting(ctx context.Context, progress func(SealStatus)) (SealStatus, error) {
	fb, ok := s.files.(*FileBlobStore)
	if !ok || !fb.sealer.CanSeal() {
		return SealStatus{}, fmt.Errorf("encrypt bodies: %w", ErrNotSealable)
	}
	if err := fb.cleanSealing(); err != nil {
		return SealStatus{}, fmt.Errorf("encrypt bodies: %w", err)
	}
	var st SealStatus
	var plain []string
	if err := fb.listBlobs(ctx, func(key string, _ time.Time) {
		sealed, _, err := fb.isSealed(key)
		if err != nil {
			return
		}
		st.Bodies++
		if sealed {
			st.Sealed++
		} else {
			plain = append(plain, key)
		}
	}); err != nil {
		return st, fmt.Errorf("encrypt bodies: %w", err)
	}
	st.Plain = len(plain)
	tables, err := s.blobTables(s.db.WithContext(ctx))
	if err != nil {
		return st, err
	}
	// The bodies kept inline in the database first: each is sealed by an
	// UPDATE in a write transaction.
	var inline SealStatus
	if err := s.inlineSealStatus(ctx, &inline); err != nil {
		return st, fmt.Errorf("encrypt bodies: %w", err)
	}
	plainInline, err := s.plainInlineKeys(ctx)
	if err != nil {
		return st, fmt.Errorf("encrypt bodies: %w", err)
	}
	st.Bodies += inline.Bodies
	st.Sealed += inline.Sealed
	st.Plain += len(plainInline)
	sealedInline, err := s.sealInline(ctx, plainInline, tables, &st, progress)
	if err != nil {
		return st, err
	}
	if sealedInline > 0 {
		// The plaintext is gone from the rows (and zeroed, secure_delete);
		// a checkpoint takes it out of the WAL and the database file too.
		if err := s.dialect.Checkpoint(ctx, s.wdb); err != nil {
			s.log.Warn("checkpoint after encrypting inline bodies", "err", err)
		}
	}
	for chunk := range slices.Chunk(plain, sweepChunk) {
		referenced := map[string]bool{}
		for _, t := range tables {
			var keys []string
			if err := s.db.WithContext(ctx).Table(t).Where("blob_key IN ?", chunk).Distinct().Pluck("blob_key", &keys).Error; err != nil {
				return st, fmt.Errorf("encrypt bodies: %s: %w", t, err)
			}
			for _, k := range keys {
				referenced[k] = true
			}
		}
		for _, key := range chunk {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if !referenced[key] {
				st.Unreferenced++
				continue
			}
			n, err := fb.sealInPlace(key)
			if errors.Is(err, fs.ErrNotExist) {
				st.Plain-- // removed meanwhile
				st.Bodies--
				continue
			}
			if err != nil {
				return st, fmt.Errorf("encrypt bodies: %w", err)
			}
			if n >= 0 {
				st.Plain--
				st.Sealed++
			}
		}
		if progress != nil {
			progress(st)
		}
	}
	return st, nil
}

// isSealed reports whether the body under key is sealed, and its size on
// disk.
func (s *FileBlobStore) isSealed(key string) (bool, int64, error) {
	p, err := s.path(key)
	if err != nil {
		return false, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	sealed, err := fileIsSealed(f)
	if err != nil {
		return false, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	return sealed, fi.Size(), nil
}

// sealInPlace replaces the plaintext body under key with its sealed form
// and returns the plaintext size (-1 if it was sealed already). The sealed
// copy is written and fsynced under sealingDir, then renamed over the body
// and the shard folder is synced. A body deleted between the check and the
// rename comes back as an unreferenced file, which the orphan sweep
// removes later.
func (s *FileBlobStore) sealInPlace(key string) (int64, error) {
	return s.resealInPlace(key, s.sealer, false)
}

// resealInPlace is sealInPlace sealing with sealer; with fromServerKey, a
// body sealed to the store's own key is opened with it and sealed again
// (moving it to a user's key). A body it cannot open (sealed to a user's
// key already, or with no key to open it) is left alone (-1).
func (s *FileBlobStore) resealInPlace(key string, sealer *blobcrypt.Sealer, fromServerKey bool) (int64, error) {
	final, err := s.path(key)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(final)
	if err != nil {
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	defer f.Close()
	sealed, err := fileIsSealed(f)
	if err != nil {
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	var src io.Reader = f
	if sealed {
		if !fromServerKey {
			return -1, nil
		}
		fi, err := f.Stat()
		if err != nil {
			return 0, fmt.Errorf("seal blob %s: %w", key, err)
		}
		body, err := s.sealer.Open(f, fi.Size(), key)
		if errors.Is(err, blobcrypt.ErrLocked) || errors.Is(err, blobcrypt.ErrNoKey) {
			return -1, nil
		}
		if err != nil {
			return 0, fmt.Errorf("seal blob %s: %w", key, err)
		}
		defer body.Close()
		src = io.NewSectionReader(body, 0, body.Size())
	}
	tmpDir := filepath.Join(s.dir, sealingDir)
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(tmpDir, key+".*")
	if err != nil {
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	fail := func(err error) (int64, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	size, err := s.copyBody(tmp, src, key, sealer)
	if err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	if _, err := os.Stat(final); err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("seal blob %s: %w", key, err) // deleted meanwhile
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return 0, fmt.Errorf("seal blob %s: %w", key, err)
	}
	return size, nil
}

// cleanSealing removes what a process killed while sealing left in
// sealingDir (files older than staleSealing: younger ones may belong to a
// sealing pass running in another process).
func (s *FileBlobStore) cleanSealing() error {
	dir := filepath.Join(s.dir, sealingDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !strings.Contains(e.Name(), ".") {
			continue
		}
		if time.Since(fi.ModTime()) > staleSealing {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// ErrWrongKey is wrapped by CheckSealedBodies when the key given does not
// open the bodies sealed to the server key.
var ErrWrongKey = errors.New("the encryption key does not open the message bodies (were they sealed with another key file?)")

// CheckSealedBodies counts the sealed and plaintext bodies of the blob
// folder blobDir (a data folder's blobs, such as a restored backup's, and
// the bodies kept inline in the database beside it) and,
// with a sealer, checks that it opens the first few bodies sealed to a
// server key, so that a wrong or missing key is reported before a server
// serves unreadable mail. Bodies sealed to users' keys need their users'
// passwords and are not checked.
func CheckSealedBodies(ctx context.Context, blobDir string, sealer *blobcrypt.Sealer) (SealStatus, error) {
	fb := &FileBlobStore{dir: blobDir, sealer: sealer}
	var st SealStatus
	var sealed []string
	if err := fb.listBlobs(ctx, func(key string, _ time.Time) {
		s, size, err := fb.isSealed(key)
		if err != nil {
			return
		}
		st.Bodies++
		if s {
			st.Sealed++
			sealed = append(sealed, key)
		} else {
			st.Plain++
			st.PlainBytes += size
		}
	}); err != nil {
		return st, fmt.Errorf("check bodies: %w", err)
	}
	if err := checkSealedInline(ctx, databaseBeside(blobDir), sealer, &st); err != nil {
		return st, fmt.Errorf("check bodies: %w", err)
	}
	if sealer == nil {
		return st, nil
	}
	checked := 0
	for _, key := range sealed {
		if checked == 3 {
			break
		}
		b, err := fb.Open(ctx, key)
		switch {
		case err == nil:
			b.Close()
			checked++
		case errors.Is(err, ErrBodyLocked):
			// Sealed to a user's key.
		case errors.Is(err, ErrBodyCorrupt):
			return st, fmt.Errorf("body %s: %w", key, ErrWrongKey)
		default:
			return st, fmt.Errorf("check body %s: %w", key, err)
		}
	}
	return st, nil
}
