package mailstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gorm.io/gorm"
)

// blobLister is a blob store that can list its bodies (for the orphan
// sweep).
type blobLister interface {
	// listBlobs calls fn with the key and modification time of every body.
	listBlobs(ctx context.Context, fn func(key string, mod time.Time)) error
}

// listBlobs implements blobLister.
func (s *FileBlobStore) listBlobs(ctx context.Context, fn func(key string, mod time.Time)) error {
	for i := 0; i < 256; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		shard := filepath.Join(s.dir, fmt.Sprintf("%02x", i))
		entries, err := os.ReadDir(shard)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || len(name) != 32 || name[:2] != filepath.Base(shard) {
				continue
			}
			if _, err := hex.DecodeString(name); err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			fn(name, fi.ModTime())
		}
	}
	return nil
}

// blobTables returns the tables of g that reference bodies: those with a
// blob_key column, whichever package owns them (see MigrateTables), found
// from the database itself so that the sweep never forgets one.
func (s *Store) blobTables(g *gorm.DB) ([]string, error) {
	tables, err := s.dialect.TablesWithColumn(g, "blob_key")
	if err != nil {
		return nil, fmt.Errorf("tables referencing bodies: %w", err)
	}
	return tables, nil
}

// sweepChunk bounds the bodies checked and removed in one transaction.
const sweepChunk = 500

// SweepOrphanBodies removes the bodies that no message, queued message or
// quarantined message references and that were written before olderThan:
// those a process killed between writing a body and committing its
// metadata left behind. The check and the removal run inside a write
// transaction, so no commit can reference a body while it is removed;
// olderThan must leave a margin for bodies that a running process (this
// one, or a CLI command) has written and not yet committed. It returns how
// many bodies it removed. Bodies kept inline in the database are swept
// like files (by the time their commit wrote them); a blob store that
// cannot list its bodies is left alone. One process on the database
// sweeps at a time: another one's sweep gives ErrJobRunning.
func (s *Store) SweepOrphanBodies(ctx context.Context, olderThan time.Time) (int, error) {
	var n int
	err := s.exclusive(ctx, jobSweepOrphans, func() (err error) {
		n, err = s.sweepOrphanBodies(ctx, olderThan)
		return err
	})
	return n, err
}

// sweepOrphanBodies is SweepOrphanBodies holding the job's lock.
func (s *Store) sweepOrphanBodies(ctx context.Context, olderThan time.Time) (int, error) {
	var candidates []string
	if lister, ok := s.files.(blobLister); ok {
		if err := lister.listBlobs(ctx, func(key string, mod time.Time) {
			if mod.Before(olderThan) {
				candidates = append(candidates, key)
			}
		}); err != nil {
			return 0, fmt.Errorf("sweep orphan bodies: %w", err)
		}
	}
	var inline []string
	if err := s.db.WithContext(ctx).Model(&inlineBody{}).Where("written_at < ?", olderThan.Unix()).Pluck("body_key", &inline).Error; err != nil {
		return 0, fmt.Errorf("sweep orphan bodies: %w", err)
	}
	candidates = append(candidates, inline...)
	removed := 0
	for chunk := range slices.Chunk(candidates, sweepChunk) {
		var n int
		err := s.write(ctx, func(tx *writeTx) error {
			n = 0
			tables, err := s.blobTables(tx.DB)
			if err != nil {
				return err
			}
			referenced := map[string]bool{}
			for _, t := range tables {
				var keys []string
				if err := tx.Table(t).Where("blob_key IN ?", chunk).Distinct().Pluck("blob_key", &keys).Error; err != nil {
					return fmt.Errorf("%s: %w", t, err)
				}
				for _, k := range keys {
					referenced[k] = true
				}
			}
			for _, k := range chunk {
				if referenced[k] {
					continue
				}
				if IsInlineKey(k) {
					if err := deleteInlineTx(tx, k); err != nil {
						return err
					}
				} else if err := s.files.Delete(ctx, k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		removed += n
		if err != nil {
			return removed, fmt.Errorf("sweep orphan bodies: %w", err)
		}
	}
	return removed, nil
}
