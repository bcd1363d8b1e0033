package mailstore

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/yubinmail/yubin/internal/argon2id"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters, from the settings OWASP's Password Storage Cheat
// Sheet recommends as equally strong (19 MiB × 2 passes, 12 MiB × 3, 9 MiB ×
// 4, 7 MiB × 5, all with 1 lane): the one with the least memory. A hash's
// cost is mostly the memory it touches for the first time: on a 2-core
// EPYC VM the first hash in a fresh process took 106–109 ms of CPU with
// 19 MiB × 2 and 53–59 ms with 7 MiB × 5, later ones 30–34 and 20–27 ms
// (docs/benchmarks.md), so this makes the first login after a start and
// every login burst cheaper, and each concurrent check holds 7 MiB instead
// of 19. Hashes made with other parameters keep working: CheckPassword reads
// them from the hash. The hash runs in internal/argon2id, whose working
// memory is mapped outside the Go heap in huge pages and given back at once:
// with golang.org/x/crypto/argon2 the first check after a start spent more
// CPU on page faults of fresh heap memory and a garbage collection than on
// the hash, and the memory stayed resident afterwards.
const (
	argonTime    = 5
	argonMemory  = 7 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password accepted for an account.
const MinPasswordLength = 8

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := argon2id.Key([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash. It understands the
// argon2id PHC format written by HashPassword and bcrypt hashes (so that
// accounts can be imported from other servers).
func CheckPassword(hash, password string) bool {
	ok, err := verifyPassword(hash, password)
	return err == nil && ok
}

// verifyPassword is CheckPassword that tells a failure to check (the
// hash's working memory could not be had) from a mismatch: the former is
// an error, so that a login refused for it is not counted as a wrong
// password. A malformed hash is a mismatch.
func verifyPassword(hash, password string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		ok, err := checkArgon2id(hash, password)
		if errors.Is(err, errBadHash) {
			return false, nil
		}
		return ok, err
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil, nil
	}
	return false, nil
}

var errBadHash = errors.New("malformed password hash")

func checkArgon2id(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	if m == 0 || m > 1<<22 || t == 0 || t > 100 || p == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 4 || len(want) > 128 { // RFC 9106: tags of 4 bytes or more
		return false, errBadHash
	}
	got, err := argon2id.Key([]byte(password), salt, t, m, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when an account does not exist, so that a
// failed login takes as long for an unknown address as for a wrong password.
// It is a well-formed argon2id PHC string with HashPassword's parameters and
// a random salt and key: checking a password against it costs exactly what
// checking a real hash costs, and nothing matches it (a key of 256 random
// bits). Making it costs no argon2id run, so that neither the server nor a
// CLI command pays a hash (and its memory) at start.
var dummyHash = func() string {
	salt := make([]byte, argonSaltLen)
	key := make([]byte, argonKeyLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}()

// authCache remembers recent successful logins so that a client that opens
// many connections (IMAP clients open several, POP3 clients poll) does not pay
// for argon2id each time. An entry is only valid while the account's stored
// hash is unchanged, so a password change invalidates it at once.
type authCache struct {
	mu      sync.Mutex
	secret  [32]byte
	entries map[[32]byte]authEntry
	max     int
	ttl     time.Duration
}

type authEntry struct {
	hash    string
	expires time.Time
}

func newAuthCache(max int, ttl time.Duration) *authCache {
	c := &authCache{entries: make(map[[32]byte]authEntry), max: max, ttl: ttl}
	rand.Read(c.secret[:])
	return c
}

func (c *authCache) key(address, password string) [32]byte {
	h := sha256.New()
	h.Write(c.secret[:])
	h.Write([]byte(address))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *authCache) ok(address, password, storedHash string) bool {
	k := c.key(address, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[k]
	if !found {
		return false
	}
	if time.Now().After(e.expires) || e.hash != storedHash {
		delete(c.entries, k)
		return false
	}
	return true
}

func (c *authCache) add(address, password, storedHash string) {
	k := c.key(address, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for old := range c.entries { // evict an arbitrary entry
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = authEntry{hash: storedHash, expires: time.Now().Add(c.ttl)}
}
