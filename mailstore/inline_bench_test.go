package mailstore

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
)

// BenchmarkOpenBody reads bodies back through BlobStore.Open, kept inline
// in the database or as files, at a few sizes: run under `strace -c -f`
// to count the system calls per read (docs/benchmarks.md).
func BenchmarkOpenBody(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 10, 60 << 10} {
		for _, mode := range bodyModes {
			b.Run(fmt.Sprintf("%s/%dKiB", mode.name, size>>10), func(b *testing.B) {
				ctx := context.Background()
				s, err := Open(ctx, Options{Dir: b.TempDir(), Database: testdb.DSN(b), InlineMax: mode.inlineMax})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				u := newTestUser(b, s, "read@example.com")
				body := "Subject: read\r\n\r\n" + strings.Repeat("x", size-19) + "\r\n"
				const n = 400
				for range n {
					if res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body)}); err != nil || res[0].Err != nil {
						b.Fatal(err, res)
					}
				}
				inbox, _ := s.GetMailbox(ctx, u.ID, Inbox)
				msgs, err := s.ListMessages(ctx, inbox.ID, nil)
				if err != nil || len(msgs) != n {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					bl, err := s.OpenMessage(ctx, &msgs[i%n])
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, bl); err != nil {
						b.Fatal(err)
					}
					bl.Close()
				}
			})
		}
	}
}
