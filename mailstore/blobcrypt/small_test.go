package blobcrypt

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestOpenSmallFor: a one-chunk body decrypted in place reads as Open
// reads it, and fails as Open fails: tampered with anywhere, bound to
// another key, sealed to a user's key without the session's, no key.
func TestOpenSmallFor(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{false, true} {
		s := testSealer(t, cache)
		for _, n := range []int{0, 1, 4400, 64<<10 - 45, 64<<10 - 44} {
			plain := bytes.Repeat([]byte("x"), n)
			for i := range plain {
				plain[i] = byte('a' + i%26)
			}
			sealed := seal(t, s, testKey, plain)
			for range 2 { // the second time from the file key cache
				buf := bytes.Clone(sealed)
				got, err := s.OpenSmallFor(ctx, buf, testKey)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: %d bytes back, %v", n, len(got), err)
				}
				if len(got) > 0 && &got[0] != &buf[len(buf)-16-n] {
					t.Fatalf("%d bytes: the plaintext is not in the sealed body's memory", n)
				}
			}
			for _, pos := range []int{0, 30, 100, len(sealed) / 2, len(sealed) - 17, len(sealed) - 1} {
				bad := bytes.Clone(sealed)
				bad[pos] ^= 0x04
				if got, err := s.OpenSmallFor(ctx, bad, testKey); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%d bytes, flip at %d: %d bytes, %v; want ErrCorrupt", n, pos, len(got), err)
				}
			}
			if _, err := s.OpenSmallFor(ctx, bytes.Clone(sealed[:len(sealed)-1]), testKey); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%d bytes, truncated: %v", n, err)
			}
			if _, err := s.OpenSmallFor(ctx, bytes.Clone(sealed), strings.Repeat("f", 32)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%d bytes, another body's key: %v", n, err)
			}
		}
	}
	sealed := seal(t, testSealer(t, false), testKey, []byte("mine"))
	if _, err := (*Sealer)(nil).OpenSmallFor(ctx, bytes.Clone(sealed), testKey); !errors.Is(err, ErrNoKey) {
		t.Fatalf("without a key: %v", err)
	}
	if _, err := testSealer(t, true).OpenSmallFor(ctx, bytes.Clone(sealed), testKey); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("with another server key: %v", err)
	}

	// A user's body: locked without the session key, open with it.
	key, err := NewUserKey("ann-password-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	toUser, err := UserSealer(key.Public)
	if err != nil {
		t.Fatal(err)
	}
	userBody := seal(t, toUser, testKey, []byte("USER-MARKER letter"))
	server := testSealer(t, true)
	for _, s := range []*Sealer{nil, server} {
		if _, err := s.OpenSmallFor(ctx, bytes.Clone(userBody), testKey); !errors.Is(err, ErrLocked) {
			t.Fatalf("user body without the session key (server %v): %v", s != nil, err)
		}
	}
	id, err := key.Unlock("ann-password-1")
	if err != nil {
		t.Fatal(err)
	}
	sctx := WithSessionKey(ctx, SessionSealer(id))
	if got, err := server.OpenSmallFor(sctx, bytes.Clone(userBody), testKey); err != nil || string(got) != "USER-MARKER letter" {
		t.Fatalf("user body with the session key: %q, %v", got, err)
	}
}
