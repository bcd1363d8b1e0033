package blobcrypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// sessionKeysMax bounds the payload keys a session keeps: a mailbox of
// that many messages is read again without an X25519 operation per
// message (about 100 bytes each).
const sessionKeysMax = 16384

// sessionKeys are the payload keys of the bodies a session's key opened,
// by body key, each with a digest of the header and payload nonce it was
// derived from: a body whose first bytes hash the same has the same file
// key (the header's MAC was checked when it was first opened) and so the
// same payload key. Its payload is authenticated at every read as ever.
// When full, an arbitrary entry makes room.
type sessionKeys struct {
	mu   sync.Mutex
	max  int
	keys map[string]*sessionKey
}

type sessionKey struct {
	prefixLen int
	digest    [sha256.Size]byte // of the header and payload nonce
	key       [chacha20poly1305.KeySize]byte
}

func newSessionKeys(max int) *sessionKeys {
	return &sessionKeys{max: max, keys: make(map[string]*sessionKey)}
}

// get returns the payload cipher of the body under blobKey whose stored
// bytes start with head, and where its payload starts; nil if unknown.
func (c *sessionKeys) get(blobKey string, head []byte) (cipher.AEAD, int64) {
	c.mu.Lock()
	e := c.keys[blobKey]
	var key [chacha20poly1305.KeySize]byte
	var digest [sha256.Size]byte
	n := 0
	if e != nil {
		key, digest, n = e.key, e.digest, e.prefixLen
	}
	c.mu.Unlock()
	if e == nil || len(head) < n {
		return nil, 0
	}
	if sum := sha256.Sum256(head[:n]); !bytes.Equal(sum[:], digest[:]) {
		return nil, 0
	}
	aead, err := chacha20poly1305.New(key[:])
	clear(key[:])
	if err != nil {
		return nil, 0
	}
	return aead, int64(n)
}

// put keeps key, the payload key of the body under blobKey whose header
// and payload nonce are prefix.
func (c *sessionKeys) put(blobKey string, prefix []byte, key *[chacha20poly1305.KeySize]byte) {
	e := &sessionKey{prefixLen: len(prefix), digest: sha256.Sum256(prefix), key: *key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		return // forgotten: the session is over
	}
	if old := c.keys[blobKey]; old != nil {
		clear(old.key[:])
	} else if len(c.keys) >= c.max {
		for k, old := range c.keys {
			clear(old.key[:])
			delete(c.keys, k)
			break
		}
	}
	c.keys[blobKey] = e
}

// forget overwrites and drops every key; later puts keep nothing.
func (c *sessionKeys) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.keys {
		clear(e.key[:])
	}
	c.keys = nil
}
