package blobcrypt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func testSealer(t testing.TB, cache bool) *Sealer {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return serverSealer(t, id, cache)
}

// serverSealer is the Sealer LoadServerKey makes of id.
func serverSealer(t testing.TB, id *age.X25519Identity, cache bool) *Sealer {
	t.Helper()
	recipients, fast, err := serverKeys([]*age.X25519Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSealer(recipients, []age.Identity{id}, cache)
	s.fast = fast
	return s
}

func seal(t testing.TB, s *Sealer, key string, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := s.Seal(&buf, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testKey = "0123456789abcdef0123456789abcdef"

func TestRoundTripAndRandomAccess(t *testing.T) {
	for _, cache := range []bool{false, true} {
		s := testSealer(t, cache)
		for _, n := range []int{0, 1, 100, 64<<10 - 45, 64<<10 - 44, 64 << 10, 64<<10 + 1, 300_000} {
			plain := make([]byte, n)
			for i := range plain {
				plain[i] = byte('a' + i%26)
			}
			sealed := seal(t, s, testKey, plain)
			if !IsSealed(sealed) {
				t.Fatalf("%d bytes: sealed body does not start with the magic", n)
			}
			if n > 20 && bytes.Contains(sealed, plain[:20]) {
				t.Fatalf("%d bytes: plaintext visible in the sealed body", n)
			}
			for range 2 { // the second time from the file key cache
				r, err := s.Open(bytes.NewReader(sealed), int64(len(sealed)), testKey)
				if err != nil {
					t.Fatalf("%d bytes: open: %v", n, err)
				}
				if r.Size() != int64(n) {
					t.Fatalf("%d bytes: size %d", n, r.Size())
				}
				got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: read back %d bytes, err %v", n, len(got), err)
				}
				for range 20 {
					if n == 0 {
						break
					}
					off := rand.IntN(n)
					l := rand.IntN(n-off) + 1
					buf := make([]byte, l)
					if _, err := r.ReadAt(buf, int64(off)); err != nil && err != io.EOF {
						t.Fatalf("%d bytes: ReadAt(%d, %d): %v", n, off, l, err)
					}
					if !bytes.Equal(buf, plain[off:off+l]) {
						t.Fatalf("%d bytes: ReadAt(%d, %d) differs", n, off, l)
					}
				}
			}
		}
	}
}

// TestTamperingDetected flips one bit at many places of a sealed body of
// three chunks: opening it or reading it through must fail with ErrCorrupt,
// and never return the flipped bytes.
func TestTamperingDetected(t *testing.T) {
	s := testSealer(t, true)
	plain := bytes.Repeat([]byte("Subject: secret\r\n"), 10_000) // 170 kB
	sealed := seal(t, s, testKey, plain)
	for _, pos := range []int{0, 30, 100, 200, len(sealed) / 3, len(sealed) / 2, len(sealed) - 70_000, len(sealed) - 17, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[pos] ^= 0x04
		// Open the first time with a fresh cache state: the cached key must
		// not hide tampering either.
		r, err := s.Open(bytes.NewReader(bad), int64(len(bad)), testKey)
		if err == nil {
			var got []byte
			got, err = io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
			if err == nil {
				t.Fatalf("flip at %d of %d: read %d bytes without error", pos, len(sealed), len(got))
			}
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("flip at %d: error %v does not wrap ErrCorrupt", pos, err)
		}
	}
	// Truncation.
	if _, err := s.Open(bytes.NewReader(sealed[:len(sealed)-100]), int64(len(sealed)-100), testKey); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
}

// TestBoundToKey: a sealed body copied over another body's file does not
// open as that body.
func TestBoundToKey(t *testing.T) {
	s := testSealer(t, false)
	sealed := seal(t, s, testKey, []byte("mine"))
	other := strings.Repeat("f", 32)
	if _, err := s.Open(bytes.NewReader(sealed), int64(len(sealed)), other); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("opened under another key: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	sealed := seal(t, testSealer(t, false), testKey, []byte("mine"))
	if _, err := testSealer(t, true).Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("opened with another server key: %v", err)
	}
	if _, err := (*Sealer)(nil).Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); !errors.Is(err, ErrNoKey) {
		t.Fatalf("opened without a key: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(base, "yubin.key")
	pub, err := GenerateKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pub, "age1") {
		t.Fatalf("public key %q", pub)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	if _, err := GenerateKeyFile(keyPath); err == nil {
		t.Fatal("keygen overwrote an existing file")
	}
	s, err := LoadServerKey(keyPath, data)
	if err != nil {
		t.Fatal(err)
	}
	sealed := seal(t, s, testKey, []byte("hello"))
	if r, err := s.Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); err != nil || r.Size() != 5 {
		t.Fatalf("open with the loaded key: %v", err)
	}

	// Readable by others: refused.
	os.Chmod(keyPath, 0o640)
	if _, err := LoadServerKey(keyPath, data); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0640 accepted: %v", err)
	}
	os.Chmod(keyPath, 0o600)

	// Inside the data folder, directly or through a symbolic link: refused.
	inside := filepath.Join(data, "tls", "k")
	os.MkdirAll(filepath.Dir(inside), 0o700)
	if _, err := GenerateKeyFile(inside); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServerKey(inside, data); err == nil || !strings.Contains(err.Error(), "inside the data folder") {
		t.Fatalf("key inside the data folder accepted: %v", err)
	}
	link := filepath.Join(base, "datalink")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServerKey(inside, link); err == nil {
		t.Fatal("key inside the data folder (named through a link) accepted")
	}
	if _, err := LoadServerKey(filepath.Join(link, "tls", "k"), data); err == nil {
		t.Fatal("key inside the data folder (reached through a link) accepted")
	}
	// A sibling whose name starts like the data folder's is outside.
	sib := filepath.Join(base, "data2.key")
	if _, err := GenerateKeyFile(sib); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServerKey(sib, data); err != nil {
		t.Fatalf("sibling key refused: %v", err)
	}
	// Not a key.
	junk := filepath.Join(base, "junk")
	os.WriteFile(junk, []byte("hello\n"), 0o600)
	if _, err := LoadServerKey(junk, data); err == nil {
		t.Fatal("junk accepted as a key")
	}
}

func BenchmarkOpenRead(b *testing.B) {
	plain := bytes.Repeat([]byte("x"), 8<<10)
	for _, cache := range []bool{false, true} {
		s := testSealer(b, cache)
		sealed := seal(b, s, testKey, plain)
		name := "nocache"
		if cache {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				r, err := s.Open(bytes.NewReader(sealed), int64(len(sealed)), testKey)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, io.NewSectionReader(r, 0, r.Size()))
				r.Close()
			}
		})
	}
}

// TestAgeCompatible: a sealed body is a standard age file: the age library
// (and so the age tool, with the key file) decrypts it to the binding line
// followed by the message, and Body reads what age wrote.
func TestAgeCompatible(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := serverSealer(t, id, false)
	plain := bytes.Repeat([]byte("Subject: hello\r\n"), 9000)
	sealed := seal(t, s, testKey, plain)
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte(binding(testKey)), plain...); !bytes.Equal(got, want) {
		t.Fatalf("age decrypts %d bytes, want %d", len(got), len(want))
	}
	// And a file age wrote directly opens.
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, binding(testKey))
	w.Write(plain)
	w.Close()
	b, err := s.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size())); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read %d bytes of age's file, %v", len(got), err)
	}
}

// TestServerStanza: bodies carry the fast stanza and the X25519 one; either
// alone opens the body, and a damaged fast stanza is caught by the header
// MAC even though the X25519 stanza still unwraps the key.
func TestServerStanza(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := serverSealer(t, id, false)
	sealed := seal(t, s, testKey, []byte("hello"))
	if !bytes.Contains(sealed, []byte("\n-> X25519 ")) || !bytes.Contains(sealed, []byte("\n-> "+serverStanza+" ")) {
		t.Fatalf("header lacks a stanza:\n%s", sealed[:200])
	}
	// Only the X25519 key (as the age tool would have it).
	plainX := NewSealer(nil, []age.Identity{id}, false)
	if b, err := plainX.Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); err != nil || b.Size() != 5 {
		t.Fatalf("X25519 alone: %v", err)
	}
	// Only the fast key.
	_, fast, _ := serverKeys([]*age.X25519Identity{id})
	onlyFast := &Sealer{identities: fast}
	if b, err := onlyFast.Open(bytes.NewReader(sealed), int64(len(sealed)), testKey); err != nil || b.Size() != 5 {
		t.Fatalf("fast key alone: %v", err)
	}
	// Damage the fast stanza's body (the line after its "-> " line).
	i := bytes.Index(sealed, []byte("-> "+serverStanza))
	j := bytes.IndexByte(sealed[i:], '\n') + i + 1
	bad := bytes.Clone(sealed)
	if bad[j] == 'A' {
		bad[j] = 'B'
	} else {
		bad[j] = 'A'
	}
	if _, err := s.Open(bytes.NewReader(bad), int64(len(bad)), testKey); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged fast stanza: %v", err)
	}
}

// TestKeyRotation: with a new key put at the top of the key file and the
// old one kept below, new bodies are sealed to the new key and bodies
// sealed to the old one still open (README, Encryption at rest).
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	if _, err := GenerateKeyFile(oldPath); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyFile(newPath); err != nil {
		t.Fatal(err)
	}
	oldS, err := LoadServerKey(oldPath, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	oldBody := seal(t, oldS, testKey, []byte("old mail"))
	a, _ := os.ReadFile(newPath)
	b, _ := os.ReadFile(oldPath)
	both := filepath.Join(dir, "both.key")
	if err := os.WriteFile(both, append(a, b...), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated, err := LoadServerKey(both, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	newBody := seal(t, rotated, testKey, []byte("new mail"))
	newOnly, err := LoadServerKey(newPath, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    *Sealer
		body []byte
		ok   bool
	}{
		{"old body, rotated file", rotated, oldBody, true},
		{"new body, rotated file", rotated, newBody, true},
		{"new body, new key alone", newOnly, newBody, true},
		{"new body, old key alone", oldS, newBody, false},
	} {
		r, err := c.s.Open(bytes.NewReader(c.body), int64(len(c.body)), testKey)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
		if r != nil {
			r.Close()
		}
	}
}
