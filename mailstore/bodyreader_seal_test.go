package mailstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestBodyReaderSealedTampered: sealed inline bodies read in batches
// (the first of a batch opened by the reader, the others by its worker),
// with the server key and with a user's session key, after the payload
// keys of the whole mailbox were kept by a first read. A body whose row
// was overwritten with another message's sealed body, one with a flipped
// byte in its payload, and one with a flipped byte in its header each
// fail with ErrBodyCorrupt (the last, in user-key mode, may read as
// ErrBodyLocked: sealed to a key the session does not hold), again when
// read a second time, and never give a byte of any plaintext; the bodies
// beside them read as delivered.
func TestBodyReaderSealedTampered(t *testing.T) {
	for _, mode := range []string{EncryptionServer, EncryptionUser} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			sealer, _ := newTestSealer(t)
			s := openStoreMode(t, t.TempDir(), sealer, 0)
			defer s.Close()
			u := newSealTestUser(t, s, "ann@seal.test", mode == EncryptionUser)
			const n = 40
			for i := range n {
				if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(testMessage(i))}); err != nil || res[0].Err != nil {
					t.Fatal(err, res)
				}
			}
			readCtx := ctx
			if mode == EncryptionUser {
				_, key, err := s.OpenMailSession(ctx, "ann@seal.test", "ann-password-1", ProtocolIMAP)
				if err != nil || key == nil {
					t.Fatalf("session key: %v %v", key, err)
				}
				defer key.Forget()
				readCtx = key.Context(ctx)
				if _, err := readMessage(ctx, s, &inboxMetas(t, s, u.ID)[0]); !errors.Is(err, ErrBodyLocked) {
					t.Fatalf("read without the session key: %v, want ErrBodyLocked", err)
				}
			}
			msgs := inboxMetas(t, s, u.ID)
			if len(msgs) != n {
				t.Fatalf("%d messages", len(msgs))
			}
			order := metaPointers(msgs)
			want := make([]string, n)
			r := s.NewBodyReader(order, true)
			for i, m := range order {
				b, err := r.Open(readCtx, m)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(b)
				want[i] = string(data)
				if !IsInlineKey(m.BlobKey) || !strings.Contains(want[i], "SECRET-MARKER-") {
					t.Fatalf("message %d: key %s, body %.40q", m.UID, m.BlobKey, want[i])
				}
				if stored := storedBytes(t, s, m.BlobKey); bytes.Contains(stored, []byte("SECRET-MARKER")) {
					t.Fatalf("message %d stored in plaintext", m.UID)
				}
			}
			r.Close()

			// 0 is the first of its batch; 3, 5 and 9 are opened ahead.
			swapped, flippedPayload, flippedHeader, first := 3, 5, 9, 0
			setStoredBytes(t, s, msgs[swapped].BlobKey, storedBytes(t, s, msgs[7].BlobKey))
			for _, i := range []int{flippedPayload, first} {
				b := storedBytes(t, s, msgs[i].BlobKey)
				b[len(b)-20] ^= 0x10
				setStoredBytes(t, s, msgs[i].BlobKey, b)
			}
			b := storedBytes(t, s, msgs[flippedHeader].BlobKey)
			b[40] ^= 0x01 // inside the first recipient stanza
			setStoredBytes(t, s, msgs[flippedHeader].BlobKey, b)
			bad := map[int]bool{swapped: true, flippedPayload: true, flippedHeader: true, first: true}

			for _, readAhead := range []bool{true, false} {
				r := s.NewBodyReader(order, readAhead)
				for pass := range 2 {
					for i, m := range order {
						body, err := r.Open(readCtx, m)
						if bad[i] {
							if i == flippedHeader && mode == EncryptionUser && errors.Is(err, ErrBodyLocked) {
								// A user's stanza the session's key does
								// not open reads as sealed to another key.
								err = ErrBodyCorrupt
							}
							if !errors.Is(err, ErrBodyCorrupt) || body != nil {
								t.Fatalf("read ahead %v, pass %d: tampered message %d: %v (blob %v), want ErrBodyCorrupt", readAhead, pass, i, err, body != nil)
							}
							continue
						}
						if err != nil {
							t.Fatalf("read ahead %v, pass %d: message %d beside tampered ones: %v", readAhead, pass, i, err)
						}
						data, _ := io.ReadAll(body)
						if string(data) != want[i] {
							t.Fatalf("read ahead %v, pass %d: message %d reads %.60q, want %.60q", readAhead, pass, i, data, want[i])
						}
					}
				}
				r.Close()
			}
		})
	}
}

// newSealTestUser creates the user address (password "ann-password-1")
// and its domain, in user-key mode if userKeys.
func newSealTestUser(t testing.TB, s *Store, address string, userKeys bool) *User {
	t.Helper()
	ctx := context.Background()
	domain := address[strings.IndexByte(address, '@')+1:]
	if _, err := s.CreateDomain(ctx, domain); err != nil {
		t.Fatal(err)
	}
	if userKeys {
		m := EncryptionUser
		if _, err := s.UpdateDomain(ctx, domain, DomainUpdate{EncryptionMode: &m}); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.CreateUser(ctx, NewUser{Address: address, Password: "ann-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}
