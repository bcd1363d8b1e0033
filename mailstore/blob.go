package mailstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
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

// BatchSyncer is implemented by blob stores that can make many new bodies
// durable with one flush. The store then writes bodies unsynced and flushes
// once per group commit, before the metadata that references them.
type BatchSyncer interface {
	// PutUnsynced is Put without the durability guarantee.
	PutUnsynced(ctx context.Context, r io.Reader) (key string, size int64, err error)
	// Sync makes every body written by PutUnsynced so far durable.
	Sync(ctx context.Context) error
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
// by the key's first two hex digits. With a sealer (encryption at rest),
// every new body is sealed (see package blobcrypt) and Open reads sealed
// and plaintext bodies alike, so that a store can be migrated while in use.
type FileBlobStore struct {
	dir    string
	sealer *blobcrypt.Sealer // nil: bodies are written in plaintext

	mu      sync.Mutex
	pending []string // written by PutUnsynced, not yet synced
	syncMu  sync.Mutex
}

// NewFileBlobStore creates (if needed) and opens a blob folder. With a
// non-nil sealer the bodies are encrypted at rest.
func NewFileBlobStore(dir string, sealer *blobcrypt.Sealer) (*FileBlobStore, error) {
	s := &FileBlobStore{dir: dir, sealer: sealer}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	// Several processes may create the shards at once (a server and a CLI
	// command opening a new data folder): MkdirAll does not mind a shard
	// another one made.
	created := false
	for i := 0; i < 256; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02x", i))
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(p, 0o700); err != nil {
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

// Put writes r to a new file under a fresh random key and makes it durable
// (fsync of the file and of its folder) before returning. The file needs no
// rename to become visible: a body is only ever reached through metadata
// committed after Put returns, so a crash mid-write leaves an unreferenced
// file and never a visible half-written message.
func (s *FileBlobStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	key, n, err := s.put(ctx, r)
	if err != nil {
		return "", 0, err
	}
	final, _ := s.path(key)
	if err := syncDir(filepath.Dir(final)); err != nil {
		s.Delete(ctx, key)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	return key, n, nil
}

// PutUnsynced writes r like Put but leaves it to a later Sync to make it
// durable, so that many concurrent writes share one flush (group commit).
func (s *FileBlobStore) PutUnsynced(ctx context.Context, r io.Reader) (string, int64, error) {
	key, n, err := s.write(ctx, r, false)
	if err != nil {
		return "", 0, err
	}
	final, _ := s.path(key)
	s.mu.Lock()
	s.pending = append(s.pending, final)
	s.mu.Unlock()
	return key, n, nil
}

// Sync makes every body written by PutUnsynced before the call durable.
func (s *FileBlobStore) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	if err := syncFiles(s.dir, pending); err != nil {
		return fmt.Errorf("sync %d blobs: %w", len(pending), err)
	}
	return nil
}

func (s *FileBlobStore) put(ctx context.Context, r io.Reader) (string, int64, error) {
	return s.write(ctx, r, true)
}

func (s *FileBlobStore) write(ctx context.Context, r io.Reader, sync bool) (string, int64, error) {
	key := newBlobKey()
	final, _ := s.path(key)
	f, err := os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	fail := func(err error) (string, int64, error) {
		f.Close()
		os.Remove(final)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	n, err := s.copyBody(f, r, key, sealerFor(ctx, s.sealer))
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(final)
		return "", 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	return key, n, nil
}

// copyBody writes r to f as the body stored under key, sealed if sealer
// can seal, and returns the plaintext size.
func (s *FileBlobStore) copyBody(f *os.File, r io.Reader, key string, sealer *blobcrypt.Sealer) (int64, error) {
	if !sealer.CanSeal() {
		return io.Copy(f, r)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	w, err := sealer.Seal(bw, key)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return n, err
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("seal: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	return n, nil
}

// ErrBodyCorrupt is wrapped by the read errors of an encrypted body that
// fails authentication (damaged, tampered with, or sealed for another
// key): the body is lost, unlike after an I/O error.
var ErrBodyCorrupt = blobcrypt.ErrCorrupt

// ErrBodyLocked is wrapped by the read errors of a body encrypted with a
// user's key that the reading session has not unlocked (user-key mode).
var ErrBodyLocked = blobcrypt.ErrLocked

// ErrBodyNoKey is wrapped by the read errors of an encrypted body when the
// store has no encryption key (YUBIN_ENCRYPTION_KEY_FILE is not set).
var ErrBodyNoKey = blobcrypt.ErrNoKey

// Open opens the body stored under key: this is the one way every reader
// (IMAP, POP3, the queue, the quarantine, re-reads at delivery) gets a
// body's bytes. A sealed body is authenticated as it is read; one that
// fails gives an error wrapping ErrBodyCorrupt, never its bytes. The
// size is the plaintext's. A body sealed to a user's key (user-key mode)
// opens only with the session key ctx carries (blobcrypt.WithSessionKey);
// without it the error wraps ErrBodyLocked.
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
	sealed, err := fileIsSealed(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	if !sealed {
		return &fileBlob{File: f, size: st.Size()}, nil
	}
	body, err := s.sealer.OpenFor(ctx, f, st.Size(), key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return &sealedBlob{SectionReader: io.NewSectionReader(body, 0, body.Size()), body: body, f: f}, nil
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

// fileIsSealed reports whether the body in f is sealed (by its first
// bytes).
func fileIsSealed(f *os.File) (bool, error) {
	var prefix [blobcrypt.PrefixLen]byte
	n, err := f.ReadAt(prefix[:], 0)
	if err != nil && err != io.EOF {
		return false, err
	}
	return blobcrypt.IsSealed(prefix[:n]), nil
}

// sealedBlob is an open sealed body: reads decrypt and authenticate.
type sealedBlob struct {
	*io.SectionReader
	body *blobcrypt.Body
	f    *os.File
}

func (b *sealedBlob) Close() error {
	b.body.Close()
	return b.f.Close()
}

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
