package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// softAuthenticator is a WebAuthn authenticator in software, written from
// the specification (WebAuthn Level 3 §6.1, §6.5; CTAP2 CBOR; RFC 8152
// COSE keys) so that the API's passkey routes can be tested without a
// browser: it makes ES256 credentials with attestation "none" and signs
// assertions, counting signatures like a security key does.
type softAuthenticator struct {
	t      *testing.T
	origin string
	creds  []*softCredential
}

// softCredential is one credential the authenticator made.
type softCredential struct {
	id     []byte
	key    *ecdsa.PrivateKey
	rpID   string
	handle []byte
	count  uint32
}

var b64 = base64.RawURLEncoding

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// cborHead encodes a CBOR major type with its argument.
func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	case n < 65536:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
	b := []byte{major<<5 | 26, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

func cborInt(i int64) []byte {
	if i < 0 {
		return cborHead(1, uint64(-1-i))
	}
	return cborHead(0, uint64(i))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// coseKey is the credential's public key as a COSE_Key (EC2, P-256,
// ES256).
func (c *softCredential) coseKey() []byte {
	pub, err := c.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	x, y := pub[1:33], pub[33:65]
	out := cborHead(5, 5)
	out = append(out, cborInt(1)...)
	out = append(out, cborInt(2)...) // kty: EC2
	out = append(out, cborInt(3)...)
	out = append(out, cborInt(-7)...) // alg: ES256
	out = append(out, cborInt(-1)...)
	out = append(out, cborInt(1)...) // crv: P-256
	out = append(out, cborInt(-2)...)
	out = append(out, cborBytes(x)...)
	out = append(out, cborInt(-3)...)
	out = append(out, cborBytes(y)...)
	return out
}

// authData builds authenticator data for rpID.
func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// clientData is the clientDataJSON of a ceremony.
func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

// create answers navigator.credentials.create() options (the "publicKey"
// member of what the server sent) with a new credential, as the JSON of a
// PublicKeyCredential.
func (a *softAuthenticator) create(options map[string]any) (map[string]any, *softCredential) {
	a.t.Helper()
	pk, _ := options["publicKey"].(map[string]any)
	rp, _ := pk["rp"].(map[string]any)
	user, _ := pk["user"].(map[string]any)
	challenge, _ := pk["challenge"].(string)
	rpID, _ := rp["id"].(string)
	uid, _ := user["id"].(string)
	handle, err := b64.DecodeString(uid)
	if challenge == "" || rpID == "" || err != nil {
		a.t.Fatalf("creation options %v", options)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	c := &softCredential{id: make([]byte, 32), key: key, rpID: rpID, handle: handle}
	rand.Read(c.id)
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(c.id)))
	attested = append(attested, c.id...)
	attested = append(attested, c.coseKey()...)
	ad := authData(rpID, flagUP|flagUV|flagAT, 0, attested)
	att := cborHead(5, 3)
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, cborHead(5, 0)...)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(ad)...)
	a.creds = append(a.creds, c)
	return map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"usb"},
		},
		"clientExtensionResults": map[string]any{},
	}, c
}

// get answers navigator.credentials.get() options with an assertion of c
// (its signature counter moves on by one).
func (a *softAuthenticator) get(options map[string]any, c *softCredential) map[string]any {
	a.t.Helper()
	pk, _ := options["publicKey"].(map[string]any)
	challenge, _ := pk["challenge"].(string)
	if challenge == "" {
		a.t.Fatalf("request options %v", options)
	}
	c.count++
	return a.assert(challenge, c, c.count)
}

// assert signs an assertion of c over challenge with signature counter
// count.
func (a *softAuthenticator) assert(challenge string, c *softCredential, count uint32) map[string]any {
	a.t.Helper()
	ad := authData(c.rpID, flagUP|flagUV, count, nil)
	cd := a.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	return map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.handle),
		},
		"clientExtensionResults": map[string]any{},
	}
}
