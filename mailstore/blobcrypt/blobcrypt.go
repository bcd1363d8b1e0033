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
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
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
func bindingLen(blobKey string) int64 { return int64(len(bindingPrefix) + len(blobKey) + 1) }

func binding(blobKey string) string { return bindingPrefix + blobKey + "\n" }

// bindingPrefix starts the binding line.
const bindingPrefix = "yubin-blob "

// Sealer seals bodies to a set of recipients and opens them with a set of
// identities. It is safe for concurrent use.
type Sealer struct {
	recipients []age.Recipient
	identities []age.Identity
	fast       []age.Identity // tried before identities (see serverStanza)
	cache      *fileKeyCache
	// keys, in a session's Sealer (SessionSealer), keeps the payload keys
	// of the bodies its identities opened, for that session only.
	keys *sessionKeys
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
// body src (size bytes, stored under blobKey) and returns its plaintext.
// Reads authenticate each chunk they touch; a chunk that fails gives an
// error wrapping ErrCorrupt, never unauthenticated bytes. The Body must be
// closed (it holds pooled chunk buffers).
func (s *Sealer) Open(src io.ReaderAt, size int64, blobKey string) (*Body, error) {
	if s == nil || len(s.identities) == 0 {
		return nil, fmt.Errorf("open body %s: %w", blobKey, ErrNoKey)
	}
	b, err := s.openWith(src, size, blobKey, nil)
	if err != nil {
		return nil, fmt.Errorf("open body %s: %w", blobKey, err)
	}
	return b, nil
}

// openWith opens the body with the session's identities first (see
// OpenFor), then with the Sealer's own; s and session may be nil.
func (s *Sealer) openWith(src io.ReaderAt, size int64, blobKey string, session *Sealer) (*Body, error) {
	// The header and the payload nonce are in the first bytes: one read.
	var headBuf [headRead]byte
	n, err := src.ReadAt(headBuf[:min(int64(headRead), size)], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	head := headBuf[:n]
	aead, payload, err := s.payloadCipher(src, size, head, blobKey, session)
	if err != nil {
		return nil, err
	}
	b, err := newBody(src, size, payload, aead)
	if err != nil {
		return nil, err
	}
	bl := bindingLen(blobKey)
	got := make([]byte, bl)
	if n, err := b.ReadAt(got, 0); n < len(got) {
		b.Close()
		return nil, fmt.Errorf("%w: no binding: %v", ErrCorrupt, err)
	}
	if string(got) != binding(blobKey) {
		b.Close()
		return nil, fmt.Errorf("sealed for another body: %w", ErrCorrupt)
	}
	b.skip = bl
	return b, nil
}

// openInPlace authenticates and decrypts sealed (a whole body of one
// chunk, also readable as src) in place and returns its plaintext after
// the binding line; s and session may be nil (see openWith).
func (s *Sealer) openInPlace(src io.ReaderAt, sealed []byte, blobKey string, session *Sealer) ([]byte, error) {
	aead, payload, err := s.payloadCipher(src, int64(len(sealed)), sealed[:min(headRead, len(sealed))], blobKey, session)
	if err != nil {
		return nil, err
	}
	return openChunkInPlace(aead, sealed, payload, blobKey)
}

// openChunkInPlace authenticates and decrypts in place the one chunk of
// sealed, whose payload starts at payload, and returns its plaintext
// after the binding line.
func openChunkInPlace(aead cipher.AEAD, sealed []byte, payload int64, blobKey string) ([]byte, error) {
	enc := sealed[payload:]
	if len(enc) < chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: truncated payload", ErrCorrupt)
	}
	if len(enc) > encChunkSize {
		return nil, errors.New("sealed body of more than one chunk read as one")
	}
	var nonce [chacha20poly1305.NonceSize]byte
	nonce[11] = 1 // chunk 0, the last
	plain, err := aead.Open(enc[:0], nonce[:], enc, nil)
	if err != nil {
		return nil, fmt.Errorf("chunk 0: %w", ErrCorrupt)
	}
	bl := bindingLen(blobKey)
	if int64(len(plain)) < bl {
		return nil, fmt.Errorf("%w: no binding", ErrCorrupt)
	}
	// binding(blobKey), compared piece by piece without building it.
	p := len(bindingPrefix)
	if string(plain[:p]) != bindingPrefix || string(plain[p:bl-1]) != blobKey || plain[bl-1] != '\n' {
		return nil, fmt.Errorf("sealed for another body: %w", ErrCorrupt)
	}
	return plain[bl:], nil
}

// headRead is how much of a body open reads at once to find the header.
const headRead = 1024

// keptCipher returns the payload cipher of the body under blobKey whose
// stored bytes start with head, and where its payload starts, if the
// session's Sealer or s kept it (see payloadCipher); else nil. Both may be
// nil.
func (s *Sealer) keptCipher(head []byte, blobKey string, session *Sealer) (cipher.AEAD, int64) {
	if session != nil && session.keys != nil {
		if aead, n := session.keys.get(blobKey, head); aead != nil {
			return aead, n
		}
	}
	if s != nil && s.cache != nil {
		if e := s.cache.get(blobKey); e != nil && bytes.HasPrefix(head, e.prefix) {
			return e.aead, int64(len(e.prefix))
		}
	}
	return nil, 0
}

// payloadCipher returns the cipher of the body's payload and where the
// payload starts. It unwraps the file key from the header with the
// session's identities, then the Sealer's (which checks the header MAC),
// or, with a cache, takes the cipher of a body opened before whose header
// and nonce are byte for byte the same. A body a session identity opened
// is not put in the Sealer's cache, only in the session's own (see
// SessionSealer).
func (s *Sealer) payloadCipher(src io.ReaderAt, size int64, head []byte, blobKey string, sessionSealer *Sealer) (cipher.AEAD, int64, error) {
	var session []age.Identity
	var keys *sessionKeys
	if sessionSealer != nil {
		session, keys = sessionSealer.identities, sessionSealer.keys
	}
	if aead, n := s.keptCipher(head, blobKey, sessionSealer); aead != nil {
		return aead, n, nil
	}
	cache := s != nil && s.cache != nil
	hdr, err := age.ExtractHeader(bytes.NewReader(head))
	if err != nil && size > int64(len(head)) {
		hdr, err = age.ExtractHeader(io.NewSectionReader(src, 0, size)) // a long header
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var fileKey []byte
	bySession := false
	if len(session) > 0 {
		if fileKey, err = age.DecryptHeader(hdr, session...); err == nil {
			cache, bySession = false, true
		}
	}
	if fileKey == nil && (s == nil || len(s.identities) == 0) {
		if len(session) == 0 && isUserSealed(hdr) {
			return nil, 0, ErrLocked
		}
		if len(session) == 0 {
			return nil, 0, ErrNoKey
		}
	}
	if fileKey == nil && s != nil && len(s.identities) > 0 {
		if len(s.fast) > 0 {
			fileKey, err = age.DecryptHeader(hdr, s.fast...)
		}
		if len(s.fast) == 0 || err != nil {
			fileKey, err = age.DecryptHeader(hdr, s.identities...)
		}
	}
	var noMatch *age.NoIdentityMatchError
	if err != nil && (len(session) > 0 || s != nil && len(s.fast) > 0) && isUserSealed(hdr) && errors.As(err, &noMatch) {
		// Sealed to a user's key that neither the session nor the server
		// holds (another user's, or one replaced by a password reset):
		// locked rather than damaged, as far as the header can tell.
		return nil, 0, ErrLocked
	}
	if err != nil {
		// A recipient stanza that no key opens is either tampered with or
		// sealed for another key: from here the two look the same.
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	prefix := make([]byte, len(hdr)+payloadNonceSize)
	if n, err := src.ReadAt(prefix, 0); n < len(prefix) {
		return nil, 0, fmt.Errorf("%w: payload nonce: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(prefix[:len(hdr)], hdr) {
		return nil, 0, fmt.Errorf("%w: header changed while read", ErrCorrupt)
	}
	key, err := payloadKey(fileKey, prefix[len(hdr):])
	clear(fileKey)
	if err != nil {
		return nil, 0, err
	}
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, 0, fmt.Errorf("payload key: %w", err)
	}
	switch {
	case cache:
		s.cache.put(blobKey, &cachedCipher{prefix: prefix, aead: aead})
	case bySession && keys != nil:
		keys.put(blobKey, prefix, &key)
	}
	clear(key[:])
	return aead, int64(len(prefix)), nil
}

// cachedCipher is the payload cipher of a body whose file key was
// unwrapped, with the header and nonce it was found from: a body that
// starts with the same bytes has the same file key and payload key.
type cachedCipher struct {
	prefix []byte
	aead   cipher.AEAD
}

// fileKeyCache keeps payload ciphers by body key, bounded: when full, an
// arbitrary entry makes room.
type fileKeyCache struct {
	mu   sync.Mutex
	max  int
	keys map[string]*cachedCipher
}

func newFileKeyCache(max int) *fileKeyCache {
	return &fileKeyCache{max: max, keys: make(map[string]*cachedCipher)}
}

func (c *fileKeyCache) get(k string) *cachedCipher {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[k]
}

func (c *fileKeyCache) put(k string, fk *cachedCipher) {
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
