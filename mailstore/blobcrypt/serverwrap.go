package blobcrypt

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// serverStanza names the age recipient stanza that wraps a body's file key
// with a symmetric key derived from the server key, beside the standard
// X25519 stanza. Unwrapping it costs a ChaCha20-Poly1305 open instead of an
// X25519 multiplication, which matters when every message of a mailbox is
// read for the first time; the X25519 stanza keeps the file readable by the
// age tool.
const serverStanza = "yubin-server-v1"

// wrapKey derives the symmetric wrapping key of an X25519 server key.
func wrapKey(id *age.X25519Identity) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(id.String()), nil, "yubin blob file key wrap v1", chacha20poly1305.KeySize)
}

// serverRecipient wraps file keys in a serverStanza.
type serverRecipient struct{ key []byte }

func (r serverRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	aead, err := chacha20poly1305.NewX(r.key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return []*age.Stanza{{
		Type: serverStanza,
		Args: []string{base64.RawStdEncoding.EncodeToString(nonce)},
		Body: aead.Seal(nil, nonce, fileKey, []byte(serverStanza)),
	}}, nil
}

// serverIdentity unwraps a serverStanza.
type serverIdentity struct{ key []byte }

func (i serverIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(i.key)
	if err != nil {
		return nil, err
	}
	for _, s := range stanzas {
		if s.Type != serverStanza || len(s.Args) != 1 {
			continue
		}
		nonce, err := base64.RawStdEncoding.Strict().DecodeString(s.Args[0])
		if err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
			continue
		}
		if fk, err := aead.Open(nil, nonce, s.Body, []byte(serverStanza)); err == nil {
			return fk, nil
		}
	}
	return nil, age.ErrIncorrectIdentity
}

// serverKeys returns the recipients that seal to the first of ids and the
// fast identities that open what any of them sealed.
func serverKeys(ids []*age.X25519Identity) (recipients []age.Recipient, fast []age.Identity, err error) {
	for i, id := range ids {
		k, err := wrapKey(id)
		if err != nil {
			return nil, nil, fmt.Errorf("derive wrapping key: %w", err)
		}
		if i == 0 {
			recipients = []age.Recipient{id.Recipient(), serverRecipient{k}}
		}
		fast = append(fast, serverIdentity{k})
	}
	return recipients, fast, nil
}
