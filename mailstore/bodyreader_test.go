package mailstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// readAllFrom reads m through r, whole.
func readAllFrom(t testing.TB, r *BodyReader, m *MessageMeta) string {
	t.Helper()
	b, err := r.Open(context.Background(), m)
	if err != nil {
		t.Fatalf("open message %d: %v", m.UID, err)
	}
	defer b.Close()
	if b.Size() != m.Size {
		t.Fatalf("message %d: size %d, want %d", m.UID, b.Size(), m.Size)
	}
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read message %d: %v", m.UID, err)
	}
	return string(data)
}

func metaPointers(msgs []MessageMeta) []*MessageMeta {
	out := make([]*MessageMeta, len(msgs))
	for i := range msgs {
		out[i] = &msgs[i]
	}
	return out
}

// TestBodyReader: bodies read through a BodyReader, in batches, are byte
// for byte those OpenMessage gives, inline or in files, plaintext or
// sealed (one chunk, or two for a sealed inline body just under the
// limit), in order, in reverse and at random; a damaged sealed body fails
// authentication without spoiling its batch; an expunged body stays
// readable during its grace time and is gone after its release.
func TestBodyReader(t *testing.T) {
	for _, mode := range bodyModes {
		for _, sealed := range []bool{false, true} {
			name := mode.name
			if sealed {
				name += "-sealed"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				var sealer *blobcrypt.Sealer
				if sealed {
					sealer, _ = newTestSealer(t)
				}
				s := openStoreMode(t, t.TempDir(), sealer, mode.inlineMax)
				defer s.Close()
				u := newTestUser(t, s, "ann@example.com")
				const n = 150
				deliverMany(t, s, u.ID, n)
				// Larger ones: past the inline limit (a file), and just
				// under it (sealed, two chunks).
				for _, size := range []int{DefaultInlineMax + 5000, DefaultInlineMax - 100} {
					body := "Subject: big\r\n\r\n" + strings.Repeat("z", size-18) + "\r\n"
					if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body)}); err != nil || res[0].Err != nil {
						t.Fatal(err, res)
					}
				}
				deliverMany(t, s, u.ID, 10)
				inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
				msgs, err := s.ListMessages(ctx, inbox.ID, nil)
				if err != nil || len(msgs) != n+12 {
					t.Fatalf("%d messages, %v", len(msgs), err)
				}
				want := make([]string, len(msgs))
				for i := range msgs {
					want[i] = readBody(t, s, &msgs[i])
				}
				order := metaPointers(msgs)

				r := s.NewBodyReader(order, true)
				for i, m := range order {
					if got := readAllFrom(t, r, m); got != want[i] {
						t.Fatalf("message %d differs in order (%d bytes, want %d)", m.UID, len(got), len(want[i]))
					}
				}
				r.Close()
				r = s.NewBodyReader(order, false)
				for i := len(order) - 1; i >= 0; i-- {
					if got := readAllFrom(t, r, order[i]); got != want[i] {
						t.Fatalf("message %d differs in reverse", order[i].UID)
					}
				}
				rng := rand.New(rand.NewPCG(1, 2))
				for range 300 {
					i := rng.IntN(len(order))
					if got := readAllFrom(t, r, order[i]); got != want[i] {
						t.Fatalf("message %d differs read at random", order[i].UID)
					}
				}
				r.Close()

				if sealed && mode.inlineMax == 0 {
					// A flipped byte in the 3rd body: that one fails, the
					// others of its batch read.
					bad := &msgs[2]
					orig := storedBytes(t, s, bad.BlobKey)
					flipped := bytes.Clone(orig)
					flipped[len(flipped)-3] ^= 1
					setStoredBytes(t, s, bad.BlobKey, flipped)
					r = s.NewBodyReader(order, true)
					for i, m := range order[:10] {
						b, err := r.Open(ctx, m)
						if i == 2 {
							if !errors.Is(err, ErrBodyCorrupt) {
								t.Fatalf("damaged body: %v, want ErrBodyCorrupt", err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("message %d beside a damaged one: %v", m.UID, err)
						}
						b.Close()
					}
					if _, err := r.Open(ctx, bad); !errors.Is(err, ErrBodyCorrupt) {
						t.Fatalf("damaged body again: %v, want ErrBodyCorrupt", err)
					}
					r.Close()
					setStoredBytes(t, s, bad.BlobKey, orig)
				}

				// Expunged: readable during the grace time, gone after.
				uids := []uint32{msgs[0].UID, msgs[1].UID, msgs[n].UID}
				if err := s.DeleteMessages(ctx, inbox.ID, uids); err != nil {
					t.Fatal(err)
				}
				gone, err := s.ListExpunged(ctx, inbox.ID, uids)
				if err != nil || len(gone) != 3 {
					t.Fatalf("ListExpunged: %d, %v", len(gone), err)
				}
				r = s.NewBodyReader(metaPointers(gone), true)
				for i := range gone {
					wantBody := want[0]
					switch gone[i].UID {
					case msgs[1].UID:
						wantBody = want[1]
					case msgs[n].UID:
						wantBody = want[n]
					}
					if got := readAllFrom(t, r, &gone[i]); got != wantBody {
						t.Fatalf("expunged message %d differs", gone[i].UID)
					}
				}
				r.Close()
				// A reader that read them ahead before the release does
				// not serve them after it either.
				ahead := s.NewBodyReader(metaPointers(gone), true)
				readAllFrom(t, ahead, &gone[0])
				if _, err := s.ReleaseExpunged(ctx, time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				flushWrites(t, s)
				r = s.NewBodyReader(metaPointers(gone), true)
				for i := range gone {
					if _, err := r.Open(ctx, &gone[i]); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("released message %d: %v, want fs.ErrNotExist", gone[i].UID, err)
					}
					if _, err := ahead.Open(ctx, &gone[i]); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("released message %d, read ahead before: %v, want fs.ErrNotExist", gone[i].UID, err)
					}
				}
				r.Close()
				ahead.Close()
			})
		}
	}
}

// TestBodyReaderPending: a body written and not yet committed, and one
// deleted and not yet committed, read as the store says.
func TestBodyReaderPending(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	key, n, err := s.inline.PutUnsynced(ctx, strings.NewReader("pending body"))
	if err != nil {
		t.Fatal(err)
	}
	m := &MessageMeta{UID: 1, Size: n, BlobKey: key}
	r := s.NewBodyReader([]*MessageMeta{m}, true)
	defer r.Close()
	if got := readAllFrom(t, r, m); got != "pending body" {
		t.Fatalf("pending body read %q", got)
	}
	if err := s.inline.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleted body: %v, want fs.ErrNotExist", err)
	}
}

// TestBodyReaderAllocs bounds the allocations per inline body read in
// batches, plaintext and sealed (a regression to one query per body costs
// about twenty).
func TestBodyReaderAllocs(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			ctx := context.Background()
			var sealer *blobcrypt.Sealer
			if sealed {
				sealer, _ = newTestSealer(t)
			}
			s := openStoreMode(t, t.TempDir(), sealer, 0)
			defer s.Close()
			u := newTestUser(t, s, "ann@example.com")
			const n = 256
			deliverMany(t, s, u.ID, n)
			inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
			msgs, _ := s.ListMessages(ctx, inbox.ID, nil)
			order := metaPointers(msgs)
			buf := make([]byte, 64<<10)
			readAll := func() {
				r := s.NewBodyReader(order, true)
				for _, m := range order {
					b, err := r.Open(ctx, m)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadFull(b, buf[:m.Size]); err != nil {
						t.Fatal(err)
					}
					b.Close()
				}
				r.Close()
			}
			readAll() // warm the cipher cache and the pools
			perMsg := testing.AllocsPerRun(5, readAll) / n
			// Per row, database/sql and the driver take about six
			// (the key and the data, each copied and boxed; the key's
			// argument, boxed and copied); opening a sealed one three more.
			limit := 7.0
			if sealed {
				limit = 10
			}
			t.Logf("%.1f allocations per body", perMsg)
			if perMsg > limit {
				t.Fatalf("%.1f allocations per body, want at most %.0f", perMsg, limit)
			}
		})
	}
}

// TestBodyReaderBounds: a batch holds at most bodyBatchMessages bodies
// and, past the first, bodyBatchBytes bytes of them.
func TestBodyReaderBounds(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "ann@example.com")
	for _, size := range []int{1000, 60 << 10} {
		for range 80 {
			body := "Subject: b\r\n\r\n" + strings.Repeat("y", size) + "\r\n"
			if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body)}); err != nil || res[0].Err != nil {
				t.Fatal(err, res)
			}
		}
	}
	inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
	msgs, _ := s.ListMessages(ctx, inbox.ID, nil)
	order := metaPointers(msgs)
	r := s.NewBodyReader(order, true)
	defer r.Close()
	for i, m := range order {
		b, err := r.Open(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		var bytes int64
		for _, e := range r.batch {
			bytes += int64(len(e.data))
		}
		if len(r.batch) > bodyBatchMessages || len(r.batch) > 1 && bytes > bodyBatchBytes {
			t.Fatalf("after message %d: a batch of %d bodies, %d bytes", i, len(r.batch), bytes)
		}
		if i == 0 && len(r.batch) != bodyBatchMessages {
			t.Fatalf("first batch of small bodies: %d, want %d", len(r.batch), bodyBatchMessages)
		}
	}
}
