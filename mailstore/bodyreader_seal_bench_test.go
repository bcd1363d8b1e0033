package mailstore

import (
	"context"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// BenchmarkBodyReaderSealed reads a mailbox of 100 inline bodies of 10
// KiB through one BodyReader, as a FETCH 1:* BODY[] does, with the bodies
// in plaintext, sealed to the server key, and sealed to the user's key
// (user-key mode: a mail session's key, as after LOGIN): "user-key-first"
// unlocks the key anew for each pass (every body read for the first time
// in its session), "user-key-session" reads with one session's key pass
// after pass (a client that fetches the headers, then the bodies). One op
// is a pass over the mailbox; the difference between the modes is what
// encryption at rest costs on the read path, the network aside.
func BenchmarkBodyReaderSealed(b *testing.B) {
	const messages, size = 100, 10 << 10
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	body := "From: b@example.org\r\nSubject: bench\r\n\r\n" + strings.Repeat(line, size/len(line))
	for _, mode := range []string{"plain", "server-key", "user-key-first", "user-key-session"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := openStoreMode(b, b.TempDir(), nil, 0)
			if mode != "plain" {
				sealer, _ := newTestSealer(b)
				s.Close()
				s = openStoreMode(b, b.TempDir(), sealer, 0)
			}
			defer s.Close()
			userKeys := strings.HasPrefix(mode, "user-key")
			u := newSealTestUser(b, s, "ann@bench.test", userKeys)
			for range messages {
				if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body)}); err != nil || res[0].Err != nil {
					b.Fatal(err, res)
				}
			}
			inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
			msgs, err := s.ListMessages(ctx, inbox.ID, nil)
			if err != nil || len(msgs) != messages {
				b.Fatal(len(msgs), err)
			}
			order := metaPointers(msgs)
			readCtx := ctx
			var id *age.X25519Identity
			if userKeys {
				_, key, err := s.OpenMailSession(ctx, "ann@bench.test", "ann-password-1", ProtocolIMAP)
				if err != nil || key == nil {
					b.Fatal(key, err)
				}
				readCtx = key.Context(ctx)
				var row userKeyRow
				if err := s.db.Where("user_id = ?", u.ID).Take(&row).Error; err != nil {
					b.Fatal(err)
				}
				if id, err = row.key().Unlock("ann-password-1"); err != nil {
					b.Fatal(err)
				}
			}
			pass := func(r *BodyReader) {
				for _, m := range order {
					bl, err := r.Open(readCtx, m)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, bl); err != nil || n != m.Size {
						b.Fatal(n, err)
					}
					bl.Close()
				}
			}
			b.SetBytes(int64(messages * len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if mode == "user-key-first" {
					// A new session: what its key opened before is not
					// known to it.
					readCtx = (&MailKey{blobcrypt.SessionSealer(id)}).Context(ctx)
				}
				r := s.NewBodyReader(order, true)
				pass(r)
				r.Close()
			}
		})
	}
}
