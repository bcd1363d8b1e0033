package blobcrypt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

func TestSessionKeyOpensUserBodies(t *testing.T) {
	ctx := context.Background()
	key, err := NewUserKey("ann-password-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	seal2user, err := UserSealer(key.Public)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("USER-MARKER line of a letter\r\n"), 5000)
	sealed := seal(t, seal2user, testKey, plain)
	if bytes.Contains(sealed, []byte("USER-MARKER")) {
		t.Fatal("plaintext in the sealed body")
	}
	server := testSealer(t, true)
	src := bytes.NewReader(sealed)

	// Without the session key: locked, with or without a server key.
	for _, s := range []*Sealer{nil, server} {
		if _, err := s.OpenFor(ctx, src, int64(len(sealed)), testKey); !errors.Is(err, ErrLocked) {
			t.Fatalf("open without the user's key (server %v): %v, want ErrLocked", s != nil, err)
		}
	}
	// A wrong password does not unlock the key.
	if _, err := key.Unlock("wrong-password"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("unlock with a wrong password: %v", err)
	}
	id, err := key.Unlock("ann-password-1")
	if err != nil {
		t.Fatal(err)
	}
	sctx := WithSessionKey(ctx, SessionSealer(id))
	for _, s := range []*Sealer{nil, server} {
		b, err := s.OpenFor(sctx, src, int64(len(sealed)), testKey)
		if err != nil {
			t.Fatalf("open with the session key: %v", err)
		}
		got, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
		b.Close()
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("read with the session key: %v, %d bytes", err, len(got))
		}
	}
	// The server's cache did not keep the session's file key.
	if _, err := server.OpenFor(ctx, src, int64(len(sealed)), testKey); !errors.Is(err, ErrLocked) {
		t.Fatalf("open after a session opened it: %v, want ErrLocked", err)
	}
	// A flipped byte in the payload fails authentication, with the key.
	bad := bytes.Clone(sealed)
	bad[len(bad)-100] ^= 1
	b, err := server.OpenFor(sctx, bytes.NewReader(bad), int64(len(bad)), testKey)
	if err == nil {
		_, err = io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
		b.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %v, want ErrCorrupt", err)
	}
	// Server-key bodies still open in a session.
	sb := seal(t, server, testKey, []byte("server sealed"))
	if b, err := server.OpenFor(sctx, bytes.NewReader(sb), int64(len(sb)), testKey); err != nil {
		t.Fatalf("server body in a session: %v", err)
	} else {
		b.Close()
	}
}

func TestEphemeralReadBack(t *testing.T) {
	key, err := NewUserKey("ann-password-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := UserSealer(key.Public)
	eph, err := EphemeralSealer()
	if err != nil {
		t.Fatal(err)
	}
	sealed := seal(t, Join(user, eph), testKey, []byte("hello"))
	b, err := (*Sealer)(nil).OpenFor(WithSessionKey(context.Background(), eph), bytes.NewReader(sealed), int64(len(sealed)), testKey)
	if err != nil {
		t.Fatalf("read back with the ephemeral key: %v", err)
	}
	b.Close()
	id, _ := key.Unlock("ann-password-1")
	b, err = (*Sealer)(nil).OpenFor(WithSessionKey(context.Background(), SessionSealer(id)), bytes.NewReader(sealed), int64(len(sealed)), testKey)
	if err != nil {
		t.Fatalf("read with the user's key: %v", err)
	}
	b.Close()
}
