package mailstore

import (
	"bufio"
	"bytes"
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

// Blob is an open message body. Its reads fail only on I/O errors, except
// those of a sealed body larger than a chunk (64 KiB), which authenticates
// each chunk as it is read and fails on damage: such a Blob does not
// implement io.WriterTo, so that a reader that must not send half a body
// before finding it damaged (IMAP FETCH answers NO [CORRUPTION]) knows to
// read it whole first. Every other Blob (a body in memory, or a plaintext
// file) does, and may be sent as it is read.
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

	mu sync.Mutex
	// pendingDirs are the shards that got a body from PutUnsynced whose
	// directory entry is not yet durable; Sync flushes them.
	pendingDirs map[string]struct{}
	// batchShard is the shard new PutUnsynced bodies go to; Sync moves
	// it on, so that a group commit's bodies mostly share one folder and
	// cost one folder flush (over time every shard gets its share).
	batchShard uint8
	syncMu     sync.Mutex
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

// newBlobKeyIn is newBlobKey in a given shard: the first byte is the
// shard's, the other 120 bits are random.
func newBlobKeyIn(shard uint8) string {
	var b [16]byte
	if _, err := rand.Read(b[1:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[0] = shard
	return hex.EncodeToString(b[:])
}

func (s *FileBlobStore) path(key string) (string, error) {
	if len(key) != 32 {
		return "", fmt.Errorf("blob key %q: %w", key, errBadKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fmt.Errorf("blob key %q: %w", key, errBadKey)
		}
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

// PutUnsynced writes r like Put and flushes the file's bytes, but leaves
// it to a later Sync to make its directory entry durable, so that many
// concurrent writes share the folder flushes (group commit). The file's
// flush runs here, in the caller, concurrently with other writers'
// (the filesystem's journal joins concurrent flushes) and with the
// writer's commit of the previous batch; the body is only referenced by
// metadata committed after Sync.
func (s *FileBlobStore) PutUnsynced(ctx context.Context, r io.Reader) (string, int64, error) {
	s.mu.Lock()
	shard := s.batchShard
	s.mu.Unlock()
	key := newBlobKeyIn(shard)
	n, err := s.writeKey(ctx, key, r)
	if err != nil {
		return "", 0, err
	}
	final, _ := s.path(key)
	s.mu.Lock()
	if s.pendingDirs == nil {
		s.pendingDirs = map[string]struct{}{}
	}
	s.pendingDirs[filepath.Dir(final)] = struct{}{}
	s.mu.Unlock()
	return key, n, nil
}

// Sync makes every body written by PutUnsynced before the call durable:
// their files were flushed when written, so what is left is one flush of
// each folder that got a new entry. Unlike syncfs(2) this waits for no
// other file of the filesystem (another process's dirty data included).
func (s *FileBlobStore) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	dirs := s.pendingDirs
	s.pendingDirs = nil
	s.batchShard++
	s.mu.Unlock()
	for d := range dirs {
		if err := syncDir(d); err != nil {
			// Bodies of writes still to come may be in these folders:
			// the next Sync tries them all again.
			s.mu.Lock()
			if s.pendingDirs == nil {
				s.pendingDirs = map[string]struct{}{}
			}
			for d := range dirs {
				s.pendingDirs[d] = struct{}{}
			}
			s.mu.Unlock()
			return fmt.Errorf("sync blobs: %w", err)
		}
	}
	return nil
}

func (s *FileBlobStore) put(ctx context.Context, r io.Reader) (string, int64, error) {
	key := newBlobKey()
	n, err := s.writeKey(ctx, key, r)
	return key, n, err
}

// writeKey writes r to a new file for key and flushes its bytes (not its
// directory entry) to stable storage.
func (s *FileBlobStore) writeKey(ctx context.Context, key string, r io.Reader) (int64, error) {
	final, err := s.path(key)
	if err != nil {
		return 0, err
	}
	f, err := createFile(final)
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(final)
		return 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	n, err := s.copyBody(f, r, key, sealerFor(ctx, s.sealer))
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := syncData(f); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(final)
		return 0, fmt.Errorf("put blob %s: %w", key, err)
	}
	return n, nil
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
	return s.open(ctx, key, false)
}

// largeHead is how much of a body expected to be large openLarge reads
// before it is sent: enough to tell a sealed body and parse its header.
const largeHead = 4 << 10

// openLarge is Open for a body expected to be larger than smallBlobSize
// (its message's size says so): its first pread reads largeHead bytes
// rather than smallBlobSize, which a plaintext body, sent from the file
// (sendfile), would read for nothing.
func (s *FileBlobStore) openLarge(ctx context.Context, key string) (Blob, error) {
	return s.open(ctx, key, true)
}

func (s *FileBlobStore) open(ctx context.Context, key string, large bool) (Blob, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	buf := smallBufs.Get().(*[]byte)
	first := *buf
	if large {
		first = first[:largeHead]
	}
	small, f, size, err := readSmallFile(p, first)
	if err != nil {
		smallBufs.Put(buf)
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	if f == nil {
		// Read whole and closed already: open, one pread, close.
		if blobcrypt.IsSealed(small[:min(len(small), blobcrypt.PrefixLen)]) {
			// One chunk: authenticated and decrypted in place, whole.
			if small, err = s.sealer.OpenSmallFor(ctx, small, key); err != nil {
				smallBufs.Put(buf)
				return nil, fmt.Errorf("open blob: %w", err)
			}
		}
		mb := &memBlob{buf: buf}
		mb.Reset(small)
		return mb, nil
	}
	// A large body: its first bytes, where they were read already, tell
	// whether it is sealed.
	var sealed bool
	if len(small) >= blobcrypt.PrefixLen {
		sealed = blobcrypt.IsSealed(small[:blobcrypt.PrefixLen])
	} else {
		sealed, err = fileIsSealed(f)
	}
	if err != nil || !sealed {
		smallBufs.Put(buf)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open blob %s: %w", key, err)
		}
		return &fileBlob{File: f, size: size}, nil
	}
	// Sealed: the header and most of the first chunk are among the bytes
	// read already, which the body keeps for as long as it is open.
	src := io.ReaderAt(f)
	if len(small) > 0 {
		src = &prefixedFile{prefix: small, f: f}
	}
	body, err := s.sealer.OpenFor(ctx, src, size, key)
	if err != nil {
		smallBufs.Put(buf)
		f.Close()
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return &sealedBlob{SectionReader: io.NewSectionReader(body, 0, body.Size()), body: body, f: f, buf: buf}, nil
}

// prefixedFile reads a file whose first bytes are in memory already.
type prefixedFile struct {
	prefix []byte
	f      *os.File
}

func (p *prefixedFile) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(p.prefix)) {
		n = copy(b, p.prefix[off:])
		if n == len(b) {
			return n, nil
		}
	}
	m, err := p.f.ReadAt(b[n:], off+int64(n))
	return n + m, err
}

// smallBlobSize is the largest stored body Open reads whole into memory
// (and closes at once) instead of keeping the file open for reading: a
// small message then costs four system calls to read, where reading from
// an open file took about a dozen.
const smallBlobSize = 64 << 10

// smallBufs are the buffers small bodies are read into (see memBlob). (A
// sealed body of smallBlobSize bytes holds less than one chunk of
// plaintext, which blobcrypt.OpenSmallFor decrypts in place.)
var smallBufs = sync.Pool{New: func() any {
	b := make([]byte, smallBlobSize)
	return &b
}}

// memBlob is a body read whole into a pooled buffer, as plaintext
// (decrypted in place if it was sealed), which Close gives back: the blob
// must not be used after Close.
type memBlob struct {
	bytes.Reader
	buf *[]byte
}

func (b *memBlob) Close() error {
	if b.buf != nil {
		b.Reset(nil)
		smallBufs.Put(b.buf)
		b.buf = nil
	}
	return nil
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
	buf  *[]byte // the pooled buffer holding its first bytes, or nil
}

func (b *sealedBlob) Close() error {
	b.body.Close()
	if b.buf != nil {
		smallBufs.Put(b.buf)
		b.buf = nil
	}
	return b.f.Close()
}

func syncDir(dir string) error {
	d, err := openNoPoll(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
