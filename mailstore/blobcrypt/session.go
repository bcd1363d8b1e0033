package blobcrypt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// ErrLocked is wrapped when a body sealed to a user's key (user-key mode)
// is read by a session that has not unlocked that key: the user must log
// in with their password (or an app password that carries the key).
var ErrLocked = errors.New("sealed body: encrypted with the user's key, which this session has not unlocked")

type sessionKeyCtx struct{}

// WithSessionKey returns ctx carrying k, the keys a session unlocked
// (usually SessionSealer of the user's key): Sealer.OpenFor with that
// context opens the bodies sealed to them. A nil k returns ctx.
func WithSessionKey(ctx context.Context, k *Sealer) context.Context {
	if k == nil {
		return ctx
	}
	return context.WithValue(ctx, sessionKeyCtx{}, k)
}

// SessionKeyFrom returns the session keys ctx carries, or nil.
func SessionKeyFrom(ctx context.Context) *Sealer {
	k, _ := ctx.Value(sessionKeyCtx{}).(*Sealer)
	return k
}

// OpenFor is Open that first tries the session keys ctx carries (see
// WithSessionKey). A body opened with a session key is never put in the
// Sealer's cache of file keys: without the session, it stays closed. The
// Sealer may be nil (a store without a server key). A body sealed to a
// user's key that neither opens gives an error wrapping ErrLocked.
func (s *Sealer) OpenFor(ctx context.Context, src io.ReaderAt, size int64, blobKey string) (*Body, error) {
	session, err := s.sessionSealer(ctx, src, size, blobKey)
	if err != nil {
		return nil, err
	}
	b, err := s.openWith(src, size, blobKey, session)
	if err != nil {
		return nil, fmt.Errorf("open body %s: %w", blobKey, err)
	}
	return b, nil
}

// OpenSmallFor is OpenFor for a sealed body held whole in memory that
// fits in one chunk (stored bodies of up to 64 KiB do): it authenticates
// and decrypts the body in place, without a copy, and returns the
// plaintext, which shares sealed's memory (sealed is overwritten).
func (s *Sealer) OpenSmallFor(ctx context.Context, sealed []byte, blobKey string) ([]byte, error) {
	// A body read before (by the session, or with the server key): no
	// header to parse, no key to unwrap.
	session := SessionKeyFrom(ctx)
	if session != nil && len(session.identities) == 0 {
		session = nil
	}
	if aead, payload := s.keptCipher(sealed[:min(headRead, len(sealed))], blobKey, session); aead != nil {
		plain, err := openChunkInPlace(aead, sealed, payload, blobKey)
		if err != nil {
			return nil, fmt.Errorf("open body %s: %w", blobKey, err)
		}
		return plain, nil
	}
	src := bytes.NewReader(sealed)
	session, err := s.sessionSealer(ctx, src, src.Size(), blobKey)
	if err != nil {
		return nil, err
	}
	plain, err := s.openInPlace(src, sealed, blobKey, session)
	if err != nil {
		return nil, fmt.Errorf("open body %s: %w", blobKey, err)
	}
	return plain, nil
}

// sessionSealer returns the session's Sealer ctx carries (see
// WithSessionKey) if it has identities (else nil), or an error if neither
// they nor the Sealer's own can open anything: ErrLocked for a body
// sealed to users' keys only, else ErrNoKey.
func (s *Sealer) sessionSealer(ctx context.Context, src io.ReaderAt, size int64, blobKey string) (*Sealer, error) {
	if session := SessionKeyFrom(ctx); session != nil && len(session.identities) > 0 {
		return session, nil
	}
	if s == nil || len(s.identities) == 0 {
		if userSealed(src, size) {
			return nil, fmt.Errorf("open body %s: %w", blobKey, ErrLocked)
		}
		return nil, fmt.Errorf("open body %s: %w", blobKey, ErrNoKey)
	}
	return nil, nil
}

// userSealed reports whether the sealed body in src has no server stanza
// (it was sealed to users' keys only).
func userSealed(src io.ReaderAt, size int64) bool {
	var head [headRead]byte
	n, _ := src.ReadAt(head[:min(int64(headRead), size)], 0)
	return isUserSealed(head[:n])
}

// isUserSealed reports whether the header at the start of head has
// recipient stanzas but none for the server key.
func isUserSealed(head []byte) bool {
	end := bytes.Index(head, []byte("\n---"))
	if end < 0 {
		end = len(head)
	}
	h := head[:end]
	return bytes.Contains(h, []byte("\n-> X25519 ")) && !bytes.Contains(h, []byte("\n-> "+serverStanza+" "))
}

// Join returns a Sealer that seals to the recipients of all the given
// Sealers and opens with all their identities (nil ones are skipped). It
// caches nothing. Join never mixes the server key with a user's: callers
// join users' keys and an EphemeralSealer only.
func Join(sealers ...*Sealer) *Sealer {
	out := &Sealer{}
	for _, s := range sealers {
		if s == nil {
			continue
		}
		out.recipients = append(out.recipients, s.recipients...)
		out.identities = append(out.identities, s.identities...)
	}
	return out
}

// EphemeralSealer returns a Sealer with a fresh key held only in memory: a
// body also sealed to it can be read back by the process that wrote it
// (see WithSessionKey) until the Sealer is dropped, after which the extra
// recipient opens nothing.
func EphemeralSealer() (*Sealer, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("make ephemeral key: %w", err)
	}
	return NewSealer([]age.Recipient{id.Recipient()}, []age.Identity{id}, false), nil
}
