package mailstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// BlobStore keeps message bodies by key. Put must be durable when it returns.
// The local folder is one implementation; a shared object store can be
// another.
type BlobStore interface {
	// Put stores the bytes of r under a new key and returns the key and size.
	Put(ctx context.Context, r io.Reader) (key string, size int64, err error)
	// Open returns a reader over the body stored under key.
	Open(ctx context.Context, key string) (Blob, error)
	// Delete removes the body; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Blob is an open message body.
type Blob interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
	Size() int64
}

// FileBlobStore stores bodies as files below a folder, one file each, sharded
// by the key's first two hex digits.
type FileBlobStore struct {
	dir string
	tmp string
}

// NewFileBlobStore creates (if needed) and opens a blob folder.
func NewFileBlobStore(dir string) (*FileBlobStore, error) {
	s := &FileBlobStore{dir: dir, tmp: filepath.Join(dir, "tmp")}
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	created := false
	for i := 0; i < 256; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02x", i))
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(p, 0o700); err != nil {
				return nil, fmt.Errorf("create blob shard: %w", err)
			}
			created = true
		}
	}
	if created {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	// Leftovers of writes interrupted by a crash are never referenced.
	if entries, err := os.ReadDir(s.tmp); err == nil {
		for _, e := range entries {
			os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
	return s, nil
}

func newBlobKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func (s *FileBlobStore) path(key string) (string, error) {
	if len(key) != 32 {
		return "", fmt.Errorf("blob key %q: %w", key, errBadKey)
	}
	if _, err := hex.DecodeString(key); err != nil {
		return "", fmt.Errorf("blob key %q: %w", key, errBadKey)
	}
	return filepath.Join(s.dir, key[:2], key), nil
}

var errBadKey = errors.New("malformed blob key")

// Put writes r to a temporary file, fsyncs it, renames it into place and
// fsyncs the folder, so the body survives a crash once Put returns.
func (s *FileBlobStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	key := newBlobKey()
	final, _ := s.path(key)
	f, err := os.CreateTemp(s.tmp, key+"-*")
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmpName := f.Name()
	fail := func(err error) (string, int64, error) {
		f.Close()
		os.Remove(tmpName)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmpName)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	if err := os.Rename(tmpName, final); err != nil {
		os.Remove(tmpName)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	return key, n, nil
}

// Open opens the body stored under key.
func (s *FileBlobStore) Open(ctx context.Context, key string) (Blob, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	return &fileBlob{File: f, size: st.Size()}, nil
}

// Delete removes the body stored under key.
func (s *FileBlobStore) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}

type fileBlob struct {
	*os.File
	size int64
}

func (b *fileBlob) Size() int64 { return b.size }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
