package mailstore

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// TestPutUnsyncedBatchShard checks the group commit's folder flushes: the
// bodies written between two Syncs share one shard (one folder to flush),
// the next batch goes to another, and every body reads back.
func TestPutUnsyncedBatchShard(t *testing.T) {
	ctx := context.Background()
	bs, err := NewFileBlobStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	batch := func() (shard string, keys []string) {
		t.Helper()
		for i := range 5 {
			key, _, err := bs.PutUnsynced(ctx, strings.NewReader(strings.Repeat("x", i+1)))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
			if i == 0 {
				shard = key[:2]
			} else if key[:2] != shard {
				t.Errorf("bodies of one batch in shards %s and %s", shard, key[:2])
			}
		}
		bs.mu.Lock()
		pending := len(bs.pendingDirs)
		bs.mu.Unlock()
		if pending != 1 {
			t.Errorf("%d folders to flush for one batch, want 1", pending)
		}
		if err := bs.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		return shard, keys
	}
	first, keys1 := batch()
	second, keys2 := batch()
	if first == second {
		t.Errorf("two batches in the same shard %s", first)
	}
	for i, key := range append(keys1, keys2...) {
		b, err := bs.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b)
		b.Close()
		if want := strings.Repeat("x", i%5+1); err != nil || string(got) != want {
			t.Errorf("body %s: %q, %v; want %q", key, got, err, want)
		}
	}
}

// TestOpenSizes reads bodies back byte for byte on both read paths (read
// whole into memory up to smallBlobSize, from the open file above it),
// plaintext and sealed, whole and at an offset; closing twice is harmless.
func TestOpenSizes(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	for _, sealed := range []bool{false, true} {
		var sl *blobcrypt.Sealer
		if sealed {
			sl = sealer
		}
		bs, err := NewFileBlobStore(t.TempDir(), sl)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{0, 1, 4700, smallBlobSize - 1, smallBlobSize, smallBlobSize + 1, 3*smallBlobSize + 17} {
			want := make([]byte, size)
			for i := range want {
				want[i] = byte(i*7 + i/251)
			}
			key, n, err := bs.Put(ctx, bytes.NewReader(want))
			if err != nil || n != int64(size) {
				t.Fatalf("sealed %v, %d bytes: put: %d, %v", sealed, size, n, err)
			}
			b, err := bs.Open(ctx, key)
			if err != nil {
				t.Fatalf("sealed %v, %d bytes: %v", sealed, size, err)
			}
			if b.Size() != int64(size) {
				t.Errorf("sealed %v, %d bytes: Size %d", sealed, size, b.Size())
			}
			got, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("sealed %v, %d bytes: read %d bytes (%v), not the bytes stored", sealed, size, len(got), err)
			}
			if size > 10 {
				part := make([]byte, 10)
				if _, err := b.ReadAt(part, int64(size-10)); err != nil || !bytes.Equal(part, want[size-10:]) {
					t.Errorf("sealed %v, %d bytes: ReadAt the end: %q, %v", sealed, size, part, err)
				}
			}
			b.Close()
			b.Close() // a second Close gives no buffer back twice
		}
	}
}
