package blobcrypt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"filippo.io/age"
)

// TestX25519Identity: the session's identity opens what age's X25519
// recipient sealed (a whole age file, read back by age.Decrypt, and a
// body), refuses what was sealed to another key, and its key is the one
// age.ParseX25519Identity reads from the same string.
func TestX25519Identity(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := newX25519Identity(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := fast.pub; !bytes.Equal(got, recipientBytes(t, id.Recipient())) {
		t.Fatal("public key differs from age's")
	}
	other, _ := age.GenerateX25519Identity()
	for _, to := range [][]age.Recipient{{id.Recipient()}, {other.Recipient(), id.Recipient()}} {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, to...)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "an age file")
		w.Close()
		r, err := age.Decrypt(bytes.NewReader(buf.Bytes()), fast)
		if err != nil {
			t.Fatalf("%d recipients: %v", len(to), err)
		}
		if got, _ := io.ReadAll(r); string(got) != "an age file" {
			t.Fatalf("read %q", got)
		}
	}
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, other.Recipient())
	w.Close()
	var noMatch *age.NoIdentityMatchError
	if _, err := age.Decrypt(bytes.NewReader(buf.Bytes()), fast); !errors.As(err, &noMatch) {
		t.Fatalf("sealed to another key: %v, want no identity match", err)
	}
	// One character changed in the secret key: the checksum catches it.
	k := []byte(id.String())
	if k[20] == 'Q' {
		k[20] = 'P'
	} else {
		k[20] = 'Q'
	}
	if _, _, err := bech32Decode(string(k)); err == nil {
		t.Fatal("a damaged secret key decoded")
	}
}

// recipientBytes decodes an age X25519 recipient's public key.
func recipientBytes(t *testing.T, r *age.X25519Recipient) []byte {
	t.Helper()
	hrp, b, err := bech32Decode(r.String())
	if err != nil || hrp != "age" {
		t.Fatalf("decode %s: %q %v", r, hrp, err)
	}
	return b
}

func TestBech32Decode(t *testing.T) {
	for _, tc := range []struct {
		in, hrp string
		ok      bool
	}{
		{"A12UEL5L", "a", true}, // BIP 173 test vectors
		{"a12uel5l", "a", true}, //
		{"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "abcdef", true},
		{"A1G7SGD8", "", false}, // bad checksum
		{"a12UEL5L", "", false}, // mixed case
		{"1qzzfhee", "", false}, // empty hrp
		{"a1b2c3", "", false},   // too short for a checksum
		{"a12uelxl", "", false}, // character outside the charset changes the sum
	} {
		hrp, _, err := bech32Decode(tc.in)
		if (err == nil) != tc.ok || tc.ok && hrp != tc.hrp {
			t.Errorf("bech32Decode(%q) = %q, %v; want ok %v", tc.in, hrp, err, tc.ok)
		}
	}
}

// TestSessionKeys: a session reads a body again from the payload key it
// kept; a body whose header changed is not opened with the kept key (and
// fails as damaged), a damaged payload still fails with it; Forget drops
// the keys, and the body still opens (unwrapped again).
func TestSessionKeys(t *testing.T) {
	ctx := context.Background()
	key, err := NewUserKey("ann-password-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	toUser, _ := UserSealer(key.Public)
	id, _ := key.Unlock("ann-password-1")
	session := SessionSealer(id)
	sctx := WithSessionKey(ctx, session)
	plain := []byte("Subject: x\r\n\r\nSESSION-KEYS body\r\n")
	sealed := seal(t, toUser, testKey, plain)
	open := func(data []byte) ([]byte, error) {
		return (*Sealer)(nil).OpenSmallFor(sctx, bytes.Clone(data), testKey)
	}
	if got, err := open(sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("first read: %q %v", got, err)
	}
	if n := len(session.keys.keys); n != 1 {
		t.Fatalf("%d keys kept, want 1", n)
	}
	// Kept: a second read does not unwrap (an identity that always fails
	// would make it fail otherwise).
	session.identities = []age.Identity{failingIdentity{}}
	if got, err := open(sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read with the kept key: %q %v", got, err)
	}
	// A damaged payload fails with the kept key too.
	bad := bytes.Clone(sealed)
	bad[len(bad)-5] ^= 1
	if _, err := open(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged payload: %v, want ErrCorrupt", err)
	}
	// Another body under the same key (its header differs): not opened
	// with the kept key.
	other := seal(t, toUser, testKey, []byte("another body"))
	if _, err := open(other); err == nil {
		t.Fatal("a different header opened with the kept key")
	}
	session.Forget()
	if _, err := open(sealed); err == nil {
		t.Fatal("opened after Forget without an identity")
	}
	session.identities = []age.Identity{id}
	if got, err := open(sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read after Forget: %q %v", got, err)
	}
	if session.keys.keys != nil {
		t.Fatal("a key kept after Forget")
	}
}

// failingIdentity opens nothing.
type failingIdentity struct{}

func (failingIdentity) Unwrap([]*age.Stanza) ([]byte, error) { return nil, age.ErrIncorrectIdentity }

// BenchmarkUnwrapX25519 compares unwrapping a body's file key with age's
// X25519 identity and with the session's.
func BenchmarkUnwrapX25519(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	fast, _ := newX25519Identity(id)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Close()
	hdr, err := age.ExtractHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   age.Identity
	}{{"age", id}, {"session", fast}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := age.DecryptHeader(hdr, tc.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
