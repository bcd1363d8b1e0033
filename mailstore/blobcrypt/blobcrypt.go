// Package blobcrypt seals message bodies for storage: each body is an age
// file (filippo.io/age, X25519 recipients, a fresh file key per body,
// ChaCha20-Poly1305 in 64 KiB chunks), so that it is confidential and
// authenticated at rest and can still be read at any offset without
// decrypting what comes before.
//
// The sealed plaintext starts with a binding line naming the body's key
// ("yubin-blob KEY\n"): a body copied over another one's file is detected
// on read like any other tampering. Readers never see that line.
package blobcrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
)

// Magic starts every sealed body (it is the age format's first line). A
// stored body that does not start with it is plaintext.
const Magic = "age-encryption.org/v1\n"

// ErrCorrupt is wrapped by every error of a sealed body that fails
// authentication: damaged on disk, tampered with, or sealed for another key.
var ErrCorrupt = errors.New("sealed body fails authentication (damaged or tampered with)")

// ErrNoKey is wrapped when a sealed body is read without any key (the
// store has no encryption key configured).
var ErrNoKey = errors.New("sealed body: no key to open it")

// PrefixLen is how many first bytes of a stored body IsSealed looks at.
const PrefixLen = len(Magic) + len(stanzaStart)

// stanzaStart starts the line after the magic in a sealed body.
const stanzaStart = "-> "

// IsSealed reports whether a stored body starting with prefix (PrefixLen
// bytes, or the whole body if shorter) is sealed, or a sealed body damaged
// in its first bytes: the magic with a few bytes changed, or a recipient
// line right after the first line. No mail starts like that, and a damaged
// sealed body must fail as such rather than be served as plaintext.
func IsSealed(prefix []byte) bool {
	if bytes.HasPrefix(prefix, []byte(Magic)) {
		return true
	}
	if len(prefix) < len(Magic) {
		return false
	}
	if bytes.HasPrefix(prefix[len(Magic):], []byte(stanzaStart)) {
		return true
	}
	differ := 0
	for i := range len(Magic) {
		if prefix[i] != Magic[i] {
			differ++
		}
	}
	return differ <= 4
}

// bindingLen is the length of the line that binds a body to its key.
func bindingLen(blobKey string) int64 { return int64(len(binding(blobKey))) }

func binding(blobKey string) string { return "yubin-blob " + blobKey + "\n" }

// Sealer seals bodies to a set of recipients and opens them with a set of
// identities. It is safe for concurrent use.
type Sealer struct {
	recipients []age.Recipient
	identities []age.Identity
	cache      *fileKeyCache
}

// NewSealer returns a Sealer that seals to recipients and opens with
// identities; either may be empty (a Sealer without recipients cannot seal,
// one without identities cannot open). With cacheKeys, the file keys of
// opened bodies are kept in memory (bounded) so that reading a body again
// needs no X25519 operation; use it only for a key the whole process holds
// anyway (the server key), never for one unlocked for a session.
func NewSealer(recipients []age.Recipient, identities []age.Identity, cacheKeys bool) *Sealer {
	s := &Sealer{recipients: recipients, identities: identities}
	if cacheKeys {
		s.cache = newFileKeyCache(8192)
	}
	return s
}

// CanSeal reports whether the Sealer has recipients to seal to.
func (s *Sealer) CanSeal() bool { return s != nil && len(s.recipients) > 0 }

// Seal returns a writer that seals what is written to it into dst as the
// body stored under blobKey. Close must be called to finish the body; it
// does not close dst.
func (s *Sealer) Seal(dst io.Writer, blobKey string) (io.WriteCloser, error) {
	if !s.CanSeal() {
		return nil, errors.New("seal body: no recipient")
	}
	w, err := age.Encrypt(dst, s.recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal body %s: %w", blobKey, err)
	}
	if _, err := io.WriteString(w, binding(blobKey)); err != nil {
		return nil, fmt.Errorf("seal body %s: %w", blobKey, err)
	}
	return w, nil
}

// Open authenticates the header, the size and the binding of the sealed
// body src (size bytes, stored under blobKey) and returns a reader over its
// plaintext. Reads authenticate each chunk they touch; a chunk that fails
// gives an error wrapping ErrCorrupt, never unauthenticated bytes.
func (s *Sealer) Open(src io.ReaderAt, size int64, blobKey string) (*io.SectionReader, error) {
	if s == nil || len(s.identities) == 0 {
		return nil, fmt.Errorf("open body %s: %w", blobKey, ErrNoKey)
	}
	ra, n, err := s.decrypt(src, size, blobKey)
	if err != nil {
		return nil, fmt.Errorf("open body %s: %w", blobKey, err)
	}
	bl := bindingLen(blobKey)
	if n < bl {
		return nil, fmt.Errorf("open body %s: no binding: %w", blobKey, ErrCorrupt)
	}
	got := make([]byte, bl)
	if m, err := ra.ReadAt(got, 0); m < len(got) {
		return nil, fmt.Errorf("open body %s: %w: %v", blobKey, ErrCorrupt, err)
	}
	if string(got) != binding(blobKey) {
		return nil, fmt.Errorf("open body %s: sealed for another body: %w", blobKey, ErrCorrupt)
	}
	return io.NewSectionReader(checkedReaderAt{ra, blobKey}, bl, n-bl), nil
}

// decrypt opens the age file, with a cached file key when there is one.
func (s *Sealer) decrypt(src io.ReaderAt, size int64, blobKey string) (io.ReaderAt, int64, error) {
	if s.cache != nil {
		if fk := s.cache.get(blobKey); fk != nil {
			ra, n, err := age.DecryptReaderAt(src, size, age.NewInjectedFileKeyIdentity(fk))
			if err == nil {
				return ra, n, nil
			}
			s.cache.drop(blobKey) // rewritten meanwhile, or tampered: try the real keys
		}
	}
	ids := s.identities
	var found []byte
	if s.cache != nil {
		ids = make([]age.Identity, len(s.identities))
		for i, id := range s.identities {
			ids[i] = recordingIdentity{inner: id, got: &found}
		}
	}
	ra, n, err := age.DecryptReaderAt(src, size, ids...)
	if err != nil {
		// A recipient stanza that no key opens is either tampered with or
		// sealed for another key: from here the two look the same.
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if found != nil {
		s.cache.put(blobKey, found)
	}
	return ra, n, nil
}

// recordingIdentity unwraps with inner and keeps the file key it found.
type recordingIdentity struct {
	inner age.Identity
	got   *[]byte
}

func (r recordingIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	fk, err := r.inner.Unwrap(stanzas)
	if err == nil {
		*r.got = fk
	}
	return fk, err
}

// checkedReaderAt marks a failing chunk's error as ErrCorrupt.
type checkedReaderAt struct {
	ra      io.ReaderAt
	blobKey string
}

func (c checkedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ra.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read body %s: %w: %v", c.blobKey, ErrCorrupt, err)
	}
	return n, err
}

// fileKeyCache keeps file keys by body key, bounded: when full, an
// arbitrary entry makes room.
type fileKeyCache struct {
	mu   sync.Mutex
	max  int
	keys map[string][]byte
}

func newFileKeyCache(max int) *fileKeyCache {
	return &fileKeyCache{max: max, keys: make(map[string][]byte)}
}

func (c *fileKeyCache) get(k string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[k]
}

func (c *fileKeyCache) put(k string, fk []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= c.max {
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[k] = fk
}

func (c *fileKeyCache) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, k)
}
