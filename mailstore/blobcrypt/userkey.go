package blobcrypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/yubinmail/yubin/internal/argon2id"
	"golang.org/x/crypto/chacha20poly1305"
)

// User-key mode: each user has an X25519 keypair; mail is sealed to the
// user's public key (and to the domain's recovery key, if it has one), and
// the private key is stored sealed with a key derived from the user's
// password with argon2id, so that only a session that knows the password
// can read the mail. These are the key operations; the mailstore keeps a
// UserKey per user.

// ErrWrongPassword is returned when a sealed user key does not open with
// the password given.
var ErrWrongPassword = errors.New("the password does not open the user's key")

// passwordStanza names the age stanza that wraps a file key with a key
// derived from a password by argon2id (args: salt, time, memory KiB,
// threads).
const passwordStanza = "yubin-argon2id-v1"

// Argon2id parameters of the password stanza: the cost of one unlock,
// paid at each login of a user-key account.
const (
	userKeyTime    = 3
	userKeyMemory  = 64 * 1024
	userKeyThreads = 1
)

// UserKey is a user's keypair as stored: the public key, the private key
// sealed with the password, and optionally the private key sealed to the
// domain's recovery key.
type UserKey struct {
	// Public is the age recipient ("age1...") mail is sealed to.
	Public string
	// Sealed is the private key, an age file for the password stanza.
	Sealed []byte
	// Recovery is the private key sealed to the domain's recovery key
	// (nil: no recovery; a password reset then makes the old mail
	// unreadable).
	Recovery []byte
}

// NewUserKey makes a keypair for a user with password, sealed with it and,
// if recovery is not nil, to it.
func NewUserKey(password string, recovery age.Recipient) (*UserKey, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("make user key: %w", err)
	}
	return sealUserKey(id, password, recovery)
}

func sealUserKey(id *age.X25519Identity, password string, recovery age.Recipient) (*UserKey, error) {
	k := &UserKey{Public: id.Recipient().String()}
	var err error
	if k.Sealed, err = sealSecret(id.String(), passwordRecipient{password: password}); err != nil {
		return nil, fmt.Errorf("seal user key: %w", err)
	}
	if recovery != nil {
		if k.Recovery, err = sealSecret(id.String(), recovery); err != nil {
			return nil, fmt.Errorf("seal user key to the recovery key: %w", err)
		}
	}
	return k, nil
}

// Unlock opens the private key with the password.
func (k *UserKey) Unlock(password string) (*age.X25519Identity, error) {
	return openSecret(k.Sealed, passwordIdentity{password: password})
}

// ChangePassword re-seals the private key with a new password (the old
// one opens it); the keypair, and so the mail, stay the same.
func (k *UserKey) ChangePassword(oldPassword, newPassword string) (*UserKey, error) {
	id, err := k.Unlock(oldPassword)
	if err != nil {
		return nil, err
	}
	sealed, err := sealSecret(id.String(), passwordRecipient{password: newPassword})
	if err != nil {
		return nil, fmt.Errorf("re-seal user key: %w", err)
	}
	return &UserKey{Public: k.Public, Sealed: sealed, Recovery: k.Recovery}, nil
}

// Recover opens the private key with the domain's recovery identity and
// seals it with a new password (an administrator's password reset); it
// fails without a recovery copy.
func (k *UserKey) Recover(recovery age.Identity, newPassword string) (*UserKey, error) {
	if len(k.Recovery) == 0 {
		return nil, errors.New("recover user key: the key has no recovery copy")
	}
	id, err := openSecret(k.Recovery, recovery)
	if err != nil {
		return nil, fmt.Errorf("recover user key: %w", err)
	}
	sealed, err := sealSecret(id.String(), passwordRecipient{password: newPassword})
	if err != nil {
		return nil, fmt.Errorf("recover user key: %w", err)
	}
	return &UserKey{Public: k.Public, Sealed: sealed, Recovery: k.Recovery}, nil
}

// Recoverable reports whether a password reset can keep the user's mail
// readable (with the domain's recovery key), so that an administrator can
// be told before resetting.
func (k *UserKey) Recoverable() bool { return len(k.Recovery) > 0 }

// UserSealer returns a Sealer that seals to the given public keys (a
// message delivered to several user-key accounts) and opens nothing.
func UserSealer(publicKeys ...string) (*Sealer, error) {
	var rs []age.Recipient
	for _, p := range publicKeys {
		r, err := age.ParseX25519Recipient(p)
		if err != nil {
			return nil, fmt.Errorf("user key %q: %w", p, err)
		}
		rs = append(rs, r)
	}
	return NewSealer(rs, nil, false), nil
}

// SessionSealer returns a Sealer that opens bodies sealed to an unlocked
// user key, for one session. It keeps (bounded, in memory) the payload
// keys of the bodies it opened, so that the session reads a message again
// without an X25519 operation; they open nothing the key itself does not,
// and go with the Sealer (Forget drops them at once).
func SessionSealer(id *age.X25519Identity) *Sealer {
	var ids []age.Identity
	if fast, err := newX25519Identity(id); err == nil {
		ids = []age.Identity{fast}
	} else {
		ids = []age.Identity{id}
	}
	s := NewSealer(nil, ids, false)
	s.keys = newSessionKeys(sessionKeysMax)
	return s
}

// Forget drops, and overwrites, the payload keys a session's Sealer kept
// (see SessionSealer); it opens what it opened before, at the first cost.
// s may be nil.
func (s *Sealer) Forget() {
	if s != nil && s.keys != nil {
		s.keys.forget()
	}
}

func sealSecret(secret string, r age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, secret); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func openSecret(sealed []byte, id age.Identity) (*age.X25519Identity, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("open user key: %w", err)
	}
	secret, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("open user key: %w", err)
	}
	return age.ParseX25519Identity(string(secret))
}

// passwordRecipient wraps a file key with argon2id(password, salt).
type passwordRecipient struct{ password string }

func (r passwordRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	key, err := argon2id.Key([]byte(r.password), salt, userKeyTime, userKeyMemory, userKeyThreads, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	// The key is used once (fresh salt): a zero nonce is safe.
	nonce := make([]byte, chacha20poly1305.NonceSize)
	return []*age.Stanza{{
		Type: passwordStanza,
		Args: []string{base64.RawStdEncoding.EncodeToString(salt), strconv.Itoa(userKeyTime), strconv.Itoa(userKeyMemory), strconv.Itoa(userKeyThreads)},
		Body: aead.Seal(nil, nonce, fileKey, []byte(passwordStanza)),
	}}, nil
}

// passwordIdentity unwraps a password stanza.
type passwordIdentity struct{ password string }

func (i passwordIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != passwordStanza || len(s.Args) != 4 {
			continue
		}
		salt, err := base64.RawStdEncoding.Strict().DecodeString(s.Args[0])
		if err != nil || len(salt) < 16 {
			return nil, fmt.Errorf("password stanza: bad salt")
		}
		var p [3]int
		for j, a := range s.Args[1:] {
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 || strings.HasPrefix(a, "0") {
				return nil, fmt.Errorf("password stanza: bad parameter %q", a)
			}
			p[j] = n
		}
		// Bounds, so that a forged stanza cannot make an unlock take
		// unbounded time or memory.
		if p[0] > 20 || p[1] > 1<<20 || p[2] > 16 {
			return nil, fmt.Errorf("password stanza: parameters out of bounds")
		}
		key, err := argon2id.Key([]byte(i.password), salt, uint32(p[0]), uint32(p[1]), uint8(p[2]), chacha20poly1305.KeySize)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.New(key)
		if err != nil {
			return nil, err
		}
		fk, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), s.Body, []byte(passwordStanza))
		if err != nil {
			return nil, age.ErrIncorrectIdentity
		}
		return fk, nil
	}
	return nil, age.ErrIncorrectIdentity
}

// SealIdentity seals an unlocked private key to r (a domain's recovery
// key): the Recovery of a UserKey.
func SealIdentity(id *age.X25519Identity, r age.Recipient) ([]byte, error) {
	b, err := sealSecret(id.String(), r)
	if err != nil {
		return nil, fmt.Errorf("seal user key: %w", err)
	}
	return b, nil
}

// SealIdentityWithPassword seals an unlocked private key with a password
// (argon2id), like UserKey.Sealed: another secret that opens the same key,
// such as an app password. UserKey{Sealed: b}.Unlock(password) opens it.
func SealIdentityWithPassword(id *age.X25519Identity, password string) ([]byte, error) {
	b, err := sealSecret(id.String(), passwordRecipient{password: password})
	if err != nil {
		return nil, fmt.Errorf("seal user key: %w", err)
	}
	return b, nil
}
