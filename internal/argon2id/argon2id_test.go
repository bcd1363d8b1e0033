package argon2id

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestRFC9106Vector checks the Argon2id test vector of RFC 9106 section
// 5.3 (with a secret and associated data).
func TestRFC9106Vector(t *testing.T) {
	got, err := deriveKey(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16),
		bytes.Repeat([]byte{3}, 8), bytes.Repeat([]byte{4}, 12), 3, 32, 4, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	if hex.EncodeToString(got) != want {
		t.Errorf("tag %x, want %s", got, want)
	}
}

// TestAgainstXCrypto compares Key with golang.org/x/crypto/argon2.IDKey,
// an independent implementation, over parameters that reach every branch:
// one and several lanes, one and several passes, memory that is not a
// multiple of 4·lanes and less than 8·lanes, segments longer than one
// address block (128 blocks), keys shorter and longer than 64 bytes.
func TestAgainstXCrypto(t *testing.T) {
	cases := []struct {
		passes, memory uint32
		lanes          uint8
		keyLen         uint32
	}{
		{1, 8, 1, 32},
		{1, 1, 1, 32}, // raised to 8 KiB
		{3, 64, 1, 4},
		{2, 100, 3, 64},
		{1, 1024, 1, 65},
		{5, 7 * 1024, 1, 32}, // Yubin's parameters
		{2, 19 * 1024, 1, 32},
		{4, 2048, 4, 97},
		{1, 513, 2, 128},
		{3, 4099, 5, 1024},
	}
	for _, c := range cases {
		password := []byte("correct horse battery staple")
		salt := []byte("0123456789abcdef")
		got, err := Key(password, salt, c.passes, c.memory, c.lanes, c.keyLen)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		want := argon2.IDKey(password, salt, c.passes, c.memory, c.lanes, c.keyLen)
		if !bytes.Equal(got, want) {
			t.Errorf("t=%d m=%d p=%d T=%d: %x, x/crypto %x", c.passes, c.memory, c.lanes, c.keyLen, got, want)
		}
	}
}

// TestRandomAgainstXCrypto compares random small cases, passwords and
// salts of any length included.
func TestRandomAgainstXCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		password := make([]byte, r.IntN(80))
		salt := make([]byte, r.IntN(40))
		for i := range password {
			password[i] = byte(r.Uint32())
		}
		for i := range salt {
			salt[i] = byte(r.Uint32())
		}
		passes := 1 + r.Uint32N(4)
		lanes := uint8(1 + r.IntN(4))
		memory := r.Uint32N(600)
		keyLen := 4 + r.Uint32N(200)
		got, err := Key(password, salt, passes, memory, lanes, keyLen)
		if err != nil {
			t.Fatal(err)
		}
		if want := argon2.IDKey(password, salt, passes, memory, lanes, keyLen); !bytes.Equal(got, want) {
			t.Fatalf("t=%d m=%d p=%d T=%d password %x salt %x: %x, x/crypto %x", passes, memory, lanes, keyLen, password, salt, got, want)
		}
	}
}

// TestBadParameters: out-of-range parameters are errors, not panics.
func TestBadParameters(t *testing.T) {
	for _, c := range []struct {
		passes uint32
		lanes  uint8
		keyLen uint32
	}{{0, 1, 32}, {1, 0, 32}, {1, 1, 3}} {
		if _, err := Key([]byte("p"), []byte("saltsalt"), c.passes, 64, c.lanes, c.keyLen); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// FuzzAgainstXCrypto compares Key with x/crypto on fuzzed inputs.
func FuzzAgainstXCrypto(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(1), uint16(8), uint8(1), uint8(32))
	f.Add([]byte(""), []byte(""), uint8(2), uint16(300), uint8(3), uint8(70))
	f.Fuzz(func(t *testing.T, password, salt []byte, passes uint8, memory uint16, lanes, keyLen uint8) {
		p, m, l, k := uint32(passes%4)+1, uint32(memory%1024), lanes%8+1, uint32(keyLen)+4
		got, err := Key(password, salt, p, m, l, k)
		if err != nil {
			t.Fatal(err)
		}
		if want := argon2.IDKey(password, salt, p, m, l, k); !bytes.Equal(got, want) {
			t.Fatalf("differs from x/crypto: %x, %x", got, want)
		}
	})
}

// BenchmarkKey is one hash with Yubin's parameters (7 MiB, 5 passes).
func BenchmarkKey(b *testing.B) {
	for b.Loop() {
		if _, err := Key([]byte("password"), []byte("saltsaltsaltsalt"), 5, 7*1024, 1, 32); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkXCrypto is the same hash with golang.org/x/crypto/argon2.
func BenchmarkXCrypto(b *testing.B) {
	for b.Loop() {
		argon2.IDKey([]byte("password"), []byte("saltsaltsaltsalt"), 5, 7*1024, 1, 32)
	}
}
