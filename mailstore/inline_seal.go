package mailstore

// Encryption at rest of the bodies kept inline in the database: counted,
// sealed and moved to users' keys like the files of the blob folder, each
// rewrite a single UPDATE in a write transaction (so a crash leaves the
// old bytes or the new ones, never half of either).

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// inlineSealStatus adds the inline bodies to st.
func (s *Store) inlineSealStatus(ctx context.Context, st *SealStatus) error {
	rows, err := s.db.WithContext(ctx).Raw("SELECT substr(data, 1, ?), length(data) FROM inline_bodies", blobcrypt.PrefixLen).Rows()
	if err != nil {
		return fmt.Errorf("inline bodies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var head []byte
		var size int64
		if err := rows.Scan(&head, &size); err != nil {
			return fmt.Errorf("inline bodies: %w", err)
		}
		st.Bodies++
		if blobcrypt.IsSealed(head) {
			st.Sealed++
		} else {
			st.Plain++
			st.PlainBytes += size
		}
	}
	return rows.Err()
}

// plainInlineKeys lists the inline bodies stored in plaintext.
func (s *Store) plainInlineKeys(ctx context.Context) ([]string, error) {
	rows, err := s.db.WithContext(ctx).Raw("SELECT body_key, substr(data, 1, ?) FROM inline_bodies", blobcrypt.PrefixLen).Rows()
	if err != nil {
		return nil, fmt.Errorf("inline bodies: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var key string
		var head []byte
		if err := rows.Scan(&key, &head); err != nil {
			return nil, fmt.Errorf("inline bodies: %w", err)
		}
		if !blobcrypt.IsSealed(head) {
			keys = append(keys, key)
		}
	}
	return keys, rows.Err()
}

// sealInline seals the referenced plaintext inline bodies among keys with
// the store's key, one write transaction per chunk, counting into st (and
// calling progress, if not nil, after each chunk); it returns how many it
// sealed.
func (s *Store) sealInline(ctx context.Context, keys []string, tables []string, st *SealStatus, progress func(SealStatus)) (sealed int, err error) {
	for chunk := range slices.Chunk(keys, sweepChunk) {
		if err := ctx.Err(); err != nil {
			return sealed, err
		}
		var n, u int
		err := s.write(ctx, func(tx *writeTx) error {
			n, u = 0, 0
			referenced, err := referencedKeys(tx, tables, chunk, 0)
			if err != nil {
				return err
			}
			for _, key := range chunk {
				if !referenced[key] {
					u++
					continue
				}
				done, err := resealInlineTx(tx, key, s.inline.sealer, s.inline.sealer, false)
				if err != nil {
					return err
				}
				if done {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return sealed, fmt.Errorf("encrypt inline bodies: %w", err)
		}
		sealed += n
		st.Sealed += n
		st.Plain -= n
		st.Unreferenced += u
		if progress != nil {
			progress(*st)
		}
	}
	return sealed, nil
}

// referencedKeys returns which of keys a table of tables references; with
// exceptUser, references by that user's messages do not count.
func referencedKeys(tx *writeTx, tables, keys []string, exceptUser int64) (map[string]bool, error) {
	referenced := map[string]bool{}
	for _, t := range tables {
		q := tx.Table(t).Where("blob_key IN ?", keys)
		if t == "messages" && exceptUser != 0 {
			q = q.Where("user_id <> ?", exceptUser)
		}
		var ks []string
		if err := q.Distinct().Pluck("blob_key", &ks).Error; err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		for _, k := range ks {
			referenced[k] = true
		}
	}
	return referenced, nil
}

// resealInlineTx rewrites the inline body under key sealed with sealer. A
// plaintext body is sealed; a sealed one is left alone unless
// fromServerKey, when it is opened with opener (the server key) and sealed
// again. It reports whether it rewrote the body (false: gone, or sealed to
// a key it cannot open).
func resealInlineTx(tx *writeTx, key string, sealer, opener *blobcrypt.Sealer, fromServerKey bool) (bool, error) {
	var data []byte
	err := yubindb.FirstRow(tx.Raw("SELECT data FROM inline_bodies WHERE body_key = ?", key).Rows()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read inline body %s: %w", key, err)
	}
	plain := data
	if blobcrypt.IsSealed(data[:min(len(data), blobcrypt.PrefixLen)]) {
		if !fromServerKey {
			return false, nil
		}
		body, err := opener.Open(bytes.NewReader(data), int64(len(data)), key)
		if errors.Is(err, blobcrypt.ErrLocked) || errors.Is(err, blobcrypt.ErrNoKey) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reseal inline body %s: %w", key, err)
		}
		plain, err = io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
		body.Close()
		if err != nil {
			return false, fmt.Errorf("reseal inline body %s: %w", key, err)
		}
	}
	sealedData, err := sealBytes(sealer, key, plain)
	if err != nil {
		return false, err
	}
	if err := tx.Exec("UPDATE inline_bodies SET data = ? WHERE body_key = ?", sealedData, key).Error; err != nil {
		return false, fmt.Errorf("reseal inline body %s: %w", key, err)
	}
	return true, nil
}

// moveUserInline reseals to sealer the inline bodies among keys that only
// user userID's messages reference.
func (s *Store) moveUserInline(ctx context.Context, tables, keys []string, userID int64, sealer *blobcrypt.Sealer) (int, error) {
	var inline []string
	for _, k := range keys {
		if IsInlineKey(k) {
			inline = append(inline, k)
		}
	}
	moved := 0
	for chunk := range slices.Chunk(inline, sweepChunk) {
		var n int
		err := s.write(ctx, func(tx *writeTx) error {
			n = 0
			shared, err := referencedKeys(tx, tables, chunk, userID)
			if err != nil {
				return err
			}
			for _, key := range chunk {
				if shared[key] {
					continue
				}
				done, err := resealInlineTx(tx, key, sealer, s.inline.sealer, true)
				if err != nil {
					return err
				}
				if done {
					n++
				}
			}
			return nil
		})
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// checkSealedInline counts the inline bodies of the database file at
// dbPath (a restored data folder's) into st and, with a sealer, checks
// that it opens the first few sealed to a server key. It returns the
// number it could open.
func checkSealedInline(ctx context.Context, dbPath string, sealer *blobcrypt.Sealer, st *SealStatus) error {
	if _, err := os.Stat(dbPath); err != nil {
		return nil // no database yet
	}
	db, err := openRaw(dbPath, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inline_bodies'").Scan(&exists); err != nil || exists == 0 {
		return err
	}
	rows, err := db.QueryContext(ctx, "SELECT body_key, data FROM inline_bodies")
	if err != nil {
		return fmt.Errorf("inline bodies of %s: %w", dbPath, err)
	}
	defer rows.Close()
	checked := 0
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			return fmt.Errorf("inline bodies of %s: %w", dbPath, err)
		}
		st.Bodies++
		if !blobcrypt.IsSealed(data[:min(len(data), blobcrypt.PrefixLen)]) {
			st.Plain++
			st.PlainBytes += int64(len(data))
			continue
		}
		st.Sealed++
		if sealer == nil || checked == 3 {
			continue
		}
		b, err := openBodyBytes(ctx, sealer, key, data, false)
		switch {
		case err == nil:
			b.Close()
			checked++
		case errors.Is(err, ErrBodyLocked):
			// Sealed to a user's key.
		case errors.Is(err, ErrBodyCorrupt):
			return fmt.Errorf("body %s: %w", key, ErrWrongKey)
		default:
			return fmt.Errorf("check body %s: %w", key, err)
		}
	}
	return rows.Err()
}

// databaseBeside is the database file of the data folder whose blob
// folder is blobDir.
func databaseBeside(blobDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(blobDir)), DatabaseFile)
}
