package mailstore

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// BenchmarkBlobRead opens and reads a 10 KiB body, in plaintext and
// sealed.
func BenchmarkBlobRead(b *testing.B) {
	sealer, _ := newTestSealer(b)
	for _, mode := range []string{"plain", "sealed"} {
		b.Run(mode, func(b *testing.B) {
			fb, err := NewFileBlobStore(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if mode == "sealed" {
				fb.sealer = sealer
			}
			ctx := context.Background()
			body := strings.Repeat("0123456789abcdef", 640)
			key, _, err := fb.Put(ctx, strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				r, err := fb.Open(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				buf.Grow(int(r.Size()) + 1)
				if _, err := io.Copy(&buf, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
