package blobcrypt

// A session's X25519 identity (user-key mode), unwrapping the standard
// age "X25519" recipient stanza (age-encryption.org/v1, C2SP age
// specification) with one scalar multiplication per body. age's own
// X25519Identity goes through curve25519.X25519, which builds a private
// key, and so computes the public key again, for every stanza: two
// multiplications where one does, at every first read of a message.

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// x25519Label is the HKDF info of the X25519 stanza's wrapping key.
const x25519Label = "age-encryption.org/v1/X25519"

// fileKeySize is the size of an age file key.
const fileKeySize = 16

// x25519Identity opens X25519 stanzas with a private key whose public key
// is computed once.
type x25519Identity struct {
	priv *ecdh.PrivateKey
	pub  []byte // priv's public key, for the HKDF salt
}

// newX25519Identity converts id (an age X25519 identity) to an
// x25519Identity.
func newX25519Identity(id *age.X25519Identity) (*x25519Identity, error) {
	hrp, scalar, err := bech32Decode(id.String())
	if err != nil || hrp != "age-secret-key-" || len(scalar) != 32 {
		return nil, fmt.Errorf("x25519 identity: not an age secret key: %v", err)
	}
	defer clear(scalar)
	priv, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		return nil, fmt.Errorf("x25519 identity: %w", err)
	}
	return &x25519Identity{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// Unwrap implements age.Identity: the file key of the first X25519
// stanza wrapped for this key. A stanza for another key gives
// age.ErrIncorrectIdentity (the next is tried); a malformed one an error.
func (i *x25519Identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != "X25519" {
			continue
		}
		if len(s.Args) != 1 {
			return nil, errors.New("invalid X25519 recipient block")
		}
		share, err := base64.RawStdEncoding.Strict().DecodeString(s.Args[0])
		if err != nil || len(share) != 32 {
			return nil, errors.New("invalid X25519 recipient block")
		}
		if len(s.Body) != fileKeySize+chacha20poly1305.Overhead {
			return nil, errors.New("invalid X25519 recipient block: incorrect file key size")
		}
		peer, err := ecdh.X25519().NewPublicKey(share)
		if err != nil {
			return nil, fmt.Errorf("invalid X25519 recipient: %w", err)
		}
		shared, err := i.priv.ECDH(peer) // fails on a low-order share (all-zero secret)
		if err != nil {
			return nil, fmt.Errorf("invalid X25519 recipient: %w", err)
		}
		salt := make([]byte, 0, 64)
		salt = append(append(salt, share...), i.pub...)
		wrap, err := hkdf.Key(sha256.New, shared, salt, x25519Label, chacha20poly1305.KeySize)
		clear(shared)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.New(wrap)
		clear(wrap)
		if err != nil {
			return nil, err
		}
		var nonce [chacha20poly1305.NonceSize]byte
		if fk, err := aead.Open(nil, nonce[:], s.Body, nil); err == nil {
			return fk, nil
		}
	}
	return nil, age.ErrIncorrectIdentity
}

// bech32Charset maps 5-bit values to bech32 characters (BIP 173).
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Decode decodes a bech32 string (BIP 173, checksum checked; any
// length, as age's keys exceed the BIP's 90 characters) into its
// lower-case human-readable part and its data as bytes.
func bech32Decode(s string) (string, []byte, error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("bech32: mixed case")
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, errors.New("bech32: bad separator position")
	}
	hrp := s[:sep]
	values := make([]byte, 0, len(s)-sep-1)
	for _, c := range []byte(s[sep+1:]) {
		v := strings.IndexByte(bech32Charset, c)
		if v < 0 {
			return "", nil, fmt.Errorf("bech32: invalid character %q", c)
		}
		values = append(values, byte(v))
	}
	if bech32Polymod(hrp, values) != 1 {
		return "", nil, errors.New("bech32: bad checksum")
	}
	values = values[:len(values)-6]
	// 5-bit groups to bytes, no padding beyond what the groups need.
	out := make([]byte, 0, len(values)*5/8)
	acc, bits := uint32(0), 0
	for _, v := range values {
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return "", nil, errors.New("bech32: bad padding")
	}
	clear(values)
	return hrp, out, nil
}

// bech32Polymod is the BIP 173 checksum of hrp and values (1: valid).
func bech32Polymod(hrp string, values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	for i := range len(hrp) {
		step(hrp[i] >> 5)
	}
	step(0)
	for i := range len(hrp) {
		step(hrp[i] & 31)
	}
	for _, v := range values {
		step(v)
	}
	return chk
}
